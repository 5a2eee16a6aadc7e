/**
 * libcoap as a device (issue 6): `coap-client-gnutls` in PSK mode posts a JSON payload to the
 * platform's coaps:// API and the points are stored; the same client with an identity that is
 * not bound fails the handshake and stores nothing. RPK and PKI modes wait for the DTLS engine
 * to offer them on the server side (docs/platform-coap.md).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCoapApi } from '../../src/platform/coap/api.ts';
import { target } from '../platform/engines.ts';
import { call, newResource, newUser, startPlatform } from '../platform/helpers.ts';
import { launchFor, requireBinary } from '../support/peers.ts';

test('coap-client-gnutls as a PSK device posts JSON over coaps:// and it is stored', async (t) => {
  if (!requireBinary(t, 'coap-client-gnutls')) return;
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startPlatform(t, tg);
  const coap = await startCoapApi(p.service, p.devices, { host: '127.0.0.1', port: null, coapsPort: 0 });
  t.after(() => coap.close());
  const { uid, token } = await newUser(p.base, 'ann');
  const a = await newResource(p.base, uid, token, 'libcoap device');
  // libcoap 4.3 takes the key as a string: bind its bytes.
  const key = 'libcoap-psk-0123456789';
  const bound = await call(p.base, 'POST', `/users/${uid}/resources/${a.rid}/devices`, {
    token,
    body: { mode: 'psk', psk_identity: 'libcoap-1', psk_key: Buffer.from(key).toString('hex') },
  });
  assert.equal(bound.status, 201, bound.text);
  const url = `coaps://127.0.0.1:${coap.coaps?.port}/users/${uid}/resources/${a.rid}/data`;

  const post = async (identity: string, payload: string) => {
    const peer = launchFor(
      t,
      'coap-client-gnutls',
      ['-B', '10', '-u', identity, '-k', key, '-m', 'post', '-t', 'json', '-e', payload, url],
      { timeoutMs: 20_000 },
    );
    const code = await peer.exited;
    return { code, out: peer.stdout(), err: peer.stderr() };
  };

  const ok = await post('libcoap-1', JSON.stringify({ kitchen: { temp: 23.25, hum: 51 } }));
  assert.equal(ok.code, 0, ok.err);
  assert.equal(JSON.parse(ok.out).stored, 2, ok.out);
  const streams = await call(p.base, 'GET', `/users/${uid}/resources/${a.rid}/streams`, { token });
  const temp = streams.json.find((s: { label: string }) => s.label === 'kitchen/temp');
  assert.ok(temp, streams.text);
  const data = await call(p.base, 'GET', `/users/${uid}/resources/${a.rid}/streams/${temp.id}/data`, { token });
  assert.deepEqual(
    data.json.points.map((x: { value: number }) => x.value),
    [23.25],
  );

  // An identity bound to nothing: the handshake fails (unknown_psk_identity), nothing is stored.
  const bad = await post('intruder', JSON.stringify({ kitchen: { temp: 99 } }));
  assert.equal(bad.out.includes('stored'), false, bad.out);
  const again = await call(p.base, 'GET', `/users/${uid}/resources/${a.rid}/streams/${temp.id}/data`, { token });
  assert.equal(again.json.points.length, 1);
});

/**
 * libcoap as a device: `coap-client-gnutls` in PSK, RPK and PKI mode posts a JSON
 * payload to the platform's coaps:// API and the points are stored; an identity that is not bound
 * (or a key that is not trusted) stores nothing.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { ownCertificate, ownRawPublicKey } from '../../src/dtls/credentials/index.ts';
import { startCoapApi } from '../../src/platform/coap/api.ts';
import { target } from '../platform/engines.ts';
import { call, newResource, newUser, startPlatform } from '../platform/helpers.ts';
import { launchFor, requireBinary } from '../support/peers.ts';
import { makeTempPki, type TempPki } from '../support/pki.ts';

async function setup(t: TestContext, pki?: TempPki, present: 'x509' | 'rpk' = 'x509') {
  const tg = await target(t, 'sqlite');
  if (!tg) return undefined;
  const p = await startPlatform(t, tg);
  const coap = await startCoapApi(p.service, p.devices, {
    host: '127.0.0.1',
    port: null,
    coapsPort: 0,
    // libcoap's GnuTLS client takes an X.509 server certificate when one is on offer, and with
    // -M cannot check it: the RPK run gets a server that presents its raw public key only.
    dtls: !pki
      ? undefined
      : present === 'rpk'
        ? { rpk: ownRawPublicKey(pki.rpkServer.keyPem) }
        : {
            certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
            rpk: ownRawPublicKey(pki.rpkServer.keyPem),
          },
  });
  t.after(() => coap.close());
  const { uid, token } = await newUser(p.base, 'ann');
  const a = await newResource(p.base, uid, token, 'libcoap device');
  const bind = async (body: Record<string, unknown>) => {
    const r = await call(p.base, 'POST', `/users/${uid}/resources/${a.rid}/devices`, { token, body });
    assert.equal(r.status, 201, r.text);
  };
  const url = `coaps://127.0.0.1:${coap.coaps?.port}/users/${uid}/resources/${a.rid}/data`;
  /** Runs coap-client-gnutls with `sec` and posts `payload`; returns its exit code and output. */
  const post = async (sec: string[], payload: unknown) => {
    const peer = launchFor(
      t,
      'coap-client-gnutls',
      ['-B', '10', ...sec, '-m', 'post', '-t', 'json', '-e', JSON.stringify(payload), url],
      { timeoutMs: 20_000 },
    );
    const code = await peer.exited;
    return { code, out: peer.stdout(), err: peer.stderr() };
  };
  /** The values stored in the stream labelled `label`. */
  const values = async (label: string) => {
    const s = await call(p.base, 'GET', `/users/${uid}/resources/${a.rid}/streams`, { token });
    const st = s.json.find((x: { label: string }) => x.label === label);
    if (!st) return [];
    const d = await call(p.base, 'GET', `/users/${uid}/resources/${a.rid}/streams/${st.id}/data`, { token });
    return d.json.points.map((x: { value: number }) => x.value);
  };
  return { bind, post, values };
}

test('coap-client-gnutls as a PSK device posts JSON over coaps:// and it is stored', async (t) => {
  if (!requireBinary(t, 'coap-client-gnutls')) return;
  const s = await setup(t);
  if (!s) return;
  // libcoap 4.3 takes the key as a string: bind its bytes.
  const key = 'libcoap-psk-0123456789';
  await s.bind({ mode: 'psk', psk_identity: 'libcoap-1', psk_key: Buffer.from(key).toString('hex') });
  const ok = await s.post(['-u', 'libcoap-1', '-k', key], { kitchen: { temp: 23.25, hum: 51 } });
  assert.equal(ok.code, 0, ok.err);
  assert.equal(JSON.parse(ok.out).stored, 2, ok.out);
  assert.deepEqual(await s.values('kitchen/temp'), [23.25]);
  // An identity bound to nothing: the handshake fails (unknown_psk_identity), nothing is stored.
  const bad = await s.post(['-u', 'intruder', '-k', key], { kitchen: { temp: 99 } });
  assert.equal(bad.out.includes('stored'), false, bad.out);
  assert.deepEqual(await s.values('kitchen/temp'), [23.25]);
});

test('coap-client-gnutls as an RPK device posts JSON over coaps:// and it is stored', async (t) => {
  if (!requireBinary(t, 'coap-client-gnutls')) return;
  const pki = await makeTempPki(t, { intermediate: false });
  const s = await setup(t, pki, 'rpk');
  if (!s) return;
  await s.bind({ mode: 'rpk', rpk: pki.rpkClient.spkiPem });
  // libcoap's -M wants the private and the public key in one PEM file.
  const both = (name: string, k: { keyPem: string; spkiPem: string }) => {
    const f = join(pki.dir, `${name}-both.pem`);
    writeFileSync(f, `${k.keyPem}${k.spkiPem}`, { mode: 0o600 });
    return f;
  };
  const ok = await s.post(['-M', both('client', pki.rpkClient)], { rpk: 7.5 });
  assert.equal(ok.code, 0, ok.err);
  assert.equal(JSON.parse(ok.out).stored, 1, ok.out);
  assert.deepEqual(await s.values('rpk'), [7.5]);
  // A key bound nowhere fails the handshake.
  const bad = await s.post(['-M', both('stranger', pki.rpkStranger)], { rpk: 99 });
  assert.equal(bad.out.includes('stored'), false, bad.out);
  assert.deepEqual(await s.values('rpk'), [7.5]);
});

test('coap-client-gnutls as an X.509 (PKI) device posts JSON over coaps:// and it is stored', async (t) => {
  if (!requireBinary(t, 'coap-client-gnutls')) return;
  // libcoap sends only the first certificate of -c: issue straight from the root.
  const pki = await makeTempPki(t, { intermediate: false });
  const s = await setup(t, pki);
  if (!s) return;
  await s.bind({ mode: 'x509', x509_name: 'CN=device-1', x509_ca: pki.root.certPem });
  const ok = await s.post(['-c', pki.device.cert, '-j', pki.device.key, '-C', pki.root.cert], { pki: 1.25 });
  assert.equal(ok.code, 0, ok.err);
  assert.equal(JSON.parse(ok.out).stored, 1, ok.out);
  assert.deepEqual(await s.values('pki'), [1.25]);
  // A certificate from another CA fails the handshake.
  const bad = await s.post(['-c', pki.untrusted.cert, '-j', pki.untrusted.key, '-C', pki.root.cert, '-n'], { pki: 99 });
  assert.equal(bad.out.includes('stored'), false, bad.out);
  assert.deepEqual(await s.values('pki'), [1.25]);
});

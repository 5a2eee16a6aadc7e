/**
 * A device bound by its raw public key runs EDHOC with the platform through the forward proxy and
 * then pushes over OSCORE: it is authorised exactly as its DTLS RPK identity (its own resource,
 * 4.03 elsewhere), the proxy never handles the readings, an unbound key ends the exchange in an
 * EDHOC error, a platform key the device does not pin is refused by the device, and a new exchange
 * replaces the device's old context. `device run --oscore --edhoc` does the same from the CLI, and
 * runs EDHOC again when the platform no longer knows its context.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoapClient } from '../../src/coap/client.ts';
import { CoapForwardProxy } from '../../src/coap/proxy.ts';
import type { Transport } from '../../src/coap/transport.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import { type AgentEvent, DeviceAgent } from '../../src/device/agent.ts';
import { ownRawPublicKey } from '../../src/dtls/credentials/index.ts';
import { edhocPeerErrorOf } from '../../src/edhoc/coap.ts';
import {
  byValue,
  encodeIdCred,
  idCredFromWire,
  rpkByValue,
  rpkCredential,
  spkiOf,
} from '../../src/edhoc/credentials.ts';
import { EdhocError, EdhocPeerError, ErrCode } from '../../src/edhoc/errors.ts';
import { edhocDeviceContext } from '../../src/edhoc/oscore-binding.ts';
import { OscoreError } from '../../src/oscore/errors.ts';
import { decode } from '../../src/util/cbor.ts';
import { startCoapPlatform } from '../platform/coap/helpers.ts';
import { target } from '../platform/engines.ts';
import { call, newResource, newUser } from '../platform/helpers.ts';
import { jsonLines, runCli, spawnCli } from '../support/cli.ts';
import { makeTempPki } from '../support/pki.ts';

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function recording(t: Transport, log: Buffer[]): Transport {
  return {
    scheme: t.scheme,
    send: (d, p) => {
      log.push(Buffer.from(d));
      return t.send(d, p);
    },
    onDatagram: (cb) =>
      t.onDatagram((d, p) => {
        log.push(Buffer.from(d));
        cb(d, p);
      }),
    close: () => t.close(),
  };
}

test('a CCS credential sent by value (kccs) decodes to the same bytes and resolves by its SPKI fingerprint', async () => {
  const pki = await makeTempPki();
  try {
    const cred = byValue(rpkCredential(pki.rpkClient.spkiPem));
    const wire = encodeIdCred(cred.idCred);
    assert.equal(wire[0], 0xa1);
    assert.equal(wire[1], 14);
    const id = idCredFromWire(decode(wire), wire);
    assert.equal(id.kind, 'kccs');
    assert.deepEqual(id.kind === 'kccs' && id.ccs, cred.cred);
    assert.deepEqual(spkiOf(cred.publicKey), pki.rpkClient.spkiDer);
    const seen: string[] = [];
    const resolve = rpkByValue((_spki, fp) => {
      seen.push(fp);
      return fp === pki.rpkClient.fingerprint;
    });
    assert.deepEqual(resolve(id)?.cred, cred.cred);
    assert.deepEqual(seen, [pki.rpkClient.fingerprint]);
    const stranger = byValue(rpkCredential(pki.rpkStranger.spkiPem)).idCred;
    assert.equal(resolve(stranger), undefined);
    assert.equal(resolve({ kind: 'kid', kid: Buffer.of(1, 2) }), undefined);
  } finally {
    pki.cleanup();
  }
});

test('RPK device → proxy → platform: EDHOC, then OSCORE authorised as its DTLS RPK identity', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const pki = await makeTempPki(t);
  const p = await startCoapPlatform(t, tg, { rpk: ownRawPublicKey(pki.rpkServer.keyPem) });
  const { uid, token } = await newUser(p.base, 'edhoc-owner');
  const { rid } = await newResource(p.base, uid, token, 'keyed room');
  const { rid: other } = await newResource(p.base, uid, token, 'other room');
  const bound = await call(p.base, 'POST', `/users/${uid}/resources/${rid}/devices`, {
    token,
    body: { mode: 'rpk', rpk: pki.rpkClient.spkiPem },
  });
  assert.equal(bound.status, 201, bound.text);

  const handled: Buffer[] = [];
  const down = await UdpTransport.bind({ host: '127.0.0.1' });
  const up = await UdpTransport.bind({ host: '127.0.0.1' });
  const proxy = new CoapForwardProxy({ upstream: recording(up, handled) });
  proxy.listen(recording(down, handled));
  t.after(async () => {
    await proxy.close();
    await down.close();
    await up.close();
  });
  const proxyUri = `coap://127.0.0.1:${down.socket.address().port}`;
  const push = `${p.coapBase}/users/${uid}/resources/${rid}/data`;
  const device = {
    platform: push,
    rpk: ownRawPublicKey(pki.rpkClient.keyPem),
    platformKeys: [pki.rpkServer.spkiPem],
    proxy: proxyUri,
  };

  const oscore = await edhocDeviceContext(device);
  const forwardedByEdhoc = proxy.stats.forwarded;
  assert.ok(forwardedByEdhoc >= 2, 'message_1 and message_3 went through the proxy');
  const agent = new DeviceAgent({ push, oscore, proxy: proxyUri, sensors: ['temperature'], intervalMs: 150 });
  const events: AgentEvent[] = [];
  agent.on('event', (e: AgentEvent) => events.push(e));
  await agent.start();
  t.after(() => agent.stop());
  await until('3 samples sent', () => events.filter((e) => e.event === 'sent').length >= 3);
  await agent.stop();
  assert.deepEqual(
    events.filter((e) => e.event === 'error'),
    [],
  );
  const streams = await call(p.base, 'GET', `/users/${uid}/resources/${rid}/streams`, { token });
  assert.equal(streams.status, 200, streams.text);
  assert.deepEqual(
    (streams.json as Array<{ label: string }>).map((s) => s.label),
    ['temperature'],
  );
  assert.ok(proxy.stats.forwarded >= forwardedByEdhoc + 3);
  const all = Buffer.concat(handled);
  for (const needle of ['temperature', `resources/${rid}`, '/data']) {
    assert.equal(all.indexOf(Buffer.from(needle)), -1, `the proxy handled "${needle}"`);
  }

  // Bound to `rid` only, as the same key is over coaps://.
  const client = new CoapClient({ oscore });
  t.after(() => client.close());
  const body = { contentFormat: 50 } as const;
  const forbidden = await client.post(`${p.coapBase}/users/${uid}/resources/${other}/data`, '{"temperature":1}', body);
  assert.equal(forbidden.status, '4.03', forbidden.payload.toString());

  // A key bound to no resource: EDHOC ends in an error message (unknown credential), no context.
  await assert.rejects(
    edhocDeviceContext({ ...device, rpk: ownRawPublicKey(pki.rpkStranger.keyPem) }),
    (e: unknown) => e instanceof EdhocPeerError && e.errCode === ErrCode.unknownCredential,
  );
  // A platform key the device does not pin: the device refuses message_2.
  await assert.rejects(
    edhocDeviceContext({ ...device, platformKeys: [pki.rpkStranger.spkiPem] }),
    (e: unknown) => e instanceof EdhocError,
  );

  // A new exchange replaces the device's context: the old one is no longer accepted.
  const renewed = await edhocDeviceContext(device);
  const fresh = await client.post(push, '{"temperature":2}', { ...body, oscore: renewed });
  assert.equal(fresh.ok, true, `${fresh.status} ${fresh.payload.toString()}`);
  const stale = await client.post(push, '{"temperature":3}', body);
  assert.equal(stale.status, '4.01', stale.payload.toString());
});

test('device run --oscore --edhoc pushes through the proxy; without --rpk-key it is a usage error', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const pki = await makeTempPki(t);
  const p = await startCoapPlatform(t, tg, { rpk: ownRawPublicKey(pki.rpkServer.keyPem) });
  const { uid, token } = await newUser(p.base, 'edhoc-cli-owner');
  const { rid } = await newResource(p.base, uid, token, 'cli room');
  const bound = await call(p.base, 'POST', `/users/${uid}/resources/${rid}/devices`, {
    token,
    body: { mode: 'rpk', rpk: pki.rpkClient.spkiPem },
  });
  assert.equal(bound.status, 201, bound.text);
  const down = await UdpTransport.bind({ host: '127.0.0.1' });
  const up = await UdpTransport.bind({ host: '127.0.0.1' });
  const proxy = new CoapForwardProxy({ upstream: up });
  proxy.listen(down);
  t.after(async () => {
    await proxy.close();
    await down.close();
    await up.close();
  });
  const push = `${p.coapBase}/users/${uid}/resources/${rid}/data`;
  const args = ['device', 'run', '--push', push, '--oscore', '--edhoc', '--sensors', 'humidity'];
  const r = await runCli([
    ...args,
    '--rpk-key',
    pki.rpkClient.key,
    '--trust-rpk',
    pki.rpkServer.spki,
    '--proxy',
    `coap://127.0.0.1:${down.socket.address().port}`,
    '--interval',
    '0.2',
    '--duration',
    '1.5',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = jsonLines(r.stdout);
  assert.equal(lines[0]?.event, 'edhoc');
  assert.ok(lines.filter((l) => l.event === 'sent').length >= 2, r.stdout);
  const streams = await call(p.base, 'GET', `/users/${uid}/resources/${rid}/streams`, { token });
  assert.deepEqual(
    (streams.json as Array<{ label: string }>).map((s) => s.label),
    ['humidity'],
  );
  assert.ok(proxy.stats.forwarded >= 4);

  const usage = await runCli([...args, '--trust-rpk', pki.rpkServer.spki]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--rpk-key/);
  const refused = await runCli([...args, '--rpk-key', pki.rpkStranger.key, '--trust-rpk', pki.rpkServer.spki]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /EDHOC refused/);
});

test('device run --oscore --edhoc --edhoc-combined runs EDHOC again when the platform has lost its context', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const pki = await makeTempPki(t);
  const p = await startCoapPlatform(t, tg, { rpk: ownRawPublicKey(pki.rpkServer.keyPem) });
  const { uid, token } = await newUser(p.base, 'edhoc-rekey-owner');
  const { rid } = await newResource(p.base, uid, token, 'rekey room');
  const bound = await call(p.base, 'POST', `/users/${uid}/resources/${rid}/devices`, {
    token,
    body: { mode: 'rpk', rpk: pki.rpkClient.spkiPem },
  });
  assert.equal(bound.status, 201, bound.text);
  const push = `${p.coapBase}/users/${uid}/resources/${rid}/data`;
  const dev = spawnCli(t, [
    'device',
    'run',
    '--push',
    push,
    '--oscore',
    '--edhoc',
    '--edhoc-combined',
    '--sensors',
    'power',
    '--rpk-key',
    pki.rpkClient.key,
    '--trust-rpk',
    pki.rpkServer.spki,
    '--interval',
    '0.2',
  ]);
  await dev.waitFor('"event":"sent"', 15_000);
  // The same key runs EDHOC from elsewhere: the platform replaces the device's context, as a
  // restart would lose it; the running device meets 4.01 and keys a new one.
  await edhocDeviceContext({
    platform: push,
    rpk: ownRawPublicKey(pki.rpkClient.keyPem),
    platformKeys: [pki.rpkServer.spkiPem],
  });
  await until('a push after a second EDHOC run', () => {
    const lines = jsonLines(dev.stdout());
    const second = lines.map((l) => l.event).lastIndexOf('edhoc');
    return second > 0 && lines.slice(second).some((l) => l.event === 'sent');
  });
  const events = jsonLines(dev.stdout()).map((l) => l.event);
  assert.equal(events.filter((e) => e === 'edhoc').length, 2, events.join(' '));
  assert.ok(events.includes('dropped'), 'the sample that met the 4.01 was dropped');
});

test('the EDHOC + OSCORE request: message_3 rides in the first OSCORE request through the proxy', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const pki = await makeTempPki(t);
  const p = await startCoapPlatform(t, tg, { rpk: ownRawPublicKey(pki.rpkServer.keyPem) });
  const { uid, token } = await newUser(p.base, 'edhoc-combined-owner');
  const { rid } = await newResource(p.base, uid, token, 'combined room');
  const bound = await call(p.base, 'POST', `/users/${uid}/resources/${rid}/devices`, {
    token,
    body: { mode: 'rpk', rpk: pki.rpkClient.spkiPem },
  });
  assert.equal(bound.status, 201, bound.text);
  const handled: Buffer[] = [];
  const down = await UdpTransport.bind({ host: '127.0.0.1' });
  const up = await UdpTransport.bind({ host: '127.0.0.1' });
  const proxy = new CoapForwardProxy({ upstream: recording(up, handled) });
  proxy.listen(recording(down, handled));
  t.after(async () => {
    await proxy.close();
    await down.close();
    await up.close();
  });
  const proxyUri = `coap://127.0.0.1:${down.socket.address().port}`;
  const push = `${p.coapBase}/users/${uid}/resources/${rid}/data`;
  const device = {
    platform: push,
    rpk: ownRawPublicKey(pki.rpkClient.keyPem),
    platformKeys: [pki.rpkServer.spkiPem],
    proxy: proxyUri,
    combined: true,
  };
  const client = new CoapClient();
  t.after(() => client.close());
  const body = { contentFormat: 50, proxy: proxyUri } as const;

  const ctx = await edhocDeviceContext(device);
  assert.ok(ctx.edhocMessage3, 'message_3 waits for the first request');
  assert.equal(proxy.stats.forwarded, 1, 'only message_1 went on its own');
  const first = await client.post(push, '{"temperature":21.5}', { ...body, oscore: ctx });
  assert.equal(first.ok, true, `${first.status} ${first.payload.toString()}`);
  assert.equal(ctx.edhocMessage3, undefined);
  assert.equal(proxy.stats.forwarded, 2, 'EDHOC and the first push took two round trips in all');
  const second = await client.post(push, '{"temperature":21.6}', { ...body, oscore: ctx });
  assert.equal(second.ok, true, `${second.status} ${second.payload.toString()}`);
  const streams = await call(p.base, 'GET', `/users/${uid}/resources/${rid}/streams`, { token });
  assert.deepEqual(
    (streams.json as Array<{ label: string }>).map((s) => s.label),
    ['temperature'],
  );
  assert.equal(Buffer.concat(handled).indexOf(Buffer.from('temperature')), -1, 'the proxy handled the plaintext');

  // A message_3 that does not verify: RFC 9668 §3.3.1's unprotected EDHOC error message (4.00,
  // Content-Format 64), surfaced as OscoreError kind 'edhoc'; no context is made.
  const bad = await edhocDeviceContext(device);
  const m3 = Buffer.from(bad.edhocMessage3 as Buffer);
  m3[m3.length - 1] ^= 1;
  bad.edhocMessage3 = m3;
  const refusedBy = (errCode: number) => (e: unknown) => {
    assert.ok(e instanceof OscoreError && e.kind === 'edhoc', String(e));
    assert.equal(e.response?.code, 0x80, 'EDHOC error message in a 4.00');
    assert.equal(e.response?.contentFormat, 64);
    const peer = edhocPeerErrorOf(e);
    assert.equal(peer?.errCode, errCode, peer?.message);
    return true;
  };
  await assert.rejects(
    client.post(push, '{"temperature":1}', { ...body, oscore: bad }),
    refusedBy(ErrCode.unspecified),
  );
  const after = await client.post(push, '{"temperature":1}', { ...body, oscore: bad });
  assert.equal(after.status, '4.01', after.payload.toString());
  // An unbound key in a combined request: EDHOC's accept refuses it (unknown credential), no context either.
  const stranger = await edhocDeviceContext({ ...device, rpk: ownRawPublicKey(pki.rpkStranger.keyPem) });
  await assert.rejects(
    client.post(push, '{"temperature":1}', { ...body, oscore: stranger }),
    refusedBy(ErrCode.unknownCredential),
  );
});

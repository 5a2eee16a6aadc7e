/**
 * The poller against real device servers: a coaps:// device (our CoAP server over our
 * DTLS server) polled 20 times shows one full handshake; a URL change closes that session with
 * close_notify and makes one new handshake; deleting the resource closes it too; https:// and
 * coap:// sources are polled into streams on schedule; per-resource retransmission settings hold.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:https';
import { type TestContext, test } from 'node:test';
import { CoapServer, ContentFormat, DtlsServerTransport, UdpTransport } from '../../../src/coap/index.ts';
import type { DtlsConnection, DtlsMeter } from '../../../src/dtls/index.ts';
import type { SecureSenseConfig } from '../../../src/platform/config.ts';
import { Poller, type PollerOptions } from '../../../src/platform/poller/index.ts';
import { makeTempPki } from '../../support/pki.ts';
import { target } from '../engines.ts';
import { call, newUser, startPlatform } from '../helpers.ts';

/** The devices here are lab devices on loopback: allowed explicitly (the default refuses loopback). */
const lab = (c: SecureSenseConfig) => {
  c.poller.allow = ['127.0.0.1'];
};

const PSK = { identity: 'platform', key: Buffer.from('00112233445566778899aabbccddeeff', 'hex') };

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A device that serves its sensors over coaps:// and counts what its DTLS server saw. */
async function coapsDevice(t: import('node:test').TestContext) {
  const seen = { connections: [] as DtlsConnection[], closed: 0, alertsIn: 0, requests: 0 };
  const meter: DtlsMeter = {
    handshakeMessage() {},
    // After the handshake the only alert a well-behaved client sends is close_notify (RFC 5246 §7.2.1).
    record(dir, contentType, epoch) {
      if (dir === 'in' && contentType === 'alert' && epoch > 0) seen.alertsIn++;
    },
    crypto() {},
  };
  const transport = await DtlsServerTransport.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === PSK.identity ? PSK.key : undefined),
    meter,
  });
  transport.server.on('connection', (c: DtlsConnection) => {
    seen.connections.push(c);
    c.on('close', () => seen.closed++);
  });
  const server = new CoapServer();
  let n = 0;
  for (const path of ['/sensors', '/sensors2']) {
    server.get(path, () => {
      seen.requests++;
      n++;
      return {
        payload: JSON.stringify({ temp: 20 + n / 100, seq: n }),
        contentFormat: ContentFormat['application/json'],
      };
    });
  }
  server.listen(transport);
  t.after(() => server.close());
  return { seen, port: transport.address().port };
}

/**
 * The SQLite platform with a poller of the given options (started when `start`), a coaps:// device,
 * and user ann's resources path; undefined when the engine is not available here.
 */
async function coapsLab(t: TestContext, options: PollerOptions, start: boolean) {
  const tg = await target(t, 'sqlite');
  if (!tg) return undefined;
  const p = await startPlatform(t, tg, lab);
  const poller = new Poller(p.service, options);
  if (start) await poller.start();
  t.after(() => poller.stop());
  const dev = await coapsDevice(t);
  const { uid, token } = await newUser(p.base, 'ann');
  return { p, poller, dev, uid, token, R: `/users/${uid}/resources` };
}

test('coaps:// polls reuse one DTLS session; a URL change sends close_notify and handshakes once more; deletion closes', async (t) => {
  const setup = await coapsLab(t, { startJitterMs: 0 }, true);
  if (!setup) return;
  const { p, poller, dev, token, R } = setup;
  const r = await call(p.base, 'POST', R, {
    token,
    body: { label: 'polled', polling_url: `coaps://127.0.0.1:${dev.port}/sensors`, polling_period: 3600 },
  });
  assert.equal(r.status, 201, r.text);
  const rid = r.json.id;
  // The platform authenticates to the device with the resource's PSK credential.
  const bind = await call(p.base, 'POST', `${R}/${rid}/devices`, {
    token,
    body: { mode: 'psk', psk_identity: PSK.identity, psk_key: PSK.key.toString('hex') },
  });
  assert.equal(bind.status, 201);

  const outcomes = [];
  for (let i = 0; i < 20; i++) outcomes.push(await poller.pollNow(rid));
  assert.ok(
    outcomes.every((o) => o.ok && o.status === '2.05'),
    JSON.stringify(outcomes.find((o) => !o.ok)),
  );
  assert.equal(dev.seen.connections.length, 1, 'one handshake for 20 polls');
  assert.equal(dev.seen.connections[0].resumed, false, 'a full handshake');
  assert.ok(dev.seen.requests >= 20);
  assert.equal(outcomes.filter((o) => o.newSession).length <= 1, true);
  const log = await call(p.base, 'GET', `${R}/${rid}/log?limit=1000`, { token });
  assert.ok(log.json.length >= 20);
  assert.equal(log.json.filter((e: { new_session: boolean }) => e.new_session).length, 1, log.text);
  const streams = await call(p.base, 'GET', `${R}/${rid}/streams`, { token });
  const seq = streams.json.find((s: { label: string }) => s.label.includes('seq'));
  const data = await call(p.base, 'GET', `${R}/${rid}/streams/${seq.id}/data`, { token });
  assert.ok(data.json.points.length >= 1, 'polled payloads went through the parsers into streams');

  // Fig. 5: the URL changes → the old session ends with close_notify, the next poll handshakes.
  const put = await call(p.base, 'PUT', `${R}/${rid}`, {
    token,
    body: { polling_url: `coaps://127.0.0.1:${dev.port}/sensors2` },
  });
  assert.equal(put.status, 200);
  await until(() => dev.seen.closed === 1, 'the device to see the session closed');
  assert.equal(dev.seen.alertsIn, 1, 'closed by an encrypted alert: close_notify');
  // The change also schedules a poll at once (jitter 0): it may be the one that handshakes.
  const next = await poller.pollNow(rid);
  assert.ok(next.ok, next.message ?? '');
  await poller.pollNow(rid);
  assert.equal(dev.seen.connections.length, 2, 'exactly one new handshake');
  // The client may resume the closed session (RFC 5246 §7.4.1.2): still one handshake, abbreviated.
  t.diagnostic(`handshake after the URL change: ${dev.seen.connections[1].resumed ? 'abbreviated' : 'full'}`);
  const log2 = await call(p.base, 'GET', `${R}/${rid}/log?limit=1000`, { token });
  const since = log2.json.filter((e: { url: string }) => e.url.endsWith('/sensors2'));
  assert.ok(since.length >= 2);
  assert.equal(since.filter((e: { new_session: boolean }) => e.new_session).length, 1, log2.text);

  // Deleting the resource closes its session too.
  assert.equal((await call(p.base, 'DELETE', `${R}/${rid}`, { token })).status, 204);
  await until(() => dev.seen.closed === 2, 'the second session to close');
  assert.equal(dev.seen.alertsIn, 2);
  assert.equal(poller.coap.size, 0);
});

test('a coaps:// session idle past idleRenewMs is renewed before the next poll, by resumption', async (t) => {
  const setup = await coapsLab(t, { idleRenewMs: 50 }, false);
  if (!setup) return;
  const { p, poller, dev, token, R } = setup;
  const r = await call(p.base, 'POST', R, {
    token,
    body: { label: 'polled', polling_url: `coaps://127.0.0.1:${dev.port}/sensors`, polling_period: 3600 },
  });
  await call(p.base, 'POST', `${R}/${r.json.id}/devices`, {
    token,
    body: { mode: 'psk', psk_identity: PSK.identity, psk_key: PSK.key.toString('hex') },
  });
  for (let i = 0; i < 3; i++) {
    const o = await poller.pollNow(r.json.id);
    assert.ok(o.ok, o.message ?? '');
    assert.equal(o.newSession, true);
    await new Promise((res) => setTimeout(res, 120));
  }
  assert.deepEqual(
    dev.seen.connections.map((c) => c.resumed),
    [false, true, true],
  );
  await until(() => dev.seen.alertsIn >= 2, 'close_notify for the renewed sessions');
});

test('coaps:// without a PSK credential, or with a wrong one, is logged as a failed poll', async (t) => {
  const setup = await coapsLab(t, { startJitterMs: 0 }, true);
  if (!setup) return;
  const { p, poller, dev, token, R } = setup;
  const r = await call(p.base, 'POST', R, {
    token,
    body: {
      label: 'polled',
      polling_url: `coaps://127.0.0.1:${dev.port}/sensors`,
      polling_period: 3600,
      polling_timeout_ms: 200,
      polling_retransmits: 1,
    },
  });
  const rid = r.json.id;
  const none = await poller.pollNow(rid);
  assert.equal(none.ok, false);
  assert.equal(none.status, 'credentials');
  await call(p.base, 'POST', `${R}/${rid}/devices`, {
    token,
    body: { mode: 'psk', psk_identity: 'someone-else', psk_key: PSK.key.toString('hex') },
  });
  const wrong = await poller.pollNow(rid);
  assert.equal(wrong.ok, false);
  assert.equal(wrong.status, 'handshake', wrong.message ?? '');
  assert.equal(dev.seen.connections.length, 0);
});

test('https:// and coap:// sources are polled into streams on their period', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startPlatform(t, tg, lab);
  const pki = await makeTempPki(t);

  // https:// source: a Node HTTPS server with a certificate from the test PKI.
  let httpsHits = 0;
  const https = createServer({ cert: pki.server.chainPem, key: pki.server.keyPem }, (_req, res) => {
    httpsHits++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ room: { co2: 400 + httpsHits } }));
  });
  await new Promise<void>((r) => https.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => https.close(() => r())));
  const httpsPort = (https.address() as { port: number }).port;

  // coap:// source: our CoAP server on plain UDP.
  const device = new CoapServer();
  let coapHits = 0;
  device.get('/t', () => {
    coapHits++;
    return { payload: JSON.stringify({ t: coapHits }), contentFormat: ContentFormat['application/json'] };
  });
  const udp = await UdpTransport.bind({ host: '127.0.0.1', port: 0 });
  device.listen(udp);
  t.after(() => device.close());

  const poller = new Poller(p.service, { startJitterMs: 0, httpsCa: pki.root.certPem });
  await poller.start();
  t.after(() => poller.stop());
  const { uid, token } = await newUser(p.base, 'ann');
  const R = `/users/${uid}/resources`;
  const h = await call(p.base, 'POST', R, {
    token,
    body: { label: 'https', polling_url: `https://localhost:${httpsPort}/x`, polling_period: 1 },
  });
  const c = await call(p.base, 'POST', R, {
    token,
    body: { label: 'coap', polling_url: `coap://127.0.0.1:${udp.address().port}/t`, polling_period: 1 },
  });
  // The scheduler polls both at once (created) and then every second.
  const points = async (rid: number) => {
    const s = await call(p.base, 'GET', `${R}/${rid}/streams`, { token });
    if (s.json.length === 0) return 0;
    const d = await call(p.base, 'GET', `${R}/${rid}/streams/${s.json[0].id}/data`, { token });
    return d.json.points.length as number;
  };
  await until(
    async () => (await points(h.json.id)) >= 2 && (await points(c.json.id)) >= 2,
    'two polls of each',
    15_000,
  );
  const hs = await call(p.base, 'GET', `${R}/${h.json.id}/streams`, { token });
  assert.equal(hs.json[0].label, 'room/co2');
  const log = await call(p.base, 'GET', `${R}/${h.json.id}/log`, { token });
  assert.ok(
    log.json.every((e: { ok: boolean; status: string }) => e.ok && e.status === '200'),
    log.text,
  );

  // Taking the polling URL away stops the polls.
  await call(p.base, 'PUT', `${R}/${c.json.id}`, { token, body: { polling_url: null, polling_period: null } });
  const hits = coapHits;
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(coapHits <= hits + 1, `${coapHits} vs ${hits}`);
  assert.equal(poller.count, 1);
});

test('per-resource retransmission settings: MAX_RETRANSMIT 1 sends the request twice, then the poll times out', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startPlatform(t, tg, lab);
  // A device that receives and never answers.
  const silent = createSocket('udp4');
  let got = 0;
  silent.on('message', () => got++);
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  t.after(() => silent.close());
  const poller = new Poller(p.service, { startJitterMs: 0 });
  t.after(() => poller.stop());
  const { uid, token } = await newUser(p.base, 'ann');
  const r = await call(p.base, 'POST', `/users/${uid}/resources`, {
    token,
    body: {
      label: 'silent',
      polling_url: `coap://127.0.0.1:${silent.address().port}/x`,
      polling_period: 3600,
      polling_retransmits: 1,
      polling_timeout_ms: 100,
    },
  });
  const o = await poller.pollNow(r.json.id);
  assert.equal(o.ok, false);
  assert.equal(o.status, 'timeout', o.message ?? '');
  assert.equal(got, 2, 'the request and one retransmission (RFC 7252 §4.2)');
});

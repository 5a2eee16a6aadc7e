/**
 * Push mode against a real CoAP server of ours (src/coap), over UDP and over DTLS with a PSK: the
 * payloads that crossed, resumption from the state file after a restart, and delivery of every
 * queued reading after the server was away for a while.
 */
import assert from 'node:assert/strict';
import { lookup } from 'node:dns/promises';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { ContentFormat, OptionNumber } from '../../src/coap/options.ts';
import { CoapServer } from '../../src/coap/server.ts';
import { DtlsServerTransport } from '../../src/coap/transport-dtls.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import { type AgentEvent, DeviceAgent } from '../../src/device/agent.ts';
import { MemorySessionCache } from '../../src/dtls/index.ts';

const PATH = '/users/1/resources/7/data';
const PSK = { identity: 'device-42', key: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex') };

interface Received {
  body: string;
  contentFormat?: number;
  identity?: string;
}

/** A CoAP server that records the POSTs to PATH. */
function ingestServer(): { server: CoapServer; received: Received[] } {
  const received: Received[] = [];
  const server = new CoapServer();
  server.post(PATH, (req) => {
    received.push({
      body: req.payload.toString('utf8'),
      contentFormat: req.contentFormat,
      identity: req.peer.identity?.mode === 'psk' ? req.peer.identity.identity : undefined,
    });
    return { code: 0x44 }; // 2.04 Changed
  });
  return { server, received };
}

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function collect(agent: DeviceAgent): AgentEvent[] {
  const events: AgentEvent[] = [];
  agent.on('event', (e: AgentEvent) => events.push(e));
  return events;
}

function readings(events: AgentEvent[]) {
  return events.filter((e): e is Extract<AgentEvent, { event: 'reading' }> => e.event === 'reading');
}

/** The ingest server over UDP on loopback, closed after the test; `uri` is its push URI. */
async function udpIngest(t: TestContext): Promise<{ uri: string; received: Received[] }> {
  const { server, received } = ingestServer();
  const udp = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(udp);
  t.after(() => server.close());
  return { uri: `coap://127.0.0.1:${udp.address().port}${PATH}`, received };
}

/** Each handshake event as [mode, resumed, offered]. */
function handshakes(events: AgentEvent[]): Array<[string, boolean, boolean]> {
  return events.flatMap((e) =>
    e.event === 'handshake' ? [[e.mode, e.resumed, e.offered] as [string, boolean, boolean]] : [],
  );
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'securesense-agent-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Fast CoAP and DTLS timers, so that an unreachable server is noticed within a second. */
const FAST = {
  coap: { ackTimeout: 150, ackRandomFactor: 1, maxRetransmit: 1 },
  responseTimeoutMs: 1000,
  backoff: { baseMs: 100, maxMs: 400 },
};
const FAST_DTLS = { retransmitInitialMs: 100, maxRetransmits: 2 };

test('push over coap:// (UDP): every reading arrives as the JSON the platform auto-parses', async (t) => {
  const { uri, received } = await udpIngest(t);
  const agent = new DeviceAgent({
    push: uri,
    sensors: ['temperature', 'humidity'],
    intervalMs: 100,
  });
  const events = collect(agent);
  await agent.start();
  t.after(() => agent.stop());
  await until('4 POSTs', () => received.length >= 4);
  await agent.stop();
  const sent = events.filter((e) => e.event === 'sent');
  assert.ok(sent.length >= 4);
  const byTime = new Map(readings(events).map((r) => [Date.parse(r.time), r.values]));
  for (const r of received) {
    assert.equal(r.contentFormat, ContentFormat['application/json']);
    const doc = JSON.parse(r.body) as Record<string, { value: number; time: number; unit?: string }>;
    assert.deepEqual(Object.keys(doc).sort(), ['humidity', 'temperature']);
    assert.equal(doc.temperature.unit, 'Cel');
    assert.equal(doc.humidity.unit, '%RH');
    // The values are the ones the agent reported reading at that time.
    const values = byTime.get(doc.temperature.time);
    assert.ok(values, `a reading at ${doc.temperature.time}`);
    assert.equal(doc.temperature.value, values.temperature);
    assert.equal(doc.humidity.value, values.humidity);
    assert.ok(doc.temperature.value > 10 && doc.temperature.value < 35);
  }
});

test('push over coap:// as SenML with a base name', async (t) => {
  const { uri, received } = await udpIngest(t);
  const agent = new DeviceAgent({
    push: uri,
    sensors: ['power'],
    intervalMs: 100,
    format: 'senml',
    baseName: 'urn:dev:ops:securesense-42:',
    confirmable: false,
  });
  await agent.start();
  t.after(() => agent.stop());
  await until('2 POSTs', () => received.length >= 2);
  await agent.stop();
  const pack = JSON.parse(received[0].body) as Array<Record<string, unknown>>;
  assert.equal(received[0].contentFormat, ContentFormat['application/senml+json']);
  assert.equal(pack.length, 1);
  assert.equal(pack[0].bn, 'urn:dev:ops:securesense-42:');
  assert.equal(pack[0].n, 'power');
  assert.equal(pack[0].u, 'W');
  assert.equal(typeof pack[0].v, 'number');
  assert.ok(Math.abs((pack[0].bt as number) * 1000 - Date.now()) < 60_000);
});

test('push to coaps://NAME: the request goes as coaps:// with Uri-Host NAME over the DTLS session to its address', async (t) => {
  const { address } = await lookup('localhost');
  const seen: Array<{ scheme: string; host?: string; identity?: string }> = [];
  const server = new CoapServer();
  server.post(PATH, (req) => {
    const host = req.options.find((o) => o.number === OptionNumber.UriHost)?.value.toString('utf8');
    seen.push({
      scheme: req.scheme,
      host,
      identity: req.peer.identity?.mode === 'psk' ? req.peer.identity.identity : undefined,
    });
    return { code: 0x44 };
  });
  const dtls = await DtlsServerTransport.listen({ host: address, port: 0, psk: () => PSK.key });
  server.listen(dtls);
  t.after(() => server.close());
  const agent = new DeviceAgent({
    push: `coaps://localhost:${dtls.address().port}${PATH}`,
    security: { psk: PSK },
    sensors: ['power'],
    intervalMs: 100,
  });
  const events = collect(agent);
  await agent.start();
  t.after(() => agent.stop());
  await until('2 POSTs', () => seen.length >= 2);
  await agent.stop();
  for (const r of seen) assert.deepEqual(r, { scheme: 'coaps', host: 'localhost', identity: PSK.identity });
  const server1 = events.find((e) => e.event === 'handshake');
  const where = address.includes(':') ? `[${address}]` : address;
  assert.equal(server1?.event === 'handshake' && server1.server, `${where}:${dtls.address().port}`);
  assert.equal(agent.stats().handshakes, 1);
});

test('push over coaps:// (PSK); a restarted agent resumes its session from the state file', async (t) => {
  const { server, received } = ingestServer();
  const dtls = await DtlsServerTransport.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === PSK.identity ? PSK.key : undefined),
  });
  const conns: Array<{ resumed: boolean }> = [];
  dtls.server.on('connection', (c: { resumed: boolean }) => conns.push({ resumed: c.resumed }));
  server.listen(dtls);
  t.after(() => server.close());
  const stateFile = join(tempDir(t), 'agent.state');
  const opts = {
    push: `coaps://127.0.0.1:${dtls.address().port}${PATH}`,
    security: { psk: PSK },
    sensors: ['temperature'] as const,
    intervalMs: 100,
    stateFile,
  };

  const first = new DeviceAgent({ ...opts, sensors: [...opts.sensors] });
  const ev1 = collect(first);
  await first.start();
  await until('2 POSTs', () => received.length >= 2);
  await first.stop();
  assert.equal(conns.length, 1);
  assert.equal(conns[0].resumed, false);
  assert.deepEqual(handshakes(ev1), [['psk', false, false]]);
  // The state file holds a master secret: owner-only.
  assert.equal(statSync(stateFile).mode & 0o777, 0o600);
  assert.ok(received.every((r) => r.identity === PSK.identity));

  const before = received.length;
  const second = new DeviceAgent({ ...opts, sensors: [...opts.sensors] });
  const ev2 = collect(second);
  await second.start();
  t.after(() => second.stop());
  await until('2 more POSTs', () => received.length >= before + 2);
  await second.stop();
  // The server saw an abbreviated handshake on the second connection.
  assert.equal(conns.length, 2);
  assert.equal(conns[1].resumed, true);
  assert.deepEqual(handshakes(ev2), [['psk', true, true]]);
  assert.equal(second.stats().resumed, 1);
});

test('a state file the server no longer knows falls back to a full handshake', async (t) => {
  const stateFile = join(tempDir(t), 'agent.state');
  const mk = async () => {
    const { server, received } = ingestServer();
    const dtls = await DtlsServerTransport.listen({ host: '127.0.0.1', port: 0, psk: () => PSK.key });
    server.listen(dtls);
    t.after(() => server.close());
    return { server, received, port: dtls.address().port };
  };
  // The same port is not guaranteed; the state file records host:port, so bind a fresh server
  // and point a copy of the state at it by running the first agent against it too.
  const a = await mk();
  const opts = { security: { psk: PSK }, sensors: ['humidity' as const], intervalMs: 100, stateFile };
  const first = new DeviceAgent({ ...opts, push: `coaps://127.0.0.1:${a.port}${PATH}` });
  await first.start();
  await until('a POST', () => a.received.length >= 1);
  await first.stop();
  // The server restarts on the same port with an empty session cache.
  await a.server.close();
  const { server, received } = ingestServer();
  const dtls = await DtlsServerTransport.listen({ host: '127.0.0.1', port: a.port, psk: () => PSK.key });
  server.listen(dtls);
  t.after(() => server.close());
  const second = new DeviceAgent({ ...opts, push: `coaps://127.0.0.1:${a.port}${PATH}` });
  const ev = collect(second);
  await second.start();
  t.after(() => second.stop());
  await until('a POST', () => received.length >= 1);
  await second.stop();
  const hs = ev.filter((e) => e.event === 'handshake');
  assert.deepEqual(
    hs.map((e) => e.event === 'handshake' && [e.resumed, e.offered]),
    [[false, true]],
  );
});

test('the server away for a while: the agent backs off, then delivers every queued reading', async (t) => {
  const cache = new MemorySessionCache();
  const start = async (port: number) => {
    const { server, received } = ingestServer();
    const dtls = await DtlsServerTransport.listen({
      host: '127.0.0.1',
      port,
      psk: (id) => (id === PSK.identity ? PSK.key : undefined),
      sessionCache: cache,
    });
    const conns: Array<{ resumed: boolean }> = [];
    dtls.server.on('connection', (c: { resumed: boolean }) => conns.push({ resumed: c.resumed }));
    server.listen(dtls);
    return { server, received, conns, port: dtls.address().port };
  };
  const a = await start(0);
  t.after(() => a.server.close());
  const agent = new DeviceAgent({
    push: `coaps://127.0.0.1:${a.port}${PATH}`,
    security: { psk: PSK, ...FAST_DTLS },
    sensors: ['temperature', 'power'],
    intervalMs: 100,
    ...FAST,
  });
  const events = collect(agent);
  await agent.start();
  t.after(() => agent.stop());
  await until('3 POSTs', () => a.received.length >= 3);
  await a.server.close();
  // While the server is away: readings keep coming, pile up and the agent backs off.
  await until('3 back-offs', () => events.filter((e) => e.event === 'backoff').length >= 3);
  await until('10 queued', () => agent.stats().queued >= 10);
  const b = await start(a.port);
  t.after(() => b.server.close());
  await until('the queue drained', () => agent.stats().queued === 0 && b.received.length >= 10, 20_000);
  await agent.stop();

  // None lost: every reading the agent took reached one of the two servers.
  const times = new Set(
    [...a.received, ...b.received].map(
      (r) => (JSON.parse(r.body) as { temperature: { time: number } }).temperature.time,
    ),
  );
  const taken = readings(events);
  const missing = taken.filter((r) => !times.has(Date.parse(r.time)));
  assert.deepEqual(missing, [], `${missing.length} of ${taken.length} readings lost`);
  assert.equal(agent.stats().dropped, 0);
  // Queued readings went out oldest first.
  const order = b.received.map((r) => (JSON.parse(r.body) as { temperature: { time: number } }).temperature.time);
  assert.deepEqual(
    order,
    [...order].sort((x, y) => x - y),
  );
  // The reconnection resumed the session the restarted server still had in its (shared) cache.
  assert.equal(b.conns[0]?.resumed, true);
  const hs = events.filter((e) => e.event === 'handshake');
  assert.ok(hs.length >= 2);
  assert.ok(hs.at(-1)?.event === 'handshake' && hs.at(-1)?.resumed === true);
});

test('a bounded queue drops the oldest samples when the cloud stays away', async (t) => {
  // Nothing listens on this port: every send times out.
  const udp = await UdpTransport.bind({ host: '127.0.0.1' });
  const port = udp.address().port;
  await udp.close();
  const agent = new DeviceAgent({
    push: `coap://127.0.0.1:${port}${PATH}`,
    sensors: ['temperature'],
    intervalMs: 20,
    queueLimit: 5,
    ...FAST,
    backoff: { baseMs: 2000, maxMs: 2000 },
  });
  const events = collect(agent);
  await agent.start();
  t.after(() => agent.stop());
  await until('3 dropped', () => events.filter((e) => e.event === 'dropped').length >= 3);
  assert.equal(agent.stats().queued, 5);
  const dropped = events.filter((e) => e.event === 'dropped');
  // The oldest go first.
  assert.deepEqual(
    dropped.slice(0, 3).map((e) => e.event === 'dropped' && e.seq),
    [1, 2, 3],
  );
});

test('a session idle longer than idleResumeMs is resumed before the next push', async (t) => {
  const { server, received } = ingestServer();
  const dtls = await DtlsServerTransport.listen({ host: '127.0.0.1', port: 0, psk: () => PSK.key });
  const conns: boolean[] = [];
  dtls.server.on('connection', (c: { resumed: boolean }) => conns.push(c.resumed));
  server.listen(dtls);
  t.after(() => server.close());
  const agent = new DeviceAgent({
    push: `coaps://127.0.0.1:${dtls.address().port}${PATH}`,
    security: { psk: PSK },
    sensors: ['temperature'],
    intervalMs: 250,
    idleResumeMs: 100,
  });
  await agent.start();
  t.after(() => agent.stop());
  await until('3 POSTs', () => received.length >= 3);
  await agent.stop();
  // One full handshake, then an abbreviated one before each later push.
  assert.equal(conns[0], false);
  assert.ok(conns.length >= 3, `${conns.length} connections`);
  assert.ok(conns.slice(1).every((r) => r));
});

test('samples unsent at stop are saved in the state file and delivered after the restart', async (t) => {
  const stateFile = join(tempDir(t), 'agent.state');
  // The cloud is down during the first run: its port is free but nobody listens.
  const probe = await UdpTransport.bind({ host: '127.0.0.1' });
  const port = probe.address().port;
  await probe.close();
  const opts = {
    push: `coap://127.0.0.1:${port}${PATH}`,
    sensors: ['humidity' as const],
    intervalMs: 50,
    stateFile,
    ...FAST,
    backoff: { baseMs: 2000, maxMs: 2000 },
  };
  const first = new DeviceAgent(opts);
  const ev1 = collect(first);
  await first.start();
  await until('5 readings', () => readings(ev1).length >= 5);
  await first.stop();
  const stopped = ev1.at(-1);
  assert.equal(stopped?.event, 'stopped');
  assert.ok(stopped?.event === 'stopped' && stopped.saved >= 5 && stopped.saved === stopped.queued);
  assert.equal(statSync(stateFile).mode & 0o777, 0o600);

  // The cloud is back; a new agent process takes over the file.
  const { server, received } = ingestServer();
  server.listen(await UdpTransport.bind({ host: '127.0.0.1', port }));
  t.after(() => server.close());
  const second = new DeviceAgent({ ...opts, backoff: FAST.backoff });
  const ev2 = collect(second);
  await second.start();
  t.after(() => second.stop());
  const restored = ev2.find((e) => e.event === 'restored');
  assert.ok(restored?.event === 'restored' && stopped?.event === 'stopped' && restored.samples === stopped.saved);
  const firstTimes = readings(ev1).map((r) => Date.parse(r.time));
  const got = () => new Set(received.map((r) => (JSON.parse(r.body) as { humidity: { time: number } }).humidity.time));
  await until('every first-run reading delivered', () => firstTimes.every((x) => got().has(x)));
  // Sent oldest first: the restored samples before the new run's own.
  const order = received.map((r) => (JSON.parse(r.body) as { humidity: { time: number } }).humidity.time);
  assert.deepEqual(order.slice(0, firstTimes.length), firstTimes);
  await second.stop();
  const last = ev2.at(-1);
  assert.ok(last?.event === 'stopped' && last.saved === last.queued);
});

test('a resumption that fails with an alert is followed by a full handshake at once', async (t) => {
  const stateFile = join(tempDir(t), 'agent.state');
  const inner = new MemorySessionCache();
  // A server whose cached copy of the session went bad: the abbreviated handshake's Finished
  // cannot verify and the resumption ends in a fatal alert.
  let corrupt = false;
  const cache = {
    get: (id: Buffer) => {
      const s = inner.get(id);
      return s && corrupt ? { ...s, masterSecret: Buffer.alloc(48, 1) } : s;
    },
    set: (s: Parameters<MemorySessionCache['set']>[0]) => inner.set(s),
    delete: (id: Buffer) => inner.delete(id),
  };
  const { server, received } = ingestServer();
  const dtls = await DtlsServerTransport.listen({
    host: '127.0.0.1',
    port: 0,
    psk: () => PSK.key,
    sessionCache: cache,
  });
  server.listen(dtls);
  t.after(() => server.close());
  const opts = {
    push: `coaps://127.0.0.1:${dtls.address().port}${PATH}`,
    security: { psk: PSK, ...FAST_DTLS },
    sensors: ['temperature' as const],
    intervalMs: 100,
    stateFile,
  };
  const first = new DeviceAgent(opts);
  await first.start();
  await until('a POST', () => received.length >= 1);
  await first.stop();
  corrupt = true;
  const before = received.length;
  const second = new DeviceAgent(opts);
  const ev = collect(second);
  await second.start();
  t.after(() => second.stop());
  await until('a POST after the fallback', () => received.length > before);
  await second.stop();
  const refused = ev.find((e) => e.event === 'error' && e.where === 'handshake');
  assert.match(refused?.event === 'error' ? refused.message : '', /resumption refused/);
  assert.deepEqual(
    ev.flatMap((e) => (e.event === 'handshake' ? [[e.resumed]] : [])),
    [[false]],
  );
  // No back-off: the full handshake followed straight away.
  assert.equal(ev.filter((e) => e.event === 'backoff').length, 0);
});

test('4.xx drops the sample (no retry); 5.03 with Max-Age keeps it and waits that long', async (t) => {
  const bodies: string[] = [];
  let mode: 'forbid' | 'busy' | 'ok' = 'forbid';
  const server = new CoapServer();
  server.post(PATH, (req) => {
    bodies.push(req.payload.toString());
    if (mode === 'forbid') return { code: 0x83, payload: 'device not allowed' }; // 4.03
    if (mode === 'busy') return { code: 0xa3, maxAge: 1 }; // 5.03, come back in 1 s
    return {};
  });
  const udp = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(udp);
  t.after(() => server.close());
  const agent = new DeviceAgent({
    push: `coap://127.0.0.1:${udp.address().port}${PATH}`,
    sensors: ['temperature'],
    intervalMs: 100,
    backoff: { baseMs: 10, maxMs: 20 },
  });
  const events = collect(agent);
  await agent.start();
  t.after(() => agent.stop());
  await until('2 rejected', () => events.filter((e) => e.event === 'dropped').length >= 2);
  const dropped = events.filter((e) => e.event === 'dropped');
  assert.ok(dropped.every((e) => e.event === 'dropped' && e.reason === 'rejected with 4.03'));
  assert.match(JSON.stringify(events.find((e) => e.event === 'error')), /4\.03: device not allowed/);
  assert.equal(events.filter((e) => e.event === 'backoff').length, 0);

  mode = 'busy';
  await until('a 5.03 back-off', () => events.some((e) => e.event === 'backoff'));
  const backoff = events.find((e) => e.event === 'backoff');
  assert.ok(backoff?.event === 'backoff' && backoff.ms >= 1000, JSON.stringify(backoff));
  mode = 'ok';
  await until('queue drained', () => agent.stats().queued === 0 && events.some((e) => e.event === 'sent'));
  await agent.stop();
  // The busy samples were kept and delivered: the 4.03'd ones are the only losses (a reading
  // taken just before stop may still be queued).
  const taken = readings(events).length;
  const s = agent.stats();
  assert.equal(s.sent + s.dropped + s.queued, taken);
  assert.equal(s.dropped, events.filter((e) => e.event === 'dropped').length);
});

/**
 * The push over a bad network: a NAT rebinding (the device's address and port as the server sees
 * them change mid-session) and a lossy link (drops, duplicates, reordering). No reading is lost;
 * after the rebinding the session goes on (Connection ID), or, with a server that does not use
 * CIDs, the agent resumes its session instead of a full handshake.
 */
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { type TestContext, test } from 'node:test';
import { CoapServer } from '../../src/coap/server.ts';
import { DtlsServerTransport } from '../../src/coap/transport-dtls.ts';
import { type AgentEvent, DeviceAgent, type DeviceAgentOptions } from '../../src/device/agent.ts';
import { startLossyRelay } from '../support/lossy-relay.ts';

const PSK = { identity: 'roaming-device', key: Buffer.from('roaming-device-key') };

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The server; `cid: false` turns Connection IDs off (the device then re-handshakes after a rebinding). */
async function cloud(t: TestContext, opts: { cid?: boolean } = {}) {
  const times: number[] = [];
  const server = new CoapServer();
  server.post('/d', (req) => {
    times.push((JSON.parse(req.payload.toString()) as { temperature: { time: number } }).temperature.time);
    return {};
  });
  const dtls = await DtlsServerTransport.listen({
    host: '127.0.0.1',
    port: 0,
    psk: () => PSK.key,
    ...(opts.cid === false ? { connectionId: false as const } : {}),
  });
  const conns: Array<{ resumed: boolean; port: number }> = [];
  dtls.server.on('connection', (c: { resumed: boolean; remote: { port: number } }) =>
    conns.push({ resumed: c.resumed, port: c.remote.port }),
  );
  server.listen(dtls);
  t.after(() => server.close());
  return { times, conns, port: dtls.address().port, stats: dtls.server.stats };
}

/**
 * A NAT in front of the device: forwards between the device and the server, and `rebind()` gives
 * it a new outside port, as a home router or a mobile network does after a while.
 */
async function nat(targetPort: number) {
  const front = createSocket('udp4');
  let back: Socket | undefined;
  let device: RemoteInfo | undefined;
  const outside = async () => {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    s.on('message', (m) => {
      if (device && s === back) front.send(m, device.port, device.address);
    });
    return s;
  };
  back = await outside();
  front.on('message', (m, rinfo) => {
    device = rinfo;
    back?.send(m, targetPort, '127.0.0.1');
  });
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', () => r()));
  return {
    port: front.address().port,
    outsidePort: () => back?.address().port,
    async rebind() {
      const old = back;
      back = await outside();
      old?.close();
    },
    close() {
      front.close();
      back?.close();
    },
  };
}

/** Starts an agent that records its events; it is stopped after the test. */
async function startAgent(
  t: TestContext,
  opts: DeviceAgentOptions,
): Promise<{ agent: DeviceAgent; events: AgentEvent[] }> {
  const agent = new DeviceAgent(opts);
  const events: AgentEvent[] = [];
  agent.on('event', (e: AgentEvent) => events.push(e));
  await agent.start();
  t.after(() => agent.stop());
  return { agent, events };
}

const FAST = {
  coap: { ackTimeout: 150, ackRandomFactor: 1, maxRetransmit: 2 },
  responseTimeoutMs: 1000,
  backoff: { baseMs: 50, maxMs: 200 },
};

/**
 * A cloud (with `cloudOpts`) behind a NAT and an agent pushing to it through the NAT; once 3 POSTs
 * have arrived the NAT rebinds, so the agent's outside port changes mid-session.
 */
async function reboundAgent(t: TestContext, cloudOpts: { cid?: boolean }) {
  const c = await cloud(t, cloudOpts);
  const n = await nat(c.port);
  t.after(() => n.close());
  const { agent, events } = await startAgent(t, {
    push: `coaps://127.0.0.1:${n.port}/d`,
    security: { psk: PSK, retransmitInitialMs: 150, maxRetransmits: 3 },
    sensors: ['temperature'],
    intervalMs: 100,
    ...FAST,
  });
  await until('3 POSTs', () => c.times.length >= 3);
  const before = n.outsidePort();
  await n.rebind();
  assert.notEqual(n.outsidePort(), before);
  return { c, agent, events };
}

/** Waits until 3 more readings are taken and the queue is empty, then stops the agent. */
async function sendThreeMoreAndStop(agent: DeviceAgent, events: AgentEvent[]): Promise<void> {
  const taken = () => events.filter((e) => e.event === 'reading').length;
  const target = taken() + 3;
  await until('3 more readings sent', () => taken() >= target && agent.stats().queued === 0);
  await agent.stop();
}

/** The readings the agent took whose time the cloud never stored. */
function lostReadings(stored: number[], events: AgentEvent[]): AgentEvent[] {
  const got = new Set(stored);
  return events.filter((e) => e.event === 'reading' && !got.has(Date.parse(e.time)));
}

test('a NAT rebinding mid-session with a Connection ID (the default): same session, no handshake, no reading lost', async (t) => {
  const { c, agent, events } = await reboundAgent(t, {});
  await sendThreeMoreAndStop(agent, events);
  assert.equal(c.conns.length, 1, 'one handshake for the whole run');
  assert.equal(c.stats.connectionIds.addressUpdates, 1);
  assert.deepEqual(lostReadings(c.times, events), []);
});

test('a NAT rebinding mid-session without a Connection ID: the agent notices, resumes the session, and loses no reading', async (t) => {
  const { c, agent, events } = await reboundAgent(t, { cid: false });
  await until('a second connection', () => c.conns.length >= 2);
  await sendThreeMoreAndStop(agent, events);

  // The server saw the device come back from its new outside port with an abbreviated handshake.
  assert.deepEqual(
    c.conns.map((x) => x.resumed),
    [false, true],
  );
  assert.notEqual(c.conns[1].port, c.conns[0].port);
  // Every reading arrived.
  assert.deepEqual(lostReadings(c.times, events), []);
  assert.ok(events.some((e) => e.event === 'backoff'));
});

test('a lossy link (20 % drop, 10 % duplication and reordering each way): every reading arrives', async (t) => {
  const c = await cloud(t);
  const relay = await startLossyRelay({
    targetHost: '127.0.0.1',
    targetPort: c.port,
    drop: 0.2,
    duplicate: 0.1,
    reorder: 0.1,
    seed: 7,
  });
  t.after(() => relay.close());
  const { agent, events } = await startAgent(t, {
    push: `coaps://127.0.0.1:${relay.port}/d`,
    security: { psk: PSK, retransmitInitialMs: 150, maxRetransmits: 8 },
    sensors: ['temperature'],
    intervalMs: 100,
    coap: { ackTimeout: 150, ackRandomFactor: 1, maxRetransmit: 6 },
    backoff: { baseMs: 50, maxMs: 200 },
  });
  await until('12 readings taken', () => events.filter((e) => e.event === 'reading').length >= 12);
  // Stop sampling (no new readings) but let the queue drain: wait until all taken are sent.
  const taken = events.filter((e) => e.event === 'reading').map((e) => (e.event === 'reading' ? e.time : ''));
  const got = () => new Set(c.times);
  await until('the readings delivered', () => taken.every((time) => got().has(Date.parse(time))), 30_000);
  await agent.stop();
  assert.ok(relay.stats.dropped > 0, 'the relay did drop datagrams');
  // Delivery is at least once: a retransmitted CON is deduplicated by the server's message layer,
  // but a sample whose exchange failed (all ACKs lost) is sent again in a new one after a back-off.
  const dupes = c.times.length - new Set(c.times).size;
  const failures = events.filter((e) => e.event === 'backoff').length;
  assert.ok(dupes <= failures, `${dupes} readings stored twice, after ${failures} failed exchanges`);
});

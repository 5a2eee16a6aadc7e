/**
 * The agent against the platform itself (SQLite): pushes over the platform's coaps:// API as a
 * PSK device bound to a resource, and is polled by the platform's poller in serve mode; the
 * auto-created streams hold the readings with the times the agent measured them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AgentEvent, DeviceAgent } from '../../src/device/agent.ts';
import { Poller } from '../../src/platform/poller/index.ts';
import { bindPsk, startCoapPlatform } from '../platform/coap/helpers.ts';
import { target } from '../platform/engines.ts';
import { call, newResource, newUser, startPlatform } from '../platform/helpers.ts';

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const format of ['json', 'senml'] as const) {
  test(`agent → platform CoAPs API (${format}): one stream per sensor, points at the measured times`, async (t) => {
    const tg = await target(t, 'sqlite');
    if (!tg) return;
    const p = await startCoapPlatform(t, tg);
    const { uid, token } = await newUser(p.base, 'dev-owner');
    const { rid } = await newResource(p.base, uid, token, 'room 1');
    const key = await bindPsk(p.base, token, uid, rid, 'room-1-sensor');
    const agent = new DeviceAgent({
      push: `${p.coapsBase}/users/${uid}/resources/${rid}/data`,
      security: { psk: { identity: 'room-1-sensor', key } },
      sensors: ['temperature', 'humidity'],
      intervalMs: 150,
      format,
    });
    const events: AgentEvent[] = [];
    agent.on('event', (e: AgentEvent) => events.push(e));
    await agent.start();
    t.after(() => agent.stop());
    await until('4 samples sent', () => events.filter((e) => e.event === 'sent').length >= 4);
    await agent.stop();
    const errors = events.filter((e) => e.event === 'error');
    assert.deepEqual(errors, []);

    const streams = await call(p.base, 'GET', `/users/${uid}/resources/${rid}/streams`, { token });
    assert.equal(streams.status, 200, streams.text);
    const labels = (streams.json as Array<{ label: string }>).map((s) => s.label).sort();
    assert.deepEqual(labels, ['humidity', 'temperature']);
    const temp = (streams.json as Array<{ id: number; label: string }>).find((s) => s.label === 'temperature');
    const data = await call(p.base, 'GET', `/users/${uid}/resources/${rid}/streams/${temp?.id}/data`, { token });
    assert.equal(data.status, 200, data.text);
    const points = data.json.points as Array<{ value: number; time: number | string }>;
    const sentSeqs = new Set(events.flatMap((e) => (e.event === 'sent' ? [e.seq] : [])));
    const readings = events.flatMap((e) =>
      e.event === 'reading'
        ? [{ value: e.values.temperature, time: Date.parse(e.time), sent: sentSeqs.has(e.seq) }]
        : [],
    );
    const got = points.map((x) => ({ value: x.value, time: typeof x.time === 'number' ? x.time : Date.parse(x.time) }));
    got.sort((a, b) => a.time - b.time);
    // Every reading the platform acknowledged is stored, at its measured time; a push still in
    // flight when the agent stopped may be stored without its acknowledgement reaching the agent.
    // Nothing else is: every stored point is one of the agent's readings.
    const pointKey = (p: { value: number; time: number }) => `${p.time}:${p.value}`;
    const stored = new Set(got.map(pointKey));
    assert.deepEqual(
      readings.filter((r) => r.sent && !stored.has(pointKey(r))),
      [],
      'acknowledged readings missing from the store',
    );
    const measured = new Set(readings.map(pointKey));
    assert.deepEqual(
      got.filter((p) => !measured.has(pointKey(p))),
      [],
      'stored points the agent never measured',
    );
    assert.ok(got.length >= sentSeqs.size, `${got.length} stored, ${sentSeqs.size} acknowledged`);
  });
}

test("the platform's poller pulls the agent's /sensors over coaps:// with the resource's PSK", async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  // The agent is a lab device on loopback: allowed explicitly (the default refuses loopback).
  const p = await startPlatform(t, tg, (c) => {
    c.poller.allow = ['127.0.0.1'];
  });
  const { uid, token } = await newUser(p.base, 'poll-owner');
  const { rid } = await newResource(p.base, uid, token, 'pulled');
  const key = await bindPsk(p.base, token, uid, rid, 'pulled-device');
  // The device serves over DTLS with the same credential the platform holds for the resource.
  const agent = new DeviceAgent({
    serveDtls: { port: 0, host: '127.0.0.1', psk: [{ identity: 'pulled-device', key }] },
    sensors: ['temperature', 'power'],
    intervalMs: 100,
  });
  const events: AgentEvent[] = [];
  agent.on('event', (e: AgentEvent) => events.push(e));
  await agent.start();
  t.after(() => agent.stop());
  const url = `coaps://127.0.0.1:${agent.addresses().serveDtls?.port}/sensors`;
  const put = await call(p.base, 'PUT', `/users/${uid}/resources/${rid}`, {
    token,
    body: { polling_url: url, polling_period: 60 },
  });
  assert.equal(put.status, 200, put.text);
  const poller = new Poller(p.service, { startJitterMs: 0 });
  t.after(() => poller.stop());
  const first = await poller.pollNow(rid);
  await new Promise((r) => setTimeout(r, 250));
  const second = await poller.pollNow(rid);
  assert.equal(first.ok, true, JSON.stringify(first));
  assert.equal(first.status, '2.05');
  assert.equal(first.points, 2);
  assert.equal(first.newSession, true);
  assert.equal(second.ok, true, JSON.stringify(second));
  assert.equal(second.newSession, false, 'the second poll reuses the DTLS session');

  const streams = await call(p.base, 'GET', `/users/${uid}/resources/${rid}/streams`, { token });
  const labels = (streams.json as Array<{ label: string }>).map((s) => s.label).sort();
  assert.deepEqual(labels, ['power', 'temperature']);
  const power = (streams.json as Array<{ id: number; label: string }>).find((s) => s.label === 'power');
  const data = await call(p.base, 'GET', `/users/${uid}/resources/${rid}/streams/${power?.id}/data`, { token });
  const points = data.json.points as Array<{ value: number; time: number | string }>;
  assert.equal(points.length, 2);
  // Each polled point is a reading the agent took, at the time it took it.
  const byTime = new Map(
    events.flatMap((e) => (e.event === 'reading' ? [[Date.parse(e.time), e.values.power] as const] : [])),
  );
  for (const x of points) {
    const time = typeof x.time === 'number' ? x.time : Date.parse(x.time);
    assert.equal(byTime.get(time), x.value);
  }
});

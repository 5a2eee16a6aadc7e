/**
 * The agent against the platform itself (SQLite): pushes over the platform's coaps:// API as a
 * PSK device bound to a resource; the auto-created streams hold the readings with the times the
 * agent measured them, also for samples queued while the API was unreachable.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AgentEvent, DeviceAgent } from '../../src/device/agent.ts';
import { bindPsk, startCoapPlatform } from '../platform/coap/helpers.ts';
import { target } from '../platform/engines.ts';
import { call, newResource, newUser } from '../platform/helpers.ts';

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
    const expected = events.flatMap((e) =>
      e.event === 'reading' && sentSeqs.has(e.seq) ? [{ value: e.values.temperature, time: Date.parse(e.time) }] : [],
    );
    const got = points.map((x) => ({ value: x.value, time: typeof x.time === 'number' ? x.time : Date.parse(x.time) }));
    got.sort((a, b) => a.time - b.time);
    assert.deepEqual(got, expected);
  });
}

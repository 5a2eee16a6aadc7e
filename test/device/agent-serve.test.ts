/**
 * Serve mode: the agent's observable resources read by libcoap's coap-client (a third-party peer,
 * over UDP and over DTLS with a PSK) and by our own client.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { CoapClient } from '../../src/coap/client.ts';
import { parseLinks } from '../../src/coap/linkformat.ts';
import { ContentFormat } from '../../src/coap/options.ts';
import { type AgentEvent, DeviceAgent } from '../../src/device/agent.ts';
import { CommandSensor } from '../../src/device/sensors.ts';
import { launchFor, requireBinary } from '../support/peers.ts';

const PSK = { identity: 'poller-1', key: Buffer.from('agent-serve-key!') };

async function serving(t: TestContext, intervalMs = 250) {
  const agent = new DeviceAgent({
    serve: { port: 0, host: '127.0.0.1' },
    serveDtls: { port: 0, host: '127.0.0.1', psk: [PSK] },
    sensors: ['temperature', 'humidity'],
    intervalMs,
  });
  const events: AgentEvent[] = [];
  agent.on('event', (e: AgentEvent) => events.push(e));
  await agent.start();
  t.after(() => agent.stop());
  const a = agent.addresses();
  return {
    agent,
    events,
    coap: `coap://127.0.0.1:${a.serve!.port}`,
    coaps: `coaps://127.0.0.1:${a.serveDtls!.port}`,
  };
}

/** The temperatures the agent reported reading. */
function temperatures(events: AgentEvent[]): number[] {
  return events.flatMap((e) => (e.event === 'reading' ? [e.values.temperature] : []));
}

test('our client: /.well-known/core, GET in each format, and observe over coap:// and coaps://', async (t) => {
  const { events, coap, coaps } = await serving(t);
  const client = new CoapClient({ security: { psk: PSK } });
  t.after(() => client.close());

  const core = await client.get(`${coap}/.well-known/core`);
  assert.equal(core.contentFormat, ContentFormat['application/link-format']);
  const links = parseLinks(core.payload.toString());
  const byHref = new Map(links.map((l) => [l.href, l.attrs]));
  for (const href of ['/sensors', '/sensors/temperature', '/sensors/humidity']) {
    assert.ok(byHref.has(href), `${href} in ${core.payload}`);
    assert.equal(byHref.get(href)?.obs, true);
  }
  assert.equal(byHref.get('/sensors/temperature')?.if, 'core.s');

  const text = await client.get(`${coap}/sensors/temperature`);
  assert.equal(text.status, '2.05');
  assert.equal(text.contentFormat, ContentFormat['text/plain']);
  assert.ok(temperatures(events).includes(Number(text.payload.toString())), `${text.payload} was read`);
  assert.equal(text.maxAge, 1);

  const json = await client.get(`${coaps}/sensors/humidity`, { accept: ContentFormat['application/json'] });
  const h = JSON.parse(json.payload.toString()) as { value: number; unit: string; time: number };
  assert.equal(h.unit, '%RH');
  assert.ok(h.value >= 0 && h.value <= 100);

  const senml = await client.get(`${coap}/sensors`, { accept: ContentFormat['application/senml+json'] });
  assert.equal(senml.contentFormat, ContentFormat['application/senml+json']);
  const pack = JSON.parse(senml.payload.toString()) as Array<{ n: string; v: number }>;
  assert.deepEqual(pack.map((r) => r.n).sort(), ['humidity', 'temperature']);

  const missing = await client.get(`${coap}/sensors/pressure`);
  assert.equal(missing.status, '4.04');

  // Observe one sensor over UDP and all of them over DTLS: each notification is a new reading.
  const obs = await client.observe(`${coap}/sensors/temperature`);
  const all = await client.observe(`${coaps}/sensors`);
  const seen: number[] = [];
  const docs: Array<Record<string, { value: number; time: number }>> = [];
  obs.on('notification', (r) => seen.push(Number(r.payload.toString())));
  all.on('notification', (r) => docs.push(JSON.parse(r.payload.toString())));
  await waitFor(() => seen.length >= 3 && docs.length >= 3);
  await obs.cancel();
  await all.cancel();
  const read = temperatures(events);
  for (const v of seen) assert.ok(read.includes(v), `notified ${v} was read`);
  const times = docs.map((d) => d.temperature.time);
  assert.deepEqual(
    times,
    [...new Set(times)].sort((a, b) => a - b),
    'each notification carries a newer sample',
  );
  assert.deepEqual(Object.keys(docs[0]).sort(), ['humidity', 'temperature']);
  assert.equal(all.first?.peer.identity?.mode, 'psk');
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const build of ['notls', 'gnutls'] as const) {
  const secure = build === 'gnutls';
  test(`coap-client-${build} GETs and observes the agent's resources${secure ? ' over DTLS (PSK)' : ''}`, async (t) => {
    const bin = `coap-client-${build}`;
    if (!requireBinary(t, bin)) return;
    const { events, coap, coaps } = await serving(t, 300);
    const base = secure ? coaps : coap;
    const sec = secure ? ['-u', PSK.identity, '-k', PSK.key.toString()] : [];
    const run = async (args: string[]) => {
      const p = launchFor(t, bin, ['-B', '10', ...sec, ...args], { timeoutMs: 20_000 });
      const code = await p.exited;
      assert.equal(code, 0, `${bin} ${args.join(' ')} failed: ${p.stderr()}`);
      return p.stdout();
    };
    const core = await run(['-m', 'get', `${base}/.well-known/core`]);
    assert.match(core, /<\/sensors\/temperature>[^,]*;obs/);
    const one = Number((await run(['-m', 'get', `${base}/sensors/temperature`])).trim());
    assert.ok(temperatures(events).includes(one), `libcoap got ${one}, one of the readings`);
    const all = JSON.parse((await run(['-m', 'get', '-A', '50', `${base}/sensors`])).trim()) as Record<
      string,
      { value: number }
    >;
    assert.deepEqual(Object.keys(all).sort(), ['humidity', 'temperature']);
    // Observe for 2 s at 300 ms: the first response and at least 3 notifications, each a reading.
    const out = await run(['-m', 'get', '-s', '2', '-w', `${base}/sensors/temperature`]);
    const values = out.split('\n').filter(Boolean).map(Number);
    assert.ok(values.length >= 4, `libcoap printed ${JSON.stringify(out)}`);
    const read = temperatures(events);
    for (const v of values) assert.ok(read.includes(v), `${v} was read`);
  });
}

test('a command sensor printing JSON serves one resource per key', async (t) => {
  const agent = new DeviceAgent({
    serve: { port: 0, host: '127.0.0.1' },
    sensors: [new CommandSensor(`echo '{"load":0.5,"uptime":1234}'`)],
    intervalMs: 1000,
  });
  await agent.start();
  t.after(() => agent.stop());
  const client = new CoapClient();
  t.after(() => client.close());
  const base = `coap://127.0.0.1:${agent.addresses().serve!.port}`;
  assert.equal((await client.get(`${base}/sensors/load`)).payload.toString(), '0.5');
  assert.equal((await client.get(`${base}/sensors/uptime`)).payload.toString(), '1234');
});

/**
 * The dashboard's fleet console API against the real platform: a PSK device handshakes over
 * coaps:// and posts, and the overview shows it online with its mode, identity, full then resumed
 * handshake, points in the last hour and the counters; the event stream (SSE) delivers its point
 * and its new device state as they happen; a range is downsampled in SQL to min/max/mean per
 * bucket on both engines; refusals are clear (401, 403, 400, 429).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoapClient, ContentFormat } from '../../src/coap/index.ts';
import { DtlsClientTransport } from '../../src/coap/transport-dtls.ts';
import { connect, type DtlsConnection } from '../../src/dtls/index.ts';
import { SSE_PER_USER } from '../../src/platform/http/routes/fleet.ts';
import { bothEngines } from './engines.ts';
import { call, newResource, newStream, newUser, startCoapsPlatform, startPlatform } from './helpers.ts';

const JSON_CF = { contentFormat: ContentFormat['application/json'] };

async function coapPost(conn: DtlsConnection, port: number, path: string, body: unknown): Promise<string> {
  const client = new CoapClient({ transport: new DtlsClientTransport(conn), params: { ackTimeout: 500 } });
  try {
    return (await client.post(`coap://127.0.0.1:${port}${path}`, JSON.stringify(body), JSON_CF)).status;
  } finally {
    await client.close();
  }
}

/** An open event stream: its events as they arrive, and a wait for one that matches. */
async function events(url: string) {
  const ac = new AbortController();
  const res = await fetch(url, { signal: ac.signal });
  const seen: { event: string; data: unknown; at: number }[] = [];
  const waiters: (() => void)[] = [];
  if (res.ok && res.body) {
    (async () => {
      const dec = new TextDecoder();
      let buf = '';
      try {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          buf += dec.decode(chunk, { stream: true });
          let i = buf.indexOf('\n\n');
          while (i >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = /^event: (.*)$/m.exec(frame)?.[1];
            const data = /^data: (.*)$/m.exec(frame)?.[1];
            if (ev && data) seen.push({ event: ev, data: JSON.parse(data), at: performance.now() });
            for (const w of waiters.splice(0)) w();
            i = buf.indexOf('\n\n');
          }
        }
      } catch {
        // aborted
      }
    })();
  }
  return {
    res,
    seen,
    close: () => ac.abort(),
    async wait<T>(what: string, pick: (e: { event: string; data: unknown }) => T | undefined, ms = 1000): Promise<T> {
      const end = performance.now() + ms;
      for (;;) {
        for (const e of seen) {
          const got = pick(e);
          if (got !== undefined) return got;
        }
        const left = end - performance.now();
        if (left <= 0) assert.fail(`no ${what} event within ${ms} ms; saw ${JSON.stringify(seen)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, left);
        });
      }
    },
  };
}

test('overview and events: a PSK device over coaps:// shows online, its handshake full then resumed, its points live', async (t) => {
  const p = await startCoapsPlatform(t, 'fleet');
  const { base, port } = p;
  const { uid, token } = await newUser(base, 'fleet-ann');
  const other = await newUser(base, 'fleet-bob');
  const dev = await newResource(base, uid, token, 'boiler');
  const idle = await newResource(base, uid, token, 'shed');
  const bound = await call(base, 'POST', `/users/${uid}/resources/${dev.rid}/devices`, {
    token,
    body: { mode: 'psk', psk_identity: 'boiler-1' },
  });
  assert.equal(bound.status, 201, bound.text);
  const psk = { identity: 'boiler-1', key: Buffer.from(bound.json.psk_key, 'hex') };

  // Before anything happened: both offline, no handshake.
  let o = await call(base, 'GET', `/users/${uid}/overview`, { token });
  assert.equal(o.status, 200, o.text);
  assert.equal(o.json.counts.resources, 2);
  assert.equal(o.json.counts.devices, 1);
  assert.equal(o.json.counts.devices_online, 0);
  assert.equal(o.json.resources[0].last_handshake, null);
  assert.deepEqual(
    o.json.resources[0].devices.map((d: { mode: string; identity: string }) => [d.mode, d.identity]),
    [['psk', 'boiler-1']],
  );

  // Refusals: no credential, another user's token, and the event stream likewise.
  assert.equal((await call(base, 'GET', `/users/${uid}/overview`)).status, 401);
  assert.equal((await call(base, 'GET', `/users/${uid}/overview`, { token: other.token })).status, 403);
  const foreign = await fetch(`${base}/users/${uid}/events?key=${other.token}`);
  assert.equal(foreign.status, 403);
  await foreign.body?.cancel();

  const live = await events(`${base}/users/${uid}/events?key=${token}`);
  t.after(() => live.close());
  assert.equal(live.res.status, 200);
  assert.match(live.res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const bobLive = await events(`${base}/users/${other.uid}/events?key=${other.token}`);
  t.after(() => bobLive.close());
  await live.wait('hello', (e) => (e.event === 'hello' ? true : undefined));

  // A full handshake and a point: the device event and the point arrive on the open stream.
  const first = await connect({ host: '127.0.0.1', port, psk, retransmitInitialMs: 300 });
  assert.equal(first.resumed, false);
  const device = await live.wait('device', (e) =>
    e.event === 'device' ? (e.data as { resource_id: number; mode: string; resumed: boolean }) : undefined,
  );
  assert.deepEqual([device.resource_id, device.mode, device.resumed], [dev.rid, 'psk', false]);
  const sent = performance.now();
  assert.equal(await coapPost(first, port, `/users/${uid}/resources/${dev.rid}/data`, { temp: 61.5 }), '2.04');
  const pts = await live.wait('points', (e) =>
    e.event === 'points' ? (e.data as { resource_id: number; points: { value: number }[] }) : undefined,
  );
  assert.equal(pts.resource_id, dev.rid);
  assert.deepEqual(
    pts.points.map((x) => x.value),
    [61.5],
  );
  t.diagnostic(
    `point seen on the event stream ${(performance.now() - sent).toFixed(1)} ms after the CoAP POST was sent`,
  );
  await first.close();

  o = await call(base, 'GET', `/users/${uid}/overview`, { token });
  const boiler = o.json.resources.find((r: { id: number }) => r.id === dev.rid);
  const shed = o.json.resources.find((r: { id: number }) => r.id === idle.rid);
  assert.equal(boiler.online, true);
  assert.equal(shed.online, false);
  assert.equal(boiler.last_handshake.mode, 'psk');
  assert.equal(boiler.last_handshake.identity, 'boiler-1');
  assert.equal(boiler.last_handshake.resumed, false);
  assert.equal(boiler.points_last_hour, 1);
  assert.equal(boiler.streams[0].label, 'temp');
  assert.equal(boiler.streams[0].points_last_hour, 1);
  assert.equal(o.json.counts.devices_online, 1);
  assert.equal(o.json.counts.handshakes_per_min, 1);
  assert.equal(o.json.counts.points_per_min, 1);

  // The same session again: an abbreviated handshake, shown as resumed.
  const second = await connect({ host: '127.0.0.1', port, psk, session: first.session, retransmitInitialMs: 300 });
  assert.equal(second.resumed, true);
  const resumed = await live.wait('resumed device', (e) =>
    e.event === 'device' && (e.data as { resumed: boolean }).resumed ? true : undefined,
  );
  assert.equal(resumed, true);
  o = await call(base, 'GET', `/users/${uid}/overview`, { token });
  const again = o.json.resources.find((r: { id: number }) => r.id === dev.rid);
  assert.equal(again.last_handshake.resumed, true);
  assert.equal(o.json.counts.handshakes_per_min, 2);
  await second.close();

  // Another user's page received none of it.
  assert.deepEqual(
    bobLive.seen.map((e) => e.event),
    ['hello'],
  );

  // The limit on open streams per user refuses visibly.
  const extra: Awaited<ReturnType<typeof events>>[] = [];
  for (let i = 1; i < SSE_PER_USER; i++) extra.push(await events(`${base}/users/${uid}/events?key=${token}`));
  t.after(() => {
    for (const e of extra) e.close();
  });
  assert.ok(extra.every((e) => e.res.status === 200));
  const refused = await fetch(`${base}/users/${uid}/events?key=${token}`);
  assert.equal(refused.status, 429);
  assert.match((await refused.json()).message, /too many open event streams/);
});

bothEngines('series: a range downsampled in SQL to min/max/mean per bucket, JSON and CSV', async (t, tg) => {
  const p = await startPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'ann');
  const { rid } = await newResource(p.base, uid, token, 'meter');
  const { sid } = await newStream(p.base, uid, rid, token, { label: 'power' });
  const t0 = 1_700_000_000_000;
  // 600 points one second apart: value i for point i.
  const body = Array.from({ length: 600 }, (_, i) => ({ time: t0 + i * 1000, value: i }));
  const put = await call(p.base, 'POST', `/users/${uid}/resources/${rid}/streams/${sid}/data`, { token, body });
  assert.equal(put.status, 200, put.text);
  const path = `/users/${uid}/resources/${rid}/streams/${sid}/series`;

  const s = await call(p.base, 'GET', `${path}?from=${t0}&until=${t0 + 599_999}&buckets=6`, { token });
  assert.equal(s.status, 200, s.text);
  assert.equal(s.json.bucket_ms, 100_000);
  assert.deepEqual(
    s.json.buckets.map((b: { time: number; min: number; max: number; mean: number; count: number }) => [
      b.time - t0,
      b.min,
      b.max,
      b.mean,
      b.count,
    ]),
    [0, 1, 2, 3, 4, 5].map((k) => [k * 100_000, k * 100, k * 100 + 99, k * 100 + 49.5, 100]),
  );

  // A sub-range: only its points, empty buckets absent.
  const part = await call(p.base, 'GET', `${path}?from=${t0 + 550_000}&until=${t0 + 1_000_000}&buckets=3`, { token });
  assert.equal(part.status, 200, part.text);
  assert.equal(part.json.buckets.length, 1);
  assert.deepEqual([part.json.buckets[0].min, part.json.buckets[0].max, part.json.buckets[0].count], [550, 599, 50]);

  const csv = await call(p.base, 'GET', `${path}?from=${t0}&until=${t0 + 599_999}&buckets=2&format=csv`, { token });
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
  assert.deepEqual(csv.text.trimEnd().split('\r\n'), [
    'time,min,max,mean,count',
    `${t0},0,299,149.5,300`,
    `${t0 + 300_000},300,599,449.5,300`,
  ]);

  // Refusals.
  const backwards = await call(p.base, 'GET', `${path}?from=${t0 + 10}&until=${t0}`, { token });
  assert.equal(backwards.status, 400);
  assert.match(backwards.json.message, /from is after until/);
  assert.equal((await call(p.base, 'GET', `${path}?until=${t0}`, { token })).status, 400);
  assert.equal((await call(p.base, 'GET', `${path}?from=${t0}&buckets=0`, { token })).status, 400);
  assert.equal((await call(p.base, 'GET', `${path}?from=${t0}`)).status, 401);
});

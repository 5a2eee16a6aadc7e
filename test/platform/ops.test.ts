/**
 * Operations: `/metrics` scraped around an end-to-end flow (a point over HTTP, one over coaps://
 * from a PSK device, sign-in failures refused) shows the counters move; the access log names
 * method, path, status and duration and never a `?key=` secret; `/health` answers while `/ready`
 * follows the database (503 while PostgreSQL is unreachable, 200 again when it is back).
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { CoapClient } from '../../src/coap/index.ts';
import type { DtlsServer } from '../../src/dtls/index.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createPlatform, dtlsStats } from '../../src/platform/index.ts';
import { bindPsk } from './coap/helpers.ts';
import { PG_URL, target } from './engines.ts';
import { call, newResource, newStream, newUser } from './helpers.ts';

/** The value of one sample of the exposition text (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^([^{ ]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries(
      [...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]] as [string, string]),
    );
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return 0;
}

test('/metrics moves with an HTTP point, a coaps:// point and refused sign-ins; the access log hides secrets', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const cfg = loadConfig({
    env: {},
    overrides: {
      db: tg.db,
      http: { host: '127.0.0.1', port: 0 },
      coap: { host: '127.0.0.1', port: 0, coapsPort: 0 },
      api: { authFailureLimit: 3 },
    },
  });
  const p = await createPlatform(cfg, { coap: true, logger });
  t.after(() => p.close());
  const base = p.http.plain?.url ?? '';
  const scrape = async () => {
    const r = await call(base, 'GET', '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return r.text;
  };
  const before = await scrape();

  // One point over HTTP, with the stream key in the query string (the access log must hide it).
  const { uid, token } = await newUser(base, 'ops-owner');
  const { rid } = await newResource(base, uid, token, 'meter');
  const { sid, key: streamKey } = await newStream(base, uid, rid, token, { label: 'power', unit: 'W' });
  const posted = await call(base, 'POST', `/users/${uid}/resources/${rid}/streams/${sid}/data?key=${streamKey}`, {
    body: { value: 12.5 },
  });
  assert.equal(posted.status, 200, posted.text);

  // One point over coaps:// from a PSK device bound to the resource.
  const psk = await bindPsk(base, token, uid, rid, 'ops-device');
  const coaps = new CoapClient({
    params: { ackTimeout: 1000 },
    security: { psk: { identity: 'ops-device', key: psk } },
  });
  t.after(() => coaps.close());
  const res = await coaps.request(
    `coaps://127.0.0.1:${p.coap?.coaps?.port}/users/${uid}/resources/${rid}/streams/${sid}/data`,
    { method: 'POST', payload: JSON.stringify({ value: 13 }), contentFormat: 50 },
  );
  assert.equal(res.status, '2.04', res.payload.toString());

  const during = await scrape();
  assert.equal(
    sample(during, 'securesense_points_stored_total') - sample(before, 'securesense_points_stored_total'),
    2,
  );
  assert.equal(sample(during, 'securesense_coap_requests_total', { code: '2.04', transport: 'coaps' }), 1);
  assert.equal(sample(during, 'securesense_dtls_handshakes_total', { mode: 'psk', result: 'full' }), 1);
  assert.equal(sample(during, 'securesense_dtls_sessions'), 1);
  // Sends the batched sockets dropped on a full buffer: exposed (none here).
  assert.match(during, /^securesense_coap_udp_send_drops_total 0$/m);
  assert.match(during, /^securesense_dtls_endpoint_events_total\{event="drops\.sendBuffer"\} 0$/m);
  const route = '/users/:uid/resources/:rid/streams/:sid/data';
  assert.equal(sample(during, 'securesense_http_requests_total', { method: 'POST', route, status: '200' }), 1);
  assert.ok(sample(during, 'securesense_store_operation_seconds_count', { op: 'insertPoints', outcome: 'ok' }) >= 2);
  assert.equal(sample(during, 'securesense_rate_limit_refusals_total', { bucket: 'failures' }), 0);

  // Failed authentications from one address: after 3, the address is refused (429) and counted.
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++)
    statuses.push((await call(base, 'GET', `/users/${uid}`, { token: `sst_bogus${i}` })).status);
  assert.deepEqual(statuses.slice(0, 3), [401, 401, 401]);
  assert.ok(
    statuses.slice(3).every((s) => s === 429),
    statuses.join(','),
  );
  // The scrape itself is refused now too (the address is over its failures): read the registry.
  const after = (await p.metrics.render()).body;
  assert.ok(sample(after, 'securesense_rate_limit_refusals_total', { bucket: 'failures' }) >= 2);
  assert.equal(
    sample(after, 'securesense_http_requests_total', { method: 'GET', route: '/users/:uid', status: '401' }),
    3,
  );

  // The access log: one info line per request, the key's value never written.
  const http = lines.filter((l) => l.msg === 'http request');
  const post = http.find((l) => l.method === 'POST' && String(l.path).includes('/data'));
  assert.ok(post, 'the HTTP point is logged');
  assert.equal(post.status, 200);
  assert.equal(post.path, `/users/${uid}/resources/${rid}/streams/${sid}/data?key=[redacted]`);
  assert.equal(typeof post.ms, 'number');
  assert.equal(post.level, 30);
  const coapLine = lines.find((l) => l.msg === 'coap request' && l.code === '2.04');
  assert.ok(coapLine, 'the coaps:// point is logged');
  assert.equal(coapLine.transport, 'coaps');
  assert.equal(coapLine.method, 'POST');
  const all = JSON.stringify(lines);
  assert.ok(!all.includes(streamKey), 'no stream key in the log');
  assert.ok(!all.includes(token), 'no token in the log');
});

/** A TCP relay to PostgreSQL that the test can cut and restore: the database "goes away". */
async function relay(to: {
  host: string;
  port: number;
}): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const open = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((c) => {
        const up = tcpConnect(to.port, to.host);
        sockets.add(c);
        sockets.add(up);
        c.pipe(up).pipe(c);
        const end = () => {
          c.destroy();
          up.destroy();
          sockets.delete(c);
          sockets.delete(up);
        };
        c.on('error', end).on('close', end);
        up.on('error', end).on('close', end);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  await open();
  return {
    port,
    async cut() {
      const s = server;
      server = undefined;
      for (const c of sockets) c.destroy();
      await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
    },
    restore: open,
  };
}

// Also the regression test for a connection lost while checked out of the pool: its client's
// 'error' event had no listener and ended the process (store/open.ts now listens).
test('/health answers while /ready follows the database: 503 while PostgreSQL is unreachable, 200 when back', async (t) => {
  if (!PG_URL) {
    t.skip('needs SECURESENSE_TEST_PG_URL');
    return;
  }
  const tg = await target(t, 'postgres');
  if (!tg) return;
  const pgUrl = new URL(PG_URL);
  const r = await relay({ host: pgUrl.hostname, port: Number(pgUrl.port || 5432) });
  t.after(() => r.cut());
  const viaRelay = new URL(PG_URL);
  viaRelay.hostname = '127.0.0.1';
  viaRelay.port = String(r.port);
  const cfg = loadConfig({ env: {}, overrides: { db: viaRelay.toString(), http: { host: '127.0.0.1', port: 0 } } });
  const p = await createPlatform(cfg, { pgSchema: tg.schema, logger: pino({ level: 'silent' }) });
  t.after(() => p.close());
  const base = p.http.plain?.url ?? '';

  assert.equal((await call(base, 'GET', '/health')).status, 200);
  const ok = await call(base, 'GET', '/ready');
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.status, 'ready');

  await r.cut();
  const down = await call(base, 'GET', '/ready');
  assert.equal(down.status, 503, down.text);
  assert.match(down.json.message, /^not ready: /);
  assert.equal(down.headers.get('retry-after'), '5');
  assert.equal((await call(base, 'GET', '/health')).status, 200, 'alive while the database is gone');

  await r.restore();
  const back = await call(base, 'GET', '/ready');
  assert.equal(back.status, 200, back.text);
});

test('dtlsStats flattens the DTLS server counters by reason and leaves out the levels', () => {
  // The counters as the DTLS engine's `DtlsServer.stats` presents them (a live object of numbers).
  const server = {
    stats: {
      sessions: 3,
      handshakes: 1,
      helloVerifyRequests: 40,
      evictions: { sessionCapacity: 2, handshakeTimeout: 5 },
      drops: { malformed: 7, noAssociation: 0 },
    },
  } as unknown as DtlsServer;
  assert.deepEqual(dtlsStats(server), {
    helloVerifyRequests: 40,
    'evictions.sessionCapacity': 2,
    'evictions.handshakeTimeout': 5,
    'drops.malformed': 7,
    'drops.noAssociation': 0,
  });
  assert.equal(dtlsStats({} as DtlsServer), undefined, 'a server without stats');
});

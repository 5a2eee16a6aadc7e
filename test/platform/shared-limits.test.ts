/**
 * Rate limits shared by several front ends through the store: the sliding-window counters over
 * one real store (both engines, a hand-driven clock and sync), then two `securesense serve`
 * processes on one database (a SQLite file, a PostgreSQL schema) where a bogus-token flood and
 * password guessing spread over both, HTTP and CoAP, are refused as if one process served them.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { ContentFormat } from '../../src/coap/index.ts';
import { ClientLimits } from '../../src/platform/limits.ts';
import { PlatformMetrics } from '../../src/platform/metrics.ts';
import { SharedLimits } from '../../src/platform/shared-limits.ts';
import { openStore } from '../../src/platform/store/index.ts';
import { startCli } from '../support/cli.ts';
import { client } from './coap/helpers.ts';
import { bothEngines, type EngineTarget, PG_URL, target } from './engines.ts';
import { call, newUser } from './helpers.ts';

/** A clock the test moves, aligned on a minute so that windows start where the test expects. */
function clock(): { now: () => number; advance(ms: number): void } {
  let t = Math.ceil(Date.now() / 60_000) * 60_000;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
  };
}

bothEngines('two front ends on one store share a sliding window; gives and window ends count', async (t, tg) => {
  const store = await openStore({ db: tg.db, schema: tg.schema });
  t.after(() => store.close());
  const c = clock();
  const a = new SharedLimits({ store, intervalMs: 0, now: c.now });
  const b = new SharedLimits({ store, intervalMs: 0, now: c.now });
  const wa = a.window('f:', 5, 60_000);
  const wb = b.window('f:', 5, 60_000);

  // Before any sync each decides alone: A takes 3 of 5.
  assert.deepEqual([wa.take('x'), wa.take('x'), wa.take('x')], [0, 0, 0]);
  await a.sync();
  // B reads the key's total when it syncs after seeing it: 2 left, then refused until the window slides.
  assert.equal(wb.peek('x'), 0);
  await b.sync();
  assert.deepEqual([wb.take('x'), wb.take('x')], [0, 0]);
  const wait = wb.take('x');
  assert.ok(wait >= 1 && wait <= 120, `wait ${wait}`);
  await b.sync();
  wa.peek('x'); // seen again: read back at the next sync
  await a.sync();
  assert.ok(wa.peek('x') >= 1, 'A sees B’s hits after both synced');
  // Another key is untouched.
  assert.equal(wa.take('y'), 0);

  // A hit given back (charged elsewhere) frees a place for everyone. (A key is read back at the
  // sync after it was last seen.)
  wb.give('x');
  await b.sync();
  wa.peek('x');
  await a.sync();
  assert.equal(wa.take('x'), 0);
  await a.sync();
  wb.peek('x');
  await b.sync();
  assert.ok(wb.peek('x') >= 1);

  // Half-way through the next window the previous one weighs half: 5 × 0.5 = 2.5, room for 2.
  c.advance(90_000);
  assert.deepEqual([wb.take('x'), wb.take('x'), wb.peek('x') > 0], [0, 0, true]);
  // Two windows later nothing is left.
  c.advance(120_000);
  await b.sync();
  assert.equal(wa.take('x'), 0);
  assert.equal(a.stats.syncErrors + b.stats.syncErrors, 0);
  await a.close();
  await b.close();
});

test('a store that fails leaves the decisions local and is counted in /metrics, not thrown', async () => {
  const failing = {
    addRateHits: async () => {
      throw new Error('database down');
    },
    readRateHits: async () => [],
    deleteRateHitsBefore: async () => 0,
  };
  const s = new SharedLimits({ store: failing, intervalMs: 0 });
  const w = s.window('a:', 2, 1000);
  assert.deepEqual([w.take('k'), w.take('k')], [0, 0]);
  await s.sync();
  assert.equal(s.stats.syncErrors, 1);
  assert.ok(w.take('k') >= 1, 'the local count still holds');
  const metrics = new PlatformMetrics();
  metrics.watchLimits(new ClientLimits({ rate: 1, burst: 1, loginPerMinute: 0, shared: s }));
  const { body } = await metrics.render();
  assert.match(body, /securesense_rate_limit_shared_total\{event="sync_error"\} 1/);
});

interface Front {
  base: string;
  coap: string;
}

/** `securesense serve` on `db` (HTTP and coap:// on loopback, any port), killed when the test ends. */
async function serve(t: TestContext, db: string): Promise<Front> {
  const p = await startCli(
    t,
    [
      'serve',
      '--db',
      db,
      '--host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--coap-port',
      '0',
      '--coaps-port',
      'off',
      '--no-poller',
    ],
    { env: { ...process.env, SECURESENSE_LOG_LEVEL: 'warn' } },
  );
  const line = await p.waitFor(/\{"event":"listening"[^\n]*\}/, 20_000);
  const ev = JSON.parse(line) as { http: string; coap?: string | null };
  const port = /:(\d+)$/.exec(String(ev.coap ?? ''))?.[1];
  return { base: ev.http, coap: port ? `coap://127.0.0.1:${port}` : '' };
}

/** The database both processes open: a SQLite file, or a PostgreSQL schema named in the URL. */
function dbOf(tg: EngineTarget): string {
  if (tg.engine === 'sqlite') return tg.db;
  const u = new URL(tg.db);
  u.searchParams.set('options', `-c search_path=${tg.schema}`);
  return u.toString();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many shared-limit syncs a serve process has completed (its /metrics). */
async function syncsOf(base: string): Promise<number> {
  const r = await call(base, 'GET', '/metrics');
  const m = /securesense_rate_limit_shared_total\{event="sync"\} (\d+)/.exec(r.text);
  return Number(m?.[1] ?? 0);
}

/**
 * Waits until the process at `base` has completed two syncs after this call: the second began
 * after the call, so what the process counted before is in the store and what the store held
 * then is in its memory. (A fixed sleep of a few intervals was not enough on a loaded machine.)
 */
async function synced(base: string): Promise<void> {
  const from = await syncsOf(base);
  const deadline = Date.now() + 15_000;
  while ((await syncsOf(base)) < from + 2) {
    if (Date.now() > deadline) throw new Error(`no shared-limit sync at ${base} within 15 s`);
    await sleep(50);
  }
}

for (const engine of ['sqlite', 'postgres'] as const) {
  test(`two serve processes on one ${engine} database: bogus tokens and login guesses spread over both get 429 / 4.29`, async (t) => {
    if (engine === 'postgres' && !PG_URL) return t.skip('SECURESENSE_TEST_PG_URL is not set');
    const tg = await target(t, engine);
    if (!tg) return;
    const db = dbOf(tg);
    const a = await serve(t, db);
    const b = await serve(t, db); // after A: the migrations ran once
    await newUser(a.base, 'alice');

    // Sign-in, across protocols: 6 wrong passwords over HTTP on A, then CoAP on B (10 attempts a
    // minute per address and username).
    for (let i = 0; i < 6; i++) {
      const r = await call(a.base, 'POST', '/login', { body: { username: 'bob', password: `wrong password ${i}` } });
      assert.equal(r.status, 401);
    }
    await synced(a.base);
    const c = client(t);
    const codes: string[] = [];
    let maxAge: number | undefined;
    for (let i = 0; i < 8; i++) {
      const r = await c.post(`${b.coap}/login`, JSON.stringify({ username: 'bob', password: `wrong password ${i}` }), {
        contentFormat: ContentFormat['application/json'],
      });
      codes.push(r.status);
      if (r.status === '4.29') maxAge = r.maxAge;
    }
    t.diagnostic(`CoAP login on B after 6 on A: ${codes.join(' ')}`);
    assert.ok(codes.filter((x) => x === '4.01').length <= 4 + 1, codes.join(' '));
    assert.equal(codes.at(-1), '4.29');
    assert.ok(maxAge !== undefined && maxAge >= 1, `Max-Age ${maxAge}`);

    // Bogus tokens: 40 to A, all 401 (60 failed authentications a minute per address; the ten
    // wrong passwords above were ten of them).
    for (let i = 0; i < 40; i++) {
      assert.equal((await call(a.base, 'GET', '/users/me', { token: `sst_bogusA${i}` })).status, 401);
    }
    await synced(a.base); // A's 40 are in the store
    // 50 to B: per process they would all be 401; shared, only the ten left (plus a refill or two).
    // B last read this address's key during the sign-in above, so its first request marks the key
    // seen and the next sync of B reads back A's hits: wait for it, then the rest.
    const onB = new Map<number, number>();
    const first = await call(b.base, 'GET', '/users/me', { token: 'sst_bogusB' });
    onB.set(first.status, 1);
    await synced(b.base);
    for (let i = 1; i < 50; i++) {
      const r = await call(b.base, 'GET', '/users/me', { token: `sst_bogusB${i}` });
      onB.set(r.status, (onB.get(r.status) ?? 0) + 1);
    }
    t.diagnostic(`B after A: ${JSON.stringify([...onB])}`);
    assert.ok((onB.get(401) ?? 0) <= 10 + 3, JSON.stringify([...onB]));
    assert.ok((onB.get(429) ?? 0) >= 35, JSON.stringify([...onB]));
  });
}

test('two serve processes, a flood spread over both at once: 429s, and fewer 401s than two separate limits allow', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const a = await serve(t, tg.db);
  const b = await serve(t, tg.db);
  const seen = new Map<number, number>();
  // 1 000 bogus tokens, 10 at a time to each process.
  for (let i = 0; i < 1000; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: 20 }, (_, j) =>
        call(j % 2 ? b.base : a.base, 'GET', '/users/me', { token: `sst_bogus${i + j}` }),
      ),
    );
    for (const r of batch) seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
  }
  const unauthorized = seen.get(401) ?? 0;
  t.diagnostic(`401: ${unauthorized}, 429: ${seen.get(429) ?? 0}`);
  // Per process: at least 60 each (120). Shared: 60, the 20 in flight, what both admit before an
  // early sync (25 ms and a query), a refill or two.
  assert.ok(unauthorized <= 105, `${unauthorized} × 401`);
  assert.ok((seen.get(429) ?? 0) >= 850, JSON.stringify([...seen]));
});

/**
 * Group commit of points on both engines: concurrent writers share transactions and every
 * acknowledged point is stored; one bad request among good ones fails alone; a full queue refuses.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { NotFound, Unavailable } from '../../src/platform/errors.ts';
import { httpStatusOf } from '../../src/platform/http/errors.ts';
import { PlatformError, type StreamPoint } from '../../src/platform/model.ts';
import { openStore } from '../../src/platform/store/index.ts';
import { GroupCommit } from '../../src/platform/store/point-batch.ts';
import { bothEngines } from './engines.ts';
import { call, newResource, newStream, newUser, startPlatform } from './helpers.ts';

bothEngines('concurrent raw posts share commits and every acknowledged point is stored', async (t, tg) => {
  const p = await startPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'ann');
  const { rid } = await newResource(p.base, uid, token);
  const R = `/users/${uid}/resources/${rid}`;
  const body = (i: number) => ({ a: { value: i, time: 1_000 + i }, b: { value: -i, time: 1_000 + i } });
  // The first payload creates the two streams (and their parsers) in its own transaction.
  const first = await call(p.base, 'POST', `${R}/data`, { token, body: body(0) });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.created.length, 2);

  const before = p.store.ingestStats();
  const n = 60;
  const replies = await Promise.all(
    Array.from({ length: n }, (_, i) => call(p.base, 'POST', `${R}/data`, { token, body: body(i + 1) })),
  );
  for (const r of replies) {
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stored, 2);
  }
  const after = p.store.ingestStats();
  assert.equal(after.requests - before.requests, n);
  assert.equal(after.points - before.points, 2 * n);
  const [a, b] = first.json.created as Array<{ id: number }>;
  for (const s of [a, b]) {
    const got = await call(p.base, 'GET', `${R}/streams/${s.id}/data?limit=1000`, { token });
    assert.equal(got.json.points.length, n + 1);
  }

  // Writers that arrive while the batch is open share its transaction: fewer commits than writers.
  // (Over HTTP this depends on timing: SQLite commits block the event loop, so sharing shows
  // only under load; the bench prints requests per commit.)
  const mid = p.store.ingestStats();
  const m = 40;
  const stored = await Promise.all(
    Array.from({ length: m }, (_, i) =>
      p.store.insertPoints(
        [
          { streamId: a.id, time: 10_000 + i, value: i },
          { streamId: b.id, time: 10_000 + i, value: i },
        ],
        20_000,
      ),
    ),
  );
  assert.deepEqual(stored, new Array(m).fill(2));
  const end = p.store.ingestStats();
  assert.equal(end.requests - mid.requests, m);
  assert.ok(end.commits - mid.commits < m, `${end.commits - mid.commits} commits for ${m} writers`);
  assert.ok(end.maxRequestsPerCommit > 1);
  assert.equal((await p.store.queryPoints(a.id, { limit: 1000 })).length, n + 1 + m);
});

bothEngines('a bad request among concurrent good ones fails alone', async (t, tg) => {
  const p = await startPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'ann');
  const { rid } = await newResource(p.base, uid, token);
  const { sid } = await newStream(p.base, uid, rid, token, { label: 'n' });
  const D = `/users/${uid}/resources/${rid}/streams/${sid}/data`;

  // Refused before it joins a batch: a text value for a numeric stream.
  const replies = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      call(p.base, 'POST', D, { token, body: i === 7 ? { value: 'warm', time: 5 } : { value: i, time: 100 + i } }),
    ),
  );
  for (const [i, r] of replies.entries()) assert.equal(r.status, i === 7 ? 400 : 200, `request ${i}: ${r.text}`);

  // Failing inside the shared transaction: points for a stream that does not exist break the
  // batch; it is split and only that request fails, the others are committed.
  const good = (i: number): StreamPoint[] => [{ streamId: sid, time: 1_000 + i, value: i }];
  const before = p.store.ingestStats();
  const results = await Promise.allSettled(
    Array.from({ length: 20 }, (_, i) =>
      p.store.insertPoints(i === 3 ? [{ streamId: 999_999, time: 1, value: 1 }] : good(i), 2_000),
    ),
  );
  results.forEach((r, i) => {
    if (i === 3) {
      assert.equal(r.status, 'rejected');
      assert.ok((r as PromiseRejectedResult).reason instanceof NotFound, String((r as PromiseRejectedResult).reason));
    } else assert.deepEqual(r, { status: 'fulfilled', value: 1 });
  });
  const after = p.store.ingestStats();
  assert.ok(after.splitBatches > before.splitBatches, 'the failing batch was split');
  assert.equal(after.failedRequests - before.failedRequests, 1);
  const got = await call(p.base, 'GET', `${D}?limit=1000`, { token });
  assert.equal(got.json.points.length, 29 + 19);
});

bothEngines('points inside a transaction join it and roll back with it', async (t, tg) => {
  const p = await startPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'ann');
  const { rid } = await newResource(p.base, uid, token);
  const { sid } = await newStream(p.base, uid, rid, token, { label: 'n' });
  await assert.rejects(
    p.store.transaction(async (tx) => {
      assert.equal(await tx.insertPoints([{ streamId: sid, time: 1, value: 1 }], 1), 1);
      throw new Error('abort');
    }),
    /abort/,
  );
  assert.deepEqual(await p.store.queryPoints(sid, { limit: 10 }), []);
});

bothEngines('a full queue refuses at once and counts the refusal', async () => {
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const written: number[] = [];
  const gc = new GroupCommit(
    async (points) => {
      await gate;
      for (const pt of points) written.push(pt.time);
    },
    { maxQueuedPoints: 3, maxBatchPoints: 2 },
  );
  const pt = (time: number): StreamPoint[] => [{ streamId: 1, time, value: 0 }];
  const a = gc.submit(pt(1), 0);
  const b = gc.submit(pt(2), 0);
  const c = gc.submit(pt(3), 0);
  await assert.rejects(gc.submit(pt(4), 0), (e: unknown) => e instanceof PlatformError && httpStatusOf(e) === 503);
  assert.equal(gc.stats.refusedRequests, 1);
  release();
  assert.deepEqual(await Promise.all([a, b, c]), [1, 1, 1]);
  assert.deepEqual(written, [1, 2, 3]);
  // Two points a batch at most: two commits.
  assert.equal(gc.stats.commits, 2);
  assert.equal(gc.stats.queuedPoints, 0);
});

test('with two lanes, a second batch commits while the first is still committing', async () => {
  const gates: Array<() => void> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const gc = new GroupCommit(
    async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((r) => gates.push(r));
      inFlight--;
    },
    { lanes: 2 },
  );
  const pt: StreamPoint[] = [{ streamId: 1, time: 1, value: 0 }];
  const a = gc.submit(pt, 0);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r)); // the first batch is committing
  const b = gc.submit(pt, 0);
  while (gates.length < 2) await new Promise((r) => setImmediate(r));
  assert.equal(maxInFlight, 2);
  for (const g of gates) g();
  assert.deepEqual(await Promise.all([a, b]), [1, 1]);
  assert.equal(gc.stats.commits, 2);
});

bothEngines('transactions that read then write succeed while batches of points commit beside them', async (t, tg) => {
  // On SQLite the batches commit on the point writer thread's own connection: a main-connection
  // transaction that read before such a commit and writes after it must wait, not fail.
  const p = await startPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'ann');
  const { rid } = await newResource(p.base, uid, token);
  const { sid } = await newStream(p.base, uid, rid, token, { label: 'bulk' });
  const { sid: other } = await newStream(p.base, uid, rid, token, { label: 'tx' });
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // Spread over time, so that many batches commit while the transactions run.
  const bulk = Array.from({ length: 200 }, async (_, i) => {
    await pause(i / 2);
    return p.store.insertPoints(
      Array.from({ length: 20 }, (_, j) => ({ streamId: sid, time: i * 100 + j, value: j })),
      1,
    );
  });
  const txs = Array.from({ length: 30 }, async (_, i) => {
    await pause(i * 3);
    return p.store.transaction(async (tx) => {
      const seen = await tx.queryPoints(sid, { limit: 1 });
      await pause(5); // let a batch commit between the read and the write
      return tx.insertPoints([{ streamId: other, time: i, value: seen.length }], 1);
    });
  });
  assert.deepEqual(await Promise.all(txs), new Array(30).fill(1));
  assert.deepEqual(await Promise.all(bulk), new Array(200).fill(20));
  assert.equal((await p.store.queryPoints(sid, { limit: 10_000 })).length, 4000);
  assert.equal((await p.store.queryPoints(other, { limit: 100 })).length, 30);
});

test('SQLite: closing the store settles every write in flight, and each acknowledged one is on disk', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-close-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'close.db');
  const s = await openStore({ db: path });
  const u = await s.createUser({ username: 'ann', passwordHash: 'x', tokenHash: 'th', createdAt: 1 });
  const r = await s.createResource({
    ownerId: u.id,
    label: 'r',
    pollingUrl: null,
    pollingPeriod: null,
    keyHash: 'rk',
    createdAt: 2,
  });
  const st = await s.createStream({
    resourceId: r.id,
    label: 'n',
    unit: null,
    type: 'numeric',
    public: false,
    retentionMaxPoints: null,
    retentionMaxAgeMs: null,
    keyHash: 'sk',
    createdAt: 3,
  });
  // The first batch is on the writer thread when close() is called; later ones may be refused.
  const first = s.insertPoints([{ streamId: st.id, time: 0, value: 0 }], 1);
  await new Promise((r) => setImmediate(r));
  const writes = [
    first,
    ...Array.from({ length: 50 }, (_, i) => s.insertPoints([{ streamId: st.id, time: i + 1, value: i }], 1)),
  ];
  const settling = Promise.allSettled(writes);
  await s.close();
  const settled = await settling;
  const acked = settled.flatMap((x, i) => (x.status === 'fulfilled' ? [i] : []));
  for (const x of settled) if (x.status === 'rejected') assert.ok(x.reason instanceof Unavailable, String(x.reason));
  assert.ok(acked.includes(0), 'the write already on the thread was committed before it stopped');
  const again = await openStore({ db: path });
  t.after(() => again.close());
  const times = new Set((await again.queryPoints(st.id, { limit: 100 })).map((p) => p.time));
  for (const i of acked) assert.ok(times.has(i), `acknowledged point ${i} is stored`);
});

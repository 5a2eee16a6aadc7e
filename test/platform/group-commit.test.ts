/**
 * Group commit of points on both engines: concurrent writers share transactions and every
 * acknowledged point is stored; one bad request among good ones fails alone; a full queue refuses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NotFound } from '../../src/platform/errors.ts';
import { PlatformError, type StreamPoint } from '../../src/platform/model.ts';
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
  await assert.rejects(gc.submit(pt(4), 0), (e: unknown) => e instanceof PlatformError && e.status === 503);
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

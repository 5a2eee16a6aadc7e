import assert from 'node:assert/strict';
import { Conflict } from '../../src/platform/errors.ts';
import { openStore, type Store } from '../../src/platform/store/index.ts';
import { bothEngines, type EngineTarget } from './engines.ts';

async function withStore(tg: EngineTarget, fn: (s: Store) => Promise<void>): Promise<void> {
  const store = await openStore({ db: tg.db, schema: tg.schema });
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

async function seed(s: Store) {
  const u = await s.createUser({ username: 'ann', passwordHash: 'x', tokenHash: 'th-ann', createdAt: 1 });
  const r = await s.createResource({
    ownerId: u.id,
    label: 'r',
    pollingUrl: null,
    pollingPeriod: null,
    keyHash: 'rk',
    createdAt: 2,
  });
  const num = await s.createStream({
    resourceId: r.id,
    label: 'temp',
    unit: 'Cel',
    type: 'numeric',
    public: false,
    retentionMaxPoints: null,
    retentionMaxAgeMs: null,
    keyHash: 'sk1',
    createdAt: 3,
  });
  const txt = await s.createStream({
    resourceId: r.id,
    label: 'state',
    unit: null,
    type: 'text',
    public: true,
    retentionMaxPoints: null,
    retentionMaxAgeMs: null,
    keyHash: 'sk2',
    createdAt: 3,
  });
  return { u, r, num, txt };
}

bothEngines('users, resources, streams and parsers round-trip; unique names give a Conflict', async (_t, tg) => {
  await withStore(tg, async (s) => {
    const { u, r, num, txt } = await seed(s);
    assert.deepEqual(await s.getUserByTokenHash('th-ann'), u);
    assert.deepEqual(await s.getUserByUsername('ann'), u);
    await assert.rejects(
      s.createUser({ username: 'ann', passwordHash: 'y', tokenHash: 'other', createdAt: 1 }),
      (e: unknown) => e instanceof Conflict && e.kind === 'conflict',
    );
    assert.equal((await s.updateUser(u.id, { tokenHash: 'th2' }))?.tokenHash, 'th2');
    assert.equal(await s.getUserByTokenHash('th-ann'), undefined);

    assert.deepEqual(await s.getResourceByKeyHash('rk'), r);
    const r2 = await s.updateResource(r.id, { pollingUrl: 'coap://[::1]/x', pollingPeriod: 60 });
    assert.equal(r2?.pollingUrl, 'coap://[::1]/x');
    assert.deepEqual(
      (await s.listPolledResources()).map((x) => x.id),
      [r.id],
    );
    assert.deepEqual(await s.listResources(u.id), [r2]);

    assert.equal(num.public, false);
    assert.equal(txt.public, true);
    assert.deepEqual(
      (await s.listStreams(r.id)).map((x) => x.label),
      ['temp', 'state'],
    );
    assert.equal((await s.updateStream(num.id, { public: true, retentionMaxPoints: 5 }))?.retentionMaxPoints, 5);
    assert.deepEqual(await s.getStreamByKeyHash('sk2'), txt);

    const p = await s.createParser({
      resourceId: r.id,
      streamId: num.id,
      kind: 'json-path',
      expression: '/t',
      timeFormat: 'unix-s',
      createdAt: 4,
    });
    assert.deepEqual(await s.listParsers(r.id), [p]);
    assert.equal((await s.updateParser(p.id, { expression: '/u' }))?.expression, '/u');
    assert.equal(await s.deleteParser(p.id), true);
    assert.equal(await s.deleteParser(p.id), false);
  });
});

bothEngines('points: upsert on (stream, time), range reads, newest-N, deletes, last time', async (_t, tg) => {
  await withStore(tg, async (s) => {
    const { num, txt } = await seed(s);
    const pts = Array.from({ length: 1200 }, (_, i) => ({ streamId: num.id, time: 1_000 + i, value: i * 0.5 }));
    assert.equal(await s.insertPoints([...pts, { streamId: txt.id, time: 5, value: 'on' }], 0), 1201);
    assert.equal(await s.insertPoints([{ streamId: num.id, time: 1_000, value: -1 }], 0), 1);
    const last = await s.queryPoints(num.id, { limit: 3 });
    assert.deepEqual(last, [
      { time: 2_197, value: 598.5 },
      { time: 2_198, value: 599 },
      { time: 2_199, value: 599.5 },
    ]);
    assert.deepEqual(await s.queryPoints(num.id, { from: 1_000, until: 1_001, limit: 100 }), [
      { time: 1_000, value: -1 },
      { time: 1_001, value: 0.5 },
    ]);
    assert.deepEqual(await s.queryPoints(txt.id, { limit: 10 }), [{ time: 5, value: 'on' }]);
    assert.equal((await s.getStream(num.id))?.lastTime, 2_199);
    assert.equal(await s.deletePoints(num.id, { from: 2_100 }), 100);
    assert.equal((await s.getStream(num.id))?.lastTime, 2_099);
    assert.equal(await s.deletePoints(num.id, {}), 1_100);
    assert.equal((await s.getStream(num.id))?.lastTime, null);
  });
});

bothEngines('retention keeps the newest N points and drops old ones by age', async (_t, tg) => {
  await withStore(tg, async (s) => {
    const { num, txt } = await seed(s);
    await s.updateStream(num.id, { retentionMaxPoints: 3 });
    await s.updateStream(txt.id, { retentionMaxAgeMs: 1_000 });
    await s.insertPoints(
      Array.from({ length: 10 }, (_, i) => ({ streamId: num.id, time: i, value: i })),
      0,
    );
    assert.deepEqual(
      (await s.queryPoints(num.id, { limit: 100 })).map((p) => p.time),
      [7, 8, 9],
    );
    await s.insertPoints(
      [
        { streamId: txt.id, time: 8_000, value: 'old' },
        { streamId: txt.id, time: 9_500, value: 'new' },
      ],
      10_000,
    );
    assert.deepEqual(await s.queryPoints(txt.id, { limit: 100 }), [{ time: 9_500, value: 'new' }]);
  });
});

bothEngines('a failing transaction leaves nothing behind', async (_t, tg) => {
  await withStore(tg, async (s) => {
    const { num } = await seed(s);
    await assert.rejects(
      s.transaction(async (tx) => {
        await tx.insertPoints([{ streamId: num.id, time: 1, value: 1 }], 0);
        await tx.createStream({
          resourceId: num.resourceId,
          label: 'x',
          unit: null,
          type: 'numeric',
          public: false,
          retentionMaxPoints: null,
          retentionMaxAgeMs: null,
          keyHash: 'sk1', // duplicate key hash: unique violation inside the transaction
          createdAt: 0,
        });
      }),
      (e: unknown) => e instanceof Conflict && e.kind === 'conflict',
    );
    assert.deepEqual(await s.queryPoints(num.id, { limit: 10 }), []);
    assert.equal((await s.listStreams(num.resourceId)).length, 2);
  });
});

bothEngines('deleting a user cascades to resources, streams, parsers and points', async (_t, tg) => {
  await withStore(tg, async (s) => {
    const { u, r, num } = await seed(s);
    await s.createParser({
      resourceId: r.id,
      streamId: num.id,
      kind: 'regex',
      expression: '(\\d+)',
      timeFormat: 'unix-ms',
      createdAt: 0,
    });
    await s.insertPoints([{ streamId: num.id, time: 1, value: 1 }], 0);
    assert.equal(await s.deleteUser(u.id), true);
    assert.equal(await s.getResource(r.id), undefined);
    assert.equal(await s.getStream(num.id), undefined);
    assert.deepEqual(await s.listParsers(r.id), []);
    assert.deepEqual(await s.queryPoints(num.id, { limit: 10 }), []);
  });
});

bothEngines('migrations are idempotent: reopening keeps the data', async (_t, tg) => {
  await withStore(tg, async (s) => {
    await seed(s);
  });
  await withStore(tg, async (s) => {
    assert.equal((await s.getUserByUsername('ann'))?.username, 'ann');
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemorySessionCache } from '../../src/dtls/cache.ts';
import type { SessionState } from '../../src/dtls/handshake/types.ts';
import { connect } from '../../src/dtls/index.ts';
import { echoServer, IDENTITY, KEY, nextData } from './helpers.ts';

const session = (id: number[]): SessionState => ({
  id: Buffer.from(id),
  masterSecret: Buffer.alloc(48, id[id.length - 1]),
  cipherSuite: 0xc0a8,
  extendedMasterSecret: true,
  identity: { mode: 'psk', identity: 'device' },
  createdAt: Date.now(),
});

test('session cache: IDs that share their first bytes are kept apart, found by their bytes, and evicted oldest first', () => {
  const cache = new MemorySessionCache(3);
  const a = session([1, 2, 3, 4, 5]);
  const b = session([1, 2, 3, 4, 6]); // same first four bytes and length as a: one bucket
  const c = session([9, 9, 9, 9]);
  cache.set(a);
  cache.set(b);
  cache.set(c);
  assert.equal(cache.size, 3);
  assert.deepEqual(cache.get(Buffer.from([1, 2, 3, 4, 5])), a); // a copy: the cache keeps its own packed form
  assert.deepEqual(cache.get(Buffer.from([1, 2, 3, 4, 6])), b);
  assert.equal(cache.get(Buffer.from([1, 2, 3, 4, 7])), undefined);
  assert.deepEqual(cache.get(Buffer.from([1, 2, 3, 4, 5]))?.masterSecret, Buffer.alloc(48, 5));

  cache.set(session([7, 7])); // over the bound: a, the oldest, goes
  assert.equal(cache.size, 3);
  assert.equal(cache.evictions, 1);
  assert.equal(cache.get(Buffer.from([1, 2, 3, 4, 5])), undefined);
  assert.deepEqual(cache.get(Buffer.from([1, 2, 3, 4, 6])), b);

  cache.delete(Buffer.from([1, 2, 3, 4, 6]));
  assert.equal(cache.size, 2);
  assert.equal(cache.get(Buffer.from([1, 2, 3, 4, 6])), undefined);
  cache.set(session([7, 7])); // the same ID again replaces, never duplicates
  assert.equal(cache.size, 2);
});

test('session cache: an entry past its lifetime is not returned', () => {
  const cache = new MemorySessionCache(10, 1000);
  const old = { ...session([5, 5, 5, 5]), createdAt: Date.now() - 2000 };
  cache.set(old);
  assert.equal(cache.get(Buffer.from([5, 5, 5, 5])), undefined);
  assert.equal(cache.size, 0);
});

const idOf = (n: number): Buffer => {
  const id = Buffer.alloc(32);
  id.writeUInt32BE(n, 28); // the first four bytes (the cache's key) are the same for all: one chain
  return id;
};

test('session cache: grows from a small slab to its bound, keeps every session until then, and evicts oldest first after', () => {
  const cache = new MemorySessionCache(1000);
  for (let n = 0; n < 1000; n++) cache.set({ ...session([1]), id: idOf(n), masterSecret: Buffer.alloc(48, n & 0xff) });
  assert.equal(cache.size, 1000);
  for (let n = 0; n < 1000; n += 97) assert.deepEqual(cache.get(idOf(n))?.masterSecret, Buffer.alloc(48, n & 0xff));
  for (let n = 1000; n < 1010; n++) cache.set({ ...session([1]), id: idOf(n) });
  assert.equal(cache.size, 1000);
  for (let n = 0; n < 10; n++)
    assert.equal(cache.get(idOf(n)), undefined, `session ${n}, among the oldest, was evicted`);
  assert.ok(cache.get(idOf(10)), 'the next oldest stays');
  assert.ok(cache.get(idOf(1009)), 'the newest stays');
});

test('session cache: one session stored again and again does not push the others out', () => {
  // Each store of the same ID leaves a dead slot behind; the ring must reclaim them, not evict live ones.
  const cache = new MemorySessionCache(100);
  for (let n = 0; n < 99; n++) cache.set({ ...session([2]), id: idOf(n) });
  const hot = { ...session([3]), id: Buffer.from('hot-session-id') };
  for (let i = 0; i < 10_000; i++) cache.set({ ...hot, createdAt: Date.now() });
  assert.equal(cache.size, 100);
  for (let n = 0; n < 99; n++) assert.ok(cache.get(idOf(n)), `session ${n} is still cached`);
  assert.deepEqual(cache.get(Buffer.from('hot-session-id'))?.identity, hot.identity);
  cache.delete(Buffer.from('hot-session-id'));
  assert.equal(cache.size, 99);
});

test('session cache: what it hands out is a copy, with the suite, the EMS flag and the identity as stored', () => {
  const cache = new MemorySessionCache(4);
  const s: SessionState = {
    id: Buffer.from([4, 4, 4, 4, 4]),
    masterSecret: Buffer.alloc(48, 0xaa),
    cipherSuite: 0xc0ae,
    extendedMasterSecret: false,
    identity: { mode: 'psk', identity: 'dev-42' },
    createdAt: 1_700_000_000_123.5,
  };
  const cache2 = new MemorySessionCache(4, Number.POSITIVE_INFINITY);
  cache2.set(s);
  const got = cache2.get(s.id);
  assert.deepEqual(got, s);
  got?.masterSecret.fill(0); // the caller's copy: the cache's own bytes stay
  assert.deepEqual(cache2.get(s.id)?.masterSecret, Buffer.alloc(48, 0xaa));
  // Longer than a TLS 1.2 session ID (32 bytes): not cached, nor found.
  cache.set({ ...s, id: Buffer.alloc(33, 1) });
  assert.equal(cache.size, 0);
  assert.equal(cache.get(Buffer.alloc(33, 1)), undefined);
  assert.throws(() => new MemorySessionCache(0), RangeError);
});

test('session cache: agrees with a plain bounded Map under random stores, deletes and look-ups', () => {
  // The model: a Map in insertion order (a store moves an ID to the end), the oldest dropped past the bound.
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  for (const bound of [1, 5, 37, 200]) {
    const cache = new MemorySessionCache(bound);
    const model = new Map<number, number>();
    for (let step = 0; step < 20_000; step++) {
      const n = rand(bound * 3); // IDs that share their key (idOf) and come back often
      const op = rand(10);
      if (op < 6) {
        const value = rand(256);
        cache.set({ ...session([1]), id: idOf(n), masterSecret: Buffer.alloc(48, value) });
        model.delete(n);
        model.set(n, value);
        if (model.size > bound) model.delete(model.keys().next().value as number);
      } else if (op < 8) {
        cache.delete(idOf(n));
        model.delete(n);
      } else {
        const want = model.get(n);
        const got = cache.get(idOf(n))?.masterSecret[0];
        assert.equal(got, want, `bound ${bound}, step ${step}: session ${n}`);
      }
      assert.equal(cache.size, model.size, `bound ${bound}, step ${step}: size`);
    }
  }
});

test('session cache at its bound: the oldest session is evicted and counted; resuming it is a full handshake, not a refusal', async (t) => {
  const srv = await echoServer({ sessionCache: new MemorySessionCache(1) });
  t.after(() => srv.server.close());
  const opts = { host: '127.0.0.1', port: srv.port, psk: { identity: IDENTITY, key: KEY } };
  const a = await connect(opts);
  await a.close();
  const b = await connect(opts);
  await b.close();
  assert.equal(srv.server.stats.evictions.sessionCache, 1, "a's session made room for b's");
  const againA = await connect({ ...opts, session: a.session });
  t.after(() => againA.close());
  assert.equal(againA.resumed, false, 'a full handshake instead');
  againA.send(Buffer.from('still served'));
  assert.equal((await nextData(againA)).toString(), 'still served');
  assert.equal(srv.server.stats.evictions.sessionCache, 2, "a's new session made room in turn");
  const againB = await connect({ ...opts, session: b.session });
  t.after(() => againB.close());
  assert.equal(againB.resumed, false, "b's session was evicted by a's new one");
  assert.equal(srv.server.stats.evictions.sessionCache, 3);
});

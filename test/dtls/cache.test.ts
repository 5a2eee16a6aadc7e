import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemorySessionCache } from '../../src/dtls/cache.ts';
import type { SessionState } from '../../src/dtls/handshake/types.ts';

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

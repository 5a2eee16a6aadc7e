/** The admission policy on its own (no sockets): list order, eviction order and reasons, the sweep. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Admission, type AdmissionLimits, type Admitted, type EvictionReason } from '../../src/dtls/admission.ts';
import { LinkedQueue, type ListNode } from '../../src/dtls/lru.ts';

class Peer implements Admitted {
  admission: ListNode<unknown> | undefined = undefined;
  evicted: EvictionReason | undefined;
  settled = false;
  constructor(
    readonly name: string,
    readonly remote = { address: '10.0.0.1' },
  ) {}
  evict(reason: EvictionReason): void {
    this.evicted = reason;
  }
}

const limits = (l: Partial<AdmissionLimits> = {}): AdmissionLimits => ({
  maxSessions: 3,
  maxHandshakes: 3,
  maxHandshakesPerAddress: 2,
  handshakeTimeoutMs: 100,
  idleTimeoutMs: 1000,
  ...l,
});

test('LinkedQueue: push, remove from anywhere, move to tail; size and order follow', () => {
  const q = new LinkedQueue<string>();
  const a = q.push('a', 1);
  const b = q.push('b', 2);
  const c = q.push('c', 3);
  q.moveToTail(a, 4);
  const order = () => {
    const out: string[] = [];
    for (let n = q.head; n; n = n.next) out.push(n.item);
    return out;
  };
  assert.deepEqual(order(), ['b', 'c', 'a']);
  assert.equal(a.at, 4);
  q.remove(c);
  q.remove(c); // twice: no effect
  assert.deepEqual(order(), ['b', 'a']);
  assert.equal(q.size, 2);
  const other = new LinkedQueue<string>();
  other.remove(b); // a node of another queue is left alone
  assert.equal(q.size, 2);
  q.remove(b);
  q.remove(a);
  assert.equal(q.head, undefined);
  assert.equal(q.tail, undefined);
});

test('sessions: the least recently active one is evicted at the cap, and counted', () => {
  const adm = new Admission<Peer>(limits());
  const [p1, p2, p3, p4] = ['1', '2', '3', '4'].map((n) => new Peer(n));
  adm.established(p1, 0);
  adm.established(p2, 1);
  adm.established(p3, 2);
  adm.touch(p1, 3); // p2 is now the idlest
  adm.established(p4, 4);
  assert.equal(p2.evicted, 'sessionCapacity');
  assert.equal(p1.evicted, undefined);
  assert.equal(adm.stats.sessions, 3);
  assert.equal(adm.stats.evictions.sessionCapacity, 1);
});

test('handshakes: per-address cap evicts that address’s oldest; the budget evicts the oldest overall; sessions untouched', () => {
  const adm = new Admission<Peer>(limits());
  const s = new Peer('session', { address: '10.0.0.9' });
  adm.established(s, 0);
  const a1 = new Peer('a1');
  const a2 = new Peer('a2');
  const a3 = new Peer('a3');
  for (const [p, t] of [
    [a1, 1],
    [a2, 2],
  ] as const) {
    adm.makeRoomForHandshake(p.remote.address);
    adm.handshakeStarted(p, t);
  }
  adm.makeRoomForHandshake(a3.remote.address);
  adm.handshakeStarted(a3, 3);
  assert.equal(a1.evicted, 'handshakePerAddress');
  assert.equal(adm.handshakesFrom('10.0.0.1'), 2);
  const b = [1, 2].map((i) => new Peer(`b${i}`, { address: `10.0.1.${i}` }));
  for (const p of b) {
    adm.makeRoomForHandshake(p.remote.address);
    adm.handshakeStarted(p, 4);
  }
  // Budget 3: a2, a3, b1 → b2 pushes out a2 (the oldest).
  assert.equal(a2.evicted, 'handshakeCapacity');
  assert.equal(adm.stats.handshakes, 3);
  assert.equal(s.evicted, undefined);
  // A handshake that completes moves to the sessions.
  adm.established(a3, 5);
  assert.equal(adm.stats.handshakes, 2);
  assert.equal(adm.stats.sessions, 2);
  assert.equal(adm.handshakesFrom('10.0.0.1'), 0);
});

test('sweep: handshake time-out, idle time-out, and settled sessions, oldest first', () => {
  const settled: Peer[] = [];
  const adm = new Admission<Peer>(limits(), { onSettled: (p) => settled.push(p) });
  const h = new Peer('h');
  adm.makeRoomForHandshake(h.remote.address);
  adm.handshakeStarted(h, 0);
  const old = new Peer('old');
  const busy = new Peer('busy');
  adm.established(old, 0);
  adm.established(busy, 50);
  adm.sweep(99);
  assert.equal(h.evicted, undefined);
  adm.sweep(100);
  assert.equal(h.evicted, 'handshakeTimeout');
  assert.deepEqual(settled, [old]);
  adm.sweep(150);
  assert.deepEqual(settled, [old, busy]);
  adm.touch(busy, 900);
  adm.sweep(1000);
  assert.equal(old.evicted, 'sessionIdle');
  assert.equal(busy.evicted, undefined);
  assert.equal(adm.stats.evictions.sessionIdle, 1);
  adm.remove(busy);
  adm.remove(busy);
  assert.equal(adm.stats.sessions, 0);
});

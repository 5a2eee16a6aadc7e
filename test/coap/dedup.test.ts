import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeadlineQueue } from '../../src/coap/deadlines.ts';
import { ARENA_MAX_REPLY, DedupTable } from '../../src/coap/dedup.ts';

interface Peer {
  readonly id: number;
  refs: number;
}

/** A table with a reference model beside it: every find agrees with a plain Map of live entries. */
function tableWithModel(max: number, lifetime = 1000) {
  const forgotten: Peer[] = [];
  const table = new DedupTable<Peer>(max, lifetime, (p) => {
    p.refs--;
    forgotten.push(p);
  });
  return { table, forgotten };
}

test('DedupTable: finds what it holds, evicts the oldest beyond its bound and counts it, across growth', () => {
  const { table } = tableWithModel(3000);
  const peers: Peer[] = Array.from({ length: 7 }, (_, i) => ({ id: i + 1, refs: 0 }));
  const model: Array<[number, number]> = [];
  let added = 0;
  let x = 12345;
  const rnd = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x;
  };
  for (let n = 0; n < 20_000; n++) {
    const peer = peers[rnd() % peers.length];
    const mid = rnd() & 0xffff;
    if (table.find(peer.id, mid) >= 0) continue;
    peer.refs++;
    table.add(peer, mid, 0);
    added++;
    model.push([peer.id, mid]);
    if (model.length > 3000) model.shift();
  }
  assert.equal(table.size, 3000);
  assert.equal(table.stats.evicted, added - 3000);
  assert.ok(table.stats.evicted > 10_000, `${table.stats.evicted} evictions`);
  const live = new Set(model.map(([p, m]) => `${p}|${m}`));
  for (const [p, m] of model) assert.ok(table.find(p, m) >= 0, `live ${p}|${m} not found`);
  // Everything evicted is gone, and the peers' references add up to what is held.
  let absent = 0;
  for (let p = 1; p <= 7; p++)
    for (let m = 0; m < 0x10000; m += 97) {
      if (live.has(`${p}|${m}`)) continue;
      assert.equal(table.find(p, m), -1, `evicted ${p}|${m} still found`);
      absent++;
    }
  assert.ok(absent > 0);
  assert.equal(
    peers.reduce((s, p) => s + p.refs, 0),
    3000,
  );
});

test('DedupTable: entries expire in insertion order and release their peer', () => {
  const { table, forgotten } = tableWithModel(100, 1000);
  const a = { id: 1, refs: 0 };
  const b = { id: 2, refs: 0 };
  table.add(a, 10, 0);
  table.add(b, 10, 500);
  table.sweep(999);
  assert.ok(table.find(1, 10) >= 0);
  table.sweep(1000);
  assert.equal(table.find(1, 10), -1);
  assert.ok(table.find(2, 10) >= 0, 'same MID from another peer is a different entry');
  assert.deepEqual(forgotten, [a]);
  table.sweep(1500);
  assert.equal(table.size, 0);
});

test('DedupTable: replies come back byte for byte; a reused slot ignores a stale reply; big replies are kept whole', () => {
  const { table } = tableWithModel(4);
  const p = { id: 9, refs: 0 };
  const s1 = table.add(p, 1, 0);
  const serial1 = table.serialOf(s1);
  assert.equal(table.reply(s1), undefined, 'no reply yet');
  table.setReply(s1, serial1, Buffer.from('ack-1'));
  assert.equal(table.reply(s1)?.toString(), 'ack-1');
  const big = Buffer.alloc(ARENA_MAX_REPLY + 1, 7);
  const s2 = table.add(p, 2, 0);
  table.setReply(s2, table.serialOf(s2), big);
  assert.ok(table.reply(s2)?.equals(big));
  // Fill the table so that slot s1 is reused; the first exchange's late reply must not land on it.
  for (let m = 3; m <= 6; m++) table.add(p, m, 0);
  assert.equal(table.find(9, 1), -1);
  const reused = table.find(9, 5);
  assert.ok(reused >= 0);
  table.setReply(s1, serial1, Buffer.from('late'));
  assert.equal(table.reply(reused), undefined);
});

test('DedupTable: a reply overwritten in the arena is counted and not replayed, never replaced by other bytes', () => {
  // 1000 entries get an arena of 96 000 bytes; 400 replies of 250 bytes wrap it.
  const { table } = tableWithModel(1000);
  const p = { id: 1, refs: 0 };
  const first = table.add(p, 0, 0);
  table.setReply(first, table.serialOf(first), Buffer.alloc(250, 1));
  for (let m = 1; m < 400; m++) {
    const s = table.add(p, m, 0);
    table.setReply(s, table.serialOf(s), Buffer.alloc(250, m & 0xff));
  }
  // The table holds 1000 entries, but the 96 KB arena only the newest replies.
  assert.equal(table.reply(table.find(1, 0)), undefined);
  assert.equal(table.stats.repliesLost, 1);
  const last = table.reply(table.find(1, 399));
  assert.ok(last?.equals(Buffer.alloc(250, 399 & 0xff)));
});

test('DeadlineQueue: fires in due order on one timer, skips cancelled ones, stops when none is left', async () => {
  const q = new DeadlineQueue();
  const fired: number[] = [];
  const now = Date.now();
  q.add(now + 60, () => fired.push(3));
  q.add(now + 20, () => fired.push(1));
  const dropped = q.add(now + 30, () => fired.push(99));
  q.add(now + 40, () => {
    fired.push(2);
    // A deadline added from a callback runs too.
    q.add(Date.now() + 5, () => fired.push(2.5));
  });
  q.cancel(dropped);
  assert.equal(q.size, 3);
  await new Promise((r) => setTimeout(r, 200));
  // Due order; the deadline added at 2 comes after 2 (before or after 3 depends on how late the timer ran).
  assert.deepEqual(
    fired.filter((x) => x !== 2.5),
    [1, 2, 3],
  );
  assert.ok(fired.indexOf(2.5) > fired.indexOf(2));
  assert.equal(q.size, 0);
  const never = q.add(Date.now() + 10, () => fired.push(100));
  q.cancel(never);
  q.close();
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(fired.length, 4, 'nothing fires after cancel and close');
});

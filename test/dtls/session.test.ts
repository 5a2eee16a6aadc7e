import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecordLayer, ReplayWindow } from '../../src/dtls/session.ts';
import { parseRecords } from '../../src/dtls/wire/record.ts';

test('replay window: fresh, duplicate, inside the window, too old (RFC 6347 §4.1.2.6)', () => {
  const w = new ReplayWindow(64);
  assert.ok(w.check(0));
  w.accept(0);
  assert.equal(w.check(0), false, 'duplicate');
  assert.ok(w.check(5));
  w.accept(5);
  assert.ok(w.check(3), 'a gap below the right edge is still acceptable');
  w.accept(3);
  assert.equal(w.check(3), false);
  w.accept(100);
  assert.equal(w.check(36), false, '100 − 36 = 64: left of the window');
  assert.ok(w.check(37), 'inside the window, never seen');
  assert.equal(w.check(100), false);
  w.accept(37);
  assert.equal(w.check(37), false);
  w.accept(100 + 1000);
  assert.ok(w.check(1099));
  assert.equal(w.check(100), false);
  // 48-bit sequence numbers near the top of the space.
  const big = new ReplayWindow();
  big.accept(2 ** 48 - 2);
  assert.equal(big.check(2 ** 48 - 2), false);
  assert.ok(big.check(2 ** 48 - 1));
});

test('replay window agrees with the definition for random sequences, window sizes 1, 31, 32, 33 and 64', () => {
  // The definition (RFC 6347 §4.1.2.6): fresh when above the highest accepted, or within `size`
  // below it and not accepted before.
  assert.throws(() => new ReplayWindow(65), RangeError);
  // The edge moving by exactly one half (32) or just under or over it.
  for (const step of [31, 32, 33]) {
    const w = new ReplayWindow(64);
    w.accept(10);
    w.accept(11);
    w.accept(11 + step);
    assert.equal(w.check(11 + step - 1), true, `step ${step}: the number below the new edge is unseen`);
    assert.equal(w.check(11), false, `step ${step}: 11 was seen`);
    assert.equal(w.check(10), false, `step ${step}: 10 was seen`);
    assert.equal(w.check(12), true, `step ${step}: 12 is unseen`);
  }
  for (const size of [1, 31, 32, 33, 64]) {
    let state = 0x1234 + size;
    const rnd = (n: number) => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % n;
    };
    const w = new ReplayWindow(size);
    const seen = new Set<number>();
    let top = -1;
    let seq = 2 ** 40; // high numbers: differences, not the numbers, must fit 32 bits
    for (let i = 0; i < 20000; i++) {
      // Mostly small steps forward, some jumps, many looks back into and past the window.
      const r = rnd(10);
      const candidate = r < 5 ? seq + 1 + rnd(3) : r < 6 ? seq + rnd(5 * size) : Math.max(0, top - rnd(size + 8));
      const expected = candidate > top || (top - candidate < size && !seen.has(candidate));
      assert.equal(w.check(candidate), expected, `size ${size}: check(${candidate}) with top ${top}`);
      if (expected && rnd(4) !== 0) {
        w.accept(candidate);
        seen.add(candidate);
        top = Math.max(top, candidate);
        seq = Math.max(seq, candidate);
      }
    }
  }
});

test('record layer: protect/unprotect across epochs, replay and forgery dropped', () => {
  const a = new RecordLayer();
  const b = new RecordLayer();
  const k1 = { key: Buffer.alloc(16, 1), iv: Buffer.alloc(4, 2) };
  const k2 = { key: Buffer.alloc(16, 3), iv: Buffer.alloc(4, 4) };
  a.installKeys(1, k1, k2);
  b.installKeys(1, k2, k1);
  a.writeEpoch = 1;
  const rec = a.protect(23, Buffer.from('data'));
  const [parsed] = parseRecords(rec);
  assert.equal(parsed.epoch, 1);
  assert.equal(b.unprotect(parsed)?.toString(), 'data');
  assert.equal(b.unprotect(parsed), undefined, 'replayed');
  assert.equal(b.lastFailure, 'replay');
  const forged = Buffer.from(a.protect(23, Buffer.from('more')));
  forged[forged.length - 1] ^= 0x55;
  assert.equal(b.unprotect(parseRecords(forged)[0]), undefined);
  assert.equal(b.lastFailure, 'auth');
  // The forged record did not move the window: the genuine one with that number still passes.
  const next = a.protect(23, Buffer.from('after'));
  assert.equal(b.unprotect(parseRecords(next)[0])?.toString(), 'after');
  const epoch0 = a.protect(22, Buffer.from('plain'), 0);
  assert.equal(b.unprotect(parseRecords(epoch0)[0])?.toString(), 'plain');
  assert.equal(b.unprotect({ type: 23, version: 0xfefd, epoch: 7, seq: 0, fragment: Buffer.alloc(30) }), undefined);
  assert.equal(b.lastFailure, 'epoch');
});

test('record layer: epoch 0 dropped once the session writes under epoch 1, which keeps working', () => {
  const a = new RecordLayer();
  const b = new RecordLayer();
  const k1 = { key: Buffer.alloc(16, 5), iv: Buffer.alloc(4, 6) };
  const k2 = { key: Buffer.alloc(16, 7), iv: Buffer.alloc(4, 8) };
  a.installKeys(1, k1, k2);
  b.installKeys(1, k2, k1);
  b.dropPlaintextEpoch(); // still writing epoch 0: nothing is dropped
  assert.equal(b.hasReadEpoch(0), true);
  const plain = a.protect(22, Buffer.from('hello'), 0);
  a.writeEpoch = 1;
  b.writeEpoch = 1;
  b.dropPlaintextEpoch();
  assert.equal(b.hasReadEpoch(0), false);
  assert.equal(b.unprotect(parseRecords(plain)[0]), undefined, 'a plaintext record is refused once epoch 0 is gone');
  assert.equal(b.lastFailure, 'epoch');
  assert.throws(() => b.protect(21, Buffer.from([1, 0]), 0), /no write keys for epoch 0/);
  assert.equal(b.unprotect(parseRecords(a.protect(23, Buffer.from('one')))[0])?.toString(), 'one');
  assert.equal(a.unprotect(parseRecords(b.protect(23, Buffer.from('two')))[0])?.toString(), 'two');
  // The key bytes are the session's own copy: changing the caller's buffers changes nothing.
  k1.key.fill(0);
  k2.key.fill(0);
  assert.equal(b.unprotect(parseRecords(a.protect(23, Buffer.from('three')))[0])?.toString(), 'three');
});

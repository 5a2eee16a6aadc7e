import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomOwnBytes } from '../../../src/dtls/crypto/random.ts';

test('pooled randoms: distinct values in memory of their own, across pool refills', () => {
  const seen = new Set<string>();
  // 400 × 32 bytes crosses the 4 KiB pool three times.
  for (let i = 0; i < 400; i++) {
    const r = randomOwnBytes(32);
    assert.equal(r.length, 32);
    assert.equal(r.buffer.byteLength, 32, 'a value must not keep a shared pool alive');
    const hex = r.toString('hex');
    assert.ok(!seen.has(hex), 'a random value was handed out twice');
    seen.add(hex);
  }
  // Not constant: the bytes of all values together cover most byte values.
  const bytes = new Set(Buffer.from([...seen].join(''), 'hex'));
  assert.ok(bytes.size > 200, `only ${bytes.size} distinct byte values`);
  assert.throws(() => randomOwnBytes(4097), RangeError);
});

import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { newHmacSha256, newSha256, type RunningSha256 } from '../../../src/dtls/crypto/hash.ts';
import { nativePrf } from '../../../src/dtls/crypto/native-prf.ts';
import { HmacSha256, Sha256 } from '../../../src/dtls/crypto/sha256.ts';

/** Pieces of 0–150 bytes, some in pairs, a digest after each: every block boundary is crossed. */
function checkRunning(make: () => RunningSha256, label: string): void {
  for (let trial = 0; trial < 20; trial++) {
    const h = make();
    const reference = createHash('sha256');
    for (let piece = 0; piece < 12; piece++) {
      const a = randomBytes((trial * 7 + piece * 13) % 151);
      if (piece % 3 === 0) {
        const b = randomBytes((piece * 29) % 90);
        h.update(a, b);
        reference.update(a).update(b);
      } else {
        h.update(a);
        reference.update(a);
      }
      const out = Buffer.alloc(40, 0xee);
      h.digestInto(out, 4);
      assert.deepEqual(out.subarray(4, 36), reference.copy().digest(), `${label}: trial ${trial}, piece ${piece}`);
      assert.equal(out[3], 0xee, 'nothing written before the offset');
      assert.equal(out[36], 0xee, 'nothing written after the digest');
    }
  }
}

test('the running SHA-256 (native where built, and the TypeScript one) equals node:crypto piece by piece', () => {
  checkRunning(newSha256, 'newSha256');
  checkRunning(() => new Sha256(), 'TypeScript');
});

test('HMAC-SHA256 under one key (native where built, and the TypeScript one) equals createHmac over any range', () => {
  for (const keyLength of [0, 16, 32, 64, 65, 100]) {
    const key = randomBytes(keyLength);
    const macs = [newHmacSha256(key), new HmacSha256(key)];
    for (const length of [0, 1, 55, 56, 64, 119, 200]) {
      const msg = randomBytes(length + 10);
      const expected = createHmac('sha256', key)
        .update(msg.subarray(5, 5 + length))
        .digest();
      for (const mac of macs) {
        const out = Buffer.alloc(34);
        mac.macRangeInto(msg, 5, 5 + length, out, 2);
        assert.deepEqual(out.subarray(2), expected, `${mac.constructor.name}: key ${keyLength}, ${length} bytes`);
      }
    }
  }
});

test('the native hash functions refuse short states, ranges outside the message and outputs that do not fit', (t) => {
  const n = nativePrf;
  if (!n) {
    t.skip('not built here');
    return;
  }
  assert.ok(n.sha256StateLength >= 100 && n.sha256StateLength <= 200, String(n.sha256StateLength));
  assert.ok(n.hmacStateLength === 2 * n.sha256StateLength, String(n.hmacStateLength));
  const state = Buffer.alloc(n.sha256StateLength);
  const hmac = Buffer.alloc(n.hmacStateLength);
  n.sha256Init(state);
  n.hmacSha256Key(hmac, Buffer.from('key'));
  assert.throws(() => n.sha256Init(Buffer.alloc(n.sha256StateLength - 1)), RangeError);
  assert.throws(() => n.hmacSha256Key(state, Buffer.from('key')), RangeError);
  assert.throws(() => n.sha256DigestInto(state, Buffer.alloc(40), 9), RangeError);
  assert.throws(() => n.sha256DigestInto(state, Buffer.alloc(31), 0), RangeError);
  assert.throws(() => n.sha256Update(state, 'text' as unknown as Buffer, Buffer.alloc(0)), TypeError);
  const msg = Buffer.alloc(10);
  assert.throws(() => n.hmacSha256Into(hmac, msg, 4, 11, Buffer.alloc(32), 0), RangeError);
  assert.throws(() => n.hmacSha256Into(hmac, msg, 6, 5, Buffer.alloc(32), 0), RangeError);
  assert.throws(() => n.hmacSha256Into(hmac, msg, -1, 5, Buffer.alloc(32), 0), TypeError);
  assert.throws(() => n.hmacSha256Into(hmac, msg, 1.5, 5, Buffer.alloc(32), 0), TypeError);
  assert.throws(() => n.hmacSha256Into(hmac, msg, 0, 5, Buffer.alloc(32), 1), RangeError);
  // After the refusals the state is what it was: the digest of nothing.
  const out = Buffer.alloc(32);
  n.sha256DigestInto(state, out, 0);
  assert.deepEqual(out, createHash('sha256').digest());
});

import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { nativePrf } from '../../../src/dtls/crypto/native-prf.ts';

/** P_SHA256 from node:crypto's HMAC, written out as RFC 5246 §5 gives it. */
function reference(secret: Buffer, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let a = createHmac('sha256', secret).update(seed).digest();
  for (let n = 0; n < length; n += 32) {
    out.push(createHmac('sha256', secret).update(a).update(seed).digest());
    a = createHmac('sha256', secret).update(a).digest();
  }
  return Buffer.concat(out).subarray(0, length);
}

test('on Linux the PRF uses the native P_SHA256 unless SECURESENSE_PRF=js', () => {
  if (process.platform !== 'linux' || process.env.SECURESENSE_PRF === 'js') return;
  assert.ok(nativePrf, 'dist/native/prf.node is built (scripts/build-native.mjs)');
});

test('native P_SHA256 equals HMAC-SHA256 written out: secrets of 0–100 bytes (longer than a block is hashed first), empty seeds, 0–100 bytes out', (t) => {
  const n = nativePrf;
  if (!n) {
    t.skip('not built here');
    return;
  }
  for (const secretLength of [0, 1, 16, 48, 64, 65, 100]) {
    for (const length of [0, 1, 12, 32, 33, 40, 48, 100]) {
      const secret = randomBytes(secretLength);
      const label = Buffer.from('key expansion');
      const seed = randomBytes(32);
      const seed2 = randomBytes(length % 2 ? 0 : 32);
      const out = Buffer.alloc(length, 0xee);
      assert.equal(n.pSha256(secret, label, seed, seed2, out), true);
      assert.deepEqual(
        out,
        reference(secret, Buffer.concat([label, seed, seed2]), length),
        `${secretLength}/${length}`,
      );
    }
  }
  assert.throws(
    () => n.pSha256(Buffer.alloc(4), Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(65537)),
    RangeError,
  );
  assert.throws(
    () => n.pSha256('secret' as unknown as Buffer, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(4)),
    TypeError,
  );
});

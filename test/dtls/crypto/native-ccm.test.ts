import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ccm8Decrypt, ccm8Encrypt } from '../../../src/dtls/crypto/ccm.ts';
import { type NativeCcm, nativeCcm } from '../../../src/dtls/crypto/native-ccm.ts';

/** The native cipher; the test fails where it is not built on Linux (CI builds it). */
function native(): NativeCcm {
  assert.ok(nativeCcm, 'dist/native/ccm.node is built (scripts/build-native.mjs)');
  return nativeCcm;
}

test('on Linux the record layer uses the native AES-CCM unless SECURESENSE_CCM=js', () => {
  if (process.platform !== 'linux' || process.env.SECURESENSE_CCM === 'js') return;
  native();
});

test('native AES-128-CCM-8: NIST SP 800-38C example 3, sealed and opened', () => {
  const n = native();
  const key = Buffer.from('404142434445464748494a4b4c4d4e4f', 'hex');
  const nonce = Buffer.from('101112131415161718191a1b', 'hex');
  const aad = Buffer.from('000102030405060708090a0b0c0d0e0f10111213', 'hex');
  const pt = Buffer.from('202122232425262728292a2b2c2d2e2f3031323334353637', 'hex');
  const expected = 'e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5484392fbc1b09951';
  // The key in the middle of a larger buffer, the output at an offset: as the record layer passes them.
  const keys = Buffer.concat([Buffer.from([9, 9, 9]), key, Buffer.from([7, 7, 7, 7])]);
  const out = Buffer.alloc(5 + pt.length + 8);
  assert.equal(n.seal(keys, 3, nonce, aad, pt, out, 5), true);
  assert.equal(out.subarray(5).toString('hex'), expected);
  const back = Buffer.alloc(pt.length);
  assert.equal(n.open(keys, 3, nonce, aad, out, 5, pt.length, back), true);
  assert.deepEqual(back, pt);
});

test('native AES-128-CCM-8 agrees with node:crypto for 0–300-byte records, and refuses every altered bit', () => {
  const n = native();
  for (let len = 0; len <= 300; len += len < 40 ? 1 : 37) {
    const keys = randomBytes(20);
    const nonce = randomBytes(12);
    const aad = randomBytes(13);
    const pt = randomBytes(len);
    const out = Buffer.alloc(len + 8);
    n.seal(keys, 0, nonce, aad, pt, out, 0);
    assert.deepEqual(out, ccm8Encrypt(keys.subarray(0, 16), nonce, aad, pt), `${len} bytes`);
    assert.deepEqual(ccm8Decrypt(keys.subarray(0, 16), nonce, aad, out), pt);
    const back = Buffer.alloc(len);
    assert.equal(n.open(keys, 0, nonce, aad, out, 0, len, back), true);
    assert.deepEqual(back, pt);
    // One flipped bit anywhere in ciphertext or tag, additional data or nonce: refused, and the
    // output holds nothing of the forged plaintext.
    for (const [what, buf] of [
      ['sealed', out],
      ['aad', aad],
      ['nonce', nonce],
    ] as const) {
      const i = (len * 7 + 3) % buf.length;
      buf[i] ^= 0x10;
      const forged = Buffer.alloc(len, 0xaa);
      assert.equal(n.open(keys, 0, nonce, aad, out, 0, len, forged), false, `${what} bit flipped, ${len} bytes`);
      assert.ok(forged.every((b) => b === 0));
      buf[i] ^= 0x10;
    }
    // And the context is fine after a refusal.
    assert.equal(n.open(keys, 0, nonce, aad, out, 0, len, back), true);
  }
});

test('native AES-128-CCM-8: lengths out of range are RangeErrors, not reads or writes past a buffer', () => {
  const n = native();
  const keys = randomBytes(16);
  const nonce = randomBytes(12);
  const aad = randomBytes(13);
  const pt = randomBytes(20);
  assert.throws(() => n.seal(keys, 1, nonce, aad, pt, Buffer.alloc(28), 0), RangeError); // key past the end
  assert.throws(() => n.seal(keys, 0, nonce.subarray(0, 11), aad, pt, Buffer.alloc(28), 0), RangeError);
  assert.throws(() => n.seal(keys, 0, nonce, aad, pt, Buffer.alloc(27), 0), RangeError); // no room for the tag
  assert.throws(() => n.seal(keys, 0, nonce, aad, pt, Buffer.alloc(28), 1), RangeError);
  const sealed = Buffer.alloc(28);
  n.seal(keys, 0, nonce, aad, pt, sealed, 0);
  assert.throws(() => n.open(keys, 0, nonce, aad, sealed, 1, 20, Buffer.alloc(20)), RangeError); // tag past the end
  assert.throws(() => n.open(keys, 0, nonce, aad, sealed, 0, 20, Buffer.alloc(19)), RangeError);
  assert.throws(() => n.open(keys, 0, nonce, aad, sealed, -1, 20, Buffer.alloc(20)), RangeError);
});

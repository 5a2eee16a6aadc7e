import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { HmacSha256, Sha256, sha256 } from '../../../src/dtls/crypto/sha256.ts';

test('SHA-256: FIPS 180-4 examples and node:crypto for every length around the block and padding edges', () => {
  assert.equal(
    sha256(Buffer.from('abc')).toString('hex'),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  assert.equal(
    sha256(Buffer.from('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toString('hex'),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  );
  for (let n = 0; n <= 200; n++) {
    const m = randomBytes(n);
    assert.deepEqual(sha256(m), createHash('sha256').update(m).digest(), `length ${n}`);
  }
});

test('HMAC-SHA256: RFC 4231 case 2 and node:crypto for keys shorter than, equal to and longer than a block', () => {
  const h = new HmacSha256(Buffer.from('Jefe'));
  const out = Buffer.alloc(32);
  h.macInto(Buffer.from('what do ya want for nothing?'), out, 0);
  assert.equal(out.toString('hex'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  for (const keyLength of [0, 1, 16, 32, 36, 48, 63, 64, 65, 132, 200]) {
    const key = randomBytes(keyLength);
    const mac = new HmacSha256(key);
    for (const n of [0, 1, 31, 32, 33, 55, 56, 64, 77, 109, 119, 120, 128, 300]) {
      const m = randomBytes(n);
      const got = Buffer.alloc(40);
      mac.macInto(m, got, 8);
      assert.deepEqual(got.subarray(8), createHmac('sha256', key).update(m).digest(), `key ${keyLength}, message ${n}`);
    }
  }
});

test('incremental SHA-256: any split of the input, with digests taken along the way, equals node:crypto', () => {
  const data = Buffer.alloc(700);
  for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
  // Piece lengths that cross block boundaries in every way (0, below, exactly and beyond 64 bytes).
  for (const pieces of [[0], [1], [12, 77], [55, 9], [63, 1, 64], [64, 64], [100, 3, 200, 12, 129], [700]]) {
    const h = new Sha256();
    const ref = createHash('sha256');
    let off = 0;
    for (const p of pieces) {
      const part = data.subarray(off, off + p);
      off += p;
      h.update(part);
      ref.update(part);
      // A digest in the middle must not disturb what follows.
      assert.deepEqual(h.digest(), ref.copy().digest(), `pieces ${pieces.join(',')} after ${off} bytes`);
    }
  }
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ccm8Decrypt, ccm8Encrypt, ccm8Open } from '../../../src/dtls/crypto/ccm.ts';
import { CCM_MAX_PAYLOAD, CcmContext, CcmContextCache, ccmContexts } from '../../../src/dtls/crypto/ccm-context.ts';
import { nativeCcm } from '../../../src/dtls/crypto/native-ccm.ts';
import { RecordLayer } from '../../../src/dtls/session.ts';
import { parseRecords } from '../../../src/dtls/wire/record.ts';

/** The record layer's node:crypto path runs where the native cipher is not in use; js-path.test.ts runs this file so. */
const JS_PATH_SKIP = nativeCcm ? 'the native record cipher is in use (see js-path.test.ts)' : false;

test('kept-context CCM-8 equals the one-shot cipher, call after call, for every length class', () => {
  const key = randomBytes(16);
  const ctx = new CcmContext(key);
  const lengths = [0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 255, 256, 1000, 1232, CCM_MAX_PAYLOAD];
  for (let round = 0; round < 3; round++) {
    for (const n of lengths) {
      const nonce = randomBytes(12);
      const aad = randomBytes(13);
      const pt = randomBytes(n);
      const expected = ccm8Encrypt(key, nonce, aad, pt);
      const out = Buffer.alloc(n + 8 + 3);
      ctx.seal(nonce, aad, pt, out, 3);
      assert.deepEqual(out.subarray(3), expected, `seal, length ${n}`);
      assert.deepEqual(ctx.open(nonce, aad, expected), pt, `open, length ${n}`);
      assert.deepEqual(ccm8Decrypt(key, nonce, aad, out.subarray(3)), pt);
    }
  }
});

test('keystream computed ahead for consecutive nonces gives the one-shot result, across batches, sizes and epochs', () => {
  const key = randomBytes(16);
  const sealer = new CcmContext(key);
  const opener = new CcmContext(key);
  const salt = randomBytes(4);
  const nonceOf = (epoch: number, seq: number) => {
    const n = Buffer.alloc(12);
    salt.copy(n, 0);
    n.writeUInt16BE(epoch, 4);
    n.writeUIntBE(seq, 6, 6);
    return n;
  };
  // Sequence numbers that cross several batches and the 32-bit boundary, lengths that grow past
  // the batch's spare block and past the batched size, an epoch change, and a gap.
  const plan: Array<[number, number, number]> = [];
  for (let seq = 0; seq < 40; seq++) plan.push([1, seq, [0, 5, 16, 17, 33, 48, 120, 30][seq % 8]]);
  for (let seq = 0xffff_fff0; seq < 0x1_0000_0010; seq++) plan.push([1, seq, 20]);
  for (let seq = 7; seq < 30; seq += 3) plan.push([2, seq, 24]);
  for (const [epoch, seq, n] of plan) {
    const nonce = nonceOf(epoch, seq);
    const aad = randomBytes(13);
    const pt = randomBytes(n);
    const expected = ccm8Encrypt(key, nonce, aad, pt);
    const out = Buffer.alloc(n + 8);
    sealer.seal(nonce, aad, pt, out, 0);
    assert.deepEqual(out, expected, `seal, epoch ${epoch}, seq ${seq}, length ${n}`);
    assert.deepEqual(opener.open(nonce, aad, expected), pt, `open, epoch ${epoch}, seq ${seq}, length ${n}`);
  }
});

test('a forged record under a nonce computed ahead leaves the genuine record openable', () => {
  const key = randomBytes(16);
  const ctx = new CcmContext(key);
  const nonceOf = (seq: number) => Buffer.from(`00000000000100000000000${seq.toString(16)}`.slice(-24), 'hex');
  const aad = randomBytes(13);
  const records = [1, 2, 3, 4].map((seq) => {
    const pt = randomBytes(20);
    return { seq, pt, sealed: ccm8Encrypt(key, nonceOf(seq), aad, pt) };
  });
  assert.deepEqual(ctx.open(nonceOf(1), aad, records[0].sealed), records[0].pt);
  assert.deepEqual(ctx.open(nonceOf(2), aad, records[1].sealed), records[1].pt); // now computed ahead
  const forged = Buffer.from(records[2].sealed);
  forged[0] ^= 0xff;
  assert.equal(ctx.open(nonceOf(3), aad, forged), undefined);
  assert.deepEqual(ctx.open(nonceOf(3), aad, records[2].sealed), records[2].pt);
  assert.deepEqual(ctx.open(nonceOf(4), aad, records[3].sealed), records[3].pt);
});

test('kept-context CCM-8 refuses a changed tag, ciphertext, nonce or additional data, and goes on working', () => {
  const key = randomBytes(16);
  const ctx = new CcmContext(key);
  const nonce = randomBytes(12);
  const aad = randomBytes(13);
  const pt = randomBytes(40);
  const sealed = ccm8Encrypt(key, nonce, aad, pt);
  for (const i of [0, 20, 39, 40, 47]) {
    const bad = Buffer.from(sealed);
    bad[i] ^= 0x01;
    assert.equal(ctx.open(nonce, aad, bad), undefined, `flipped byte ${i}`);
  }
  const otherNonce = Buffer.from(nonce);
  otherNonce[11] ^= 1;
  assert.equal(ctx.open(otherNonce, aad, sealed), undefined);
  const otherAad = Buffer.from(aad);
  otherAad[12] ^= 1;
  assert.equal(ctx.open(nonce, otherAad, sealed), undefined);
  assert.equal(ctx.open(nonce, aad, sealed.subarray(0, 7)), undefined, 'shorter than a tag');
  // Failed checks leave the context consistent: the genuine record still opens.
  assert.deepEqual(ctx.open(nonce, aad, sealed), pt);
});

test('context cache: busy keys get contexts up to capacity; a full cache evicts only idle ones, else refuses (counted)', () => {
  const cache = new CcmContextCache(2, 1000);
  const [a, b, c] = [{}, {}, {}];
  const key = randomBytes(16);
  assert.ok(cache.admit(a, key, 0));
  assert.ok(cache.admit(b, key, 0));
  assert.equal(cache.admit(c, key, 500), undefined, 'both in use: refused');
  assert.equal(cache.stats.refused, 1);
  assert.equal(cache.size, 2);
  assert.ok(cache.get(a, 900), 'a used again at 900');
  // The refusal moved a (the oldest) behind b; at 1600 b (last used at 0) is idle: c replaces it.
  assert.ok(cache.admit(c, key, 1600));
  assert.equal(cache.stats.evicted, 1);
  assert.equal(cache.get(b, 1600), undefined);
  assert.ok(cache.get(c, 1600));
  // Now a (used at 900) is the oldest and still in use at 1700: d is refused and a goes to the back.
  const d = {};
  assert.equal(cache.admit(d, key, 1700), undefined);
  assert.equal(cache.stats.refused, 2);
  assert.ok(cache.get(a, 1700));
  assert.equal(cache.stats.created, 3);
  cache.delete(a);
  assert.equal(cache.size, 1);
});

test('record layer: a busy session moves to a cached context; its records still open with the one-shot cipher', {
  skip: JS_PATH_SKIP,
}, () => {
  const k1 = { key: randomBytes(16), iv: randomBytes(4) };
  const k2 = { key: randomBytes(16), iv: randomBytes(4) };
  const a = new RecordLayer();
  const b = new RecordLayer();
  a.installKeys(1, k1, k2);
  b.installKeys(1, k2, k1);
  a.writeEpoch = 1;
  const created = ccmContexts.stats.created;
  for (let i = 0; i < 40; i++) {
    const pt = i === 0 ? Buffer.alloc(0) : randomBytes(i * 7);
    const [rec] = parseRecords(a.protect(23, pt));
    // The one-shot path (no context) must read what the context path wrote, and vice versa.
    assert.deepEqual(ccm8Open(k1, rec.type, rec.version, rec.epoch, rec.seq, rec.fragment), pt, `record ${i}`);
    assert.deepEqual(b.unprotect(rec), pt);
  }
  assert.ok(ccmContexts.stats.created >= created + 2, 'both directions took a context');
  const size = ccmContexts.size;
  a.release();
  b.release();
  assert.equal(ccmContexts.size, size - 2, 'release gives the contexts back');
});

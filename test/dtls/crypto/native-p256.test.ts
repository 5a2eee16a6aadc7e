import assert from 'node:assert/strict';
import { createECDH, ECDH } from 'node:crypto';
import { test } from 'node:test';
import { ecdhKeyPairFromPrivate, ecdhSharedSecret, generateEcdhKeyPair } from '../../../src/dtls/crypto/ecc.ts';
import { nativeP256 } from '../../../src/dtls/crypto/native-p256.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');
/** RFC 5903 §8.1, the 256-bit random ECP group (P-256): the initiator's and responder's scalars, the responder's point, the shared X. */
const RFC5903 = {
  i: hex('C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433'),
  r: hex('C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53'),
  gr: hex(
    '04 D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63' +
      '56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB',
  ),
  gir: hex('D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE'),
};
/** The order n of P-256's group. */
const ORDER = hex('FFFFFFFF 00000000 FFFFFFFF FFFFFFFF BCE6FAAD A7179E84 F3B9CAC2 FC632551');

test('on Linux ECDHE uses the native P-256 unless SECURESENSE_P256=js', () => {
  if (process.platform !== 'linux' || process.env.SECURESENSE_P256 === 'js') return;
  assert.ok(nativeP256, 'dist/native/p256.node is built (scripts/build-native.mjs)');
});

test('ECDH on P-256: the RFC 5903 §8.1 shared secret, natively and through ecc.ts', (t) => {
  const ours = ecdhKeyPairFromPrivate(RFC5903.i);
  assert.deepEqual(ecdhSharedSecret(ours, RFC5903.gr), RFC5903.gir);
  const n = nativeP256;
  if (!n) {
    t.skip('native module not built here');
    return;
  }
  const out = Buffer.alloc(32);
  assert.equal(n.p256Agree(RFC5903.i, RFC5903.gr, out), true);
  assert.deepEqual(out, RFC5903.gir);
});

test('native P-256 key pairs: the point is the scalar times the generator, and agreements match node:crypto both ways', (t) => {
  const n = nativeP256;
  if (!n) {
    t.skip('not built here');
    return;
  }
  const seen = new Set<string>();
  for (let k = 0; k < 40; k++) {
    const scalar = Buffer.alloc(32);
    const point = Buffer.alloc(65);
    assert.equal(n.p256Keygen(scalar, point), true);
    seen.add(scalar.toString('hex'));
    const same = createECDH('prime256v1');
    same.setPrivateKey(scalar);
    assert.deepEqual(point, same.getPublicKey());
    const peer = createECDH('prime256v1');
    const peerPoint = peer.generateKeys();
    const out = Buffer.alloc(32);
    assert.equal(n.p256Agree(scalar, peerPoint, out), true);
    assert.deepEqual(out, peer.computeSecret(point));
  }
  assert.equal(seen.size, 40, 'fresh scalars');
  // And through ecc.ts: the live key pairs agree with a node:crypto peer.
  const ours = generateEcdhKeyPair();
  const peer = createECDH('prime256v1');
  const peerPoint = peer.generateKeys();
  assert.deepEqual(ecdhSharedSecret(ours, peerPoint), peer.computeSecret(ours.publicPoint));
});

test('native P-256 refuses points off the curve, scalars outside [1, n) and wrong lengths; node:crypto works after', (t) => {
  const n = nativeP256;
  if (!n) {
    t.skip('not built here');
    return;
  }
  const out = Buffer.alloc(32, 0xee);
  const offCurve = Buffer.from(RFC5903.gr);
  offCurve[64] ^= 1;
  const badPrefix = Buffer.from(RFC5903.gr);
  badPrefix[0] = 0x06;
  assert.equal(n.p256Agree(RFC5903.i, offCurve, out), false);
  assert.equal(n.p256Agree(RFC5903.i, badPrefix, out), false);
  assert.equal(n.p256Agree(RFC5903.i, Buffer.alloc(65), out), false);
  assert.equal(n.p256Agree(Buffer.alloc(32), RFC5903.gr, out), false, 'zero scalar');
  assert.equal(n.p256Agree(ORDER, RFC5903.gr, out), false, 'n itself');
  assert.deepEqual(out, Buffer.alloc(32, 0xee), 'nothing written on a refusal');
  assert.throws(() => n.p256Agree(RFC5903.i, RFC5903.gr.subarray(0, 64), out), RangeError);
  assert.throws(() => n.p256Agree(RFC5903.i.subarray(1), RFC5903.gr, out), RangeError);
  assert.throws(() => n.p256Agree(RFC5903.i, RFC5903.gr, Buffer.alloc(31)), RangeError);
  assert.throws(() => n.p256Keygen(Buffer.alloc(32), Buffer.alloc(64)), RangeError);
  assert.throws(() => n.p256Agree('key' as unknown as Buffer, RFC5903.gr, out), TypeError);
  // The refusals left nothing on OpenSSL's error queue for node:crypto to trip over.
  const a = createECDH('prime256v1');
  a.setPrivateKey(RFC5903.i);
  assert.deepEqual(a.computeSecret(RFC5903.gr), RFC5903.gir);
});

test("native P-256 takes EDHOC's X-only keys as compressed points: either sign gives the same X; an X with no point is refused", (t) => {
  const n = nativeP256;
  if (!n) {
    t.skip('not built here');
    return;
  }
  const x = RFC5903.gr.subarray(1, 33);
  for (const prefix of [0x02, 0x03]) {
    const out = Buffer.alloc(32);
    assert.equal(n.p256Agree(RFC5903.i, Buffer.concat([Buffer.from([prefix]), x]), out), true);
    assert.deepEqual(out, RFC5903.gir);
  }
  const out = Buffer.alloc(32, 0xee);
  assert.equal(n.p256Agree(RFC5903.i, Buffer.concat([Buffer.from([0x04]), x]), out), false, '33 bytes with 0x04');
  // The first X from 1 up that is no point's (node:crypto cannot decompress it either).
  let bad = Buffer.alloc(33);
  for (let v = 1; v < 1000; v++) {
    const candidate = Buffer.alloc(33);
    candidate[0] = 0x02;
    candidate.writeUInt16BE(v, 31);
    try {
      ECDH.convertKey(candidate, 'prime256v1', undefined, undefined, 'uncompressed');
    } catch {
      bad = candidate;
      break;
    }
  }
  assert.equal(bad[0], 0x02, 'an X off the curve was found');
  assert.equal(n.p256Agree(RFC5903.i, bad, out), false);
  assert.deepEqual(out, Buffer.alloc(32, 0xee));
  assert.throws(() => n.p256Agree(RFC5903.i, Buffer.alloc(32), out), RangeError);
});

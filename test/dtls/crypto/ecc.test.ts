import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ECDH, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ecdhKeyPairFromPrivate,
  ecdhSharedSecret,
  ecdsaSign,
  ecdsaVerify,
  generateEcdhKeyPair,
  isP256,
  loadPrivateKey,
  loadPublicKey,
  P256_POINT_LENGTH,
  sha256Hex,
  spkiDer,
} from '../../../src/dtls/crypto/ecc.ts';
import { MeteredCrypto } from '../../../src/dtls/crypto/provider.ts';
import { AlertDescription, DtlsAlertError } from '../../../src/dtls/errors.ts';
import type { CryptoOp, DtlsMeter } from '../../../src/dtls/meter.ts';
import { requireBinary } from '../../support/peers.ts';

function countingMeter(): { meter: DtlsMeter; ops: Map<CryptoOp, number> } {
  const ops = new Map<CryptoOp, number>();
  return {
    ops,
    meter: {
      handshakeMessage() {},
      record() {},
      crypto(op, n) {
        ops.set(op, (ops.get(op) ?? 0) + n);
      },
    },
  };
}

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ecc-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('ECDH: both sides derive the same 32-byte secret; meter counts keygen and agree', () => {
  const { meter, ops } = countingMeter();
  const crypto = new MeteredCrypto(meter);
  const a = crypto.ecdhKeygen('client_key_exchange');
  const b = crypto.ecdhKeygen('server_key_exchange');
  assert.equal(a.publicPoint.length, P256_POINT_LENGTH);
  assert.equal(a.publicPoint[0], 0x04);
  const s1 = crypto.ecdhAgree(a, b.publicPoint, 'client_key_exchange');
  const s2 = ecdhSharedSecret(b, a.publicPoint);
  crypto.ecdhAgree(b, a.publicPoint, 'client_key_exchange');
  assert.equal(s1.length, 32);
  assert.deepEqual(s1, s2);
  assert.equal(ops.get('ecdh_keygen'), 2);
  assert.equal(ops.get('ecdh_agree'), 2);
});

test('ECDH: compressed, truncated and off-curve points are refused with illegal_parameter', () => {
  const a = generateEcdhKeyPair();
  const b = generateEcdhKeyPair();
  const compressed = ECDH.convertKey(b.publicPoint, 'prime256v1', undefined, undefined, 'compressed') as Buffer;
  const offCurve = Buffer.from(b.publicPoint);
  offCurve[64] ^= 0x01;
  for (const bad of [compressed, b.publicPoint.subarray(0, 64), offCurve, Buffer.alloc(65)]) {
    assert.throws(
      () => ecdhSharedSecret(a, bad),
      (e: unknown) => e instanceof DtlsAlertError && e.description === AlertDescription.illegal_parameter,
    );
  }
});

test('ECDH agrees with OpenSSL (pkeyutl -derive) on the same keys', (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const dir = tempDir(t);
  // Two OpenSSL-made keys; we load A's private scalar, B's public point, and compare with OpenSSL's derive.
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'a.pem')]);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'b.pem')]);
  execFileSync('openssl', ['ec', '-in', join(dir, 'b.pem'), '-pubout', '-out', join(dir, 'b.pub')], {
    stdio: 'ignore',
  });
  execFileSync('openssl', [
    'pkeyutl',
    '-derive',
    '-inkey',
    join(dir, 'a.pem'),
    '-peerkey',
    join(dir, 'b.pub'),
    '-out',
    join(dir, 'z.bin'),
  ]);
  const expected = readFileSync(join(dir, 'z.bin'));
  const aKey = loadPrivateKey(readFileSync(join(dir, 'a.pem')));
  const d = Buffer.from(aKey.export({ format: 'jwk' }).d!, 'base64url');
  const bPub = loadPublicKey(readFileSync(join(dir, 'b.pub')));
  const jwk = bPub.export({ format: 'jwk' });
  const bPoint = Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  assert.deepEqual(ecdhSharedSecret(ecdhKeyPairFromPrivate(d), bPoint), expected);
});

test('ECDSA: sign/verify round trip, DER form, tampering detected, meter counts', () => {
  const { meter, ops } = countingMeter();
  const crypto = new MeteredCrypto(meter);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const data = Buffer.from('client_random server_random params');
  const sig = crypto.ecdsaSign(privateKey, data, 'server_key_exchange');
  assert.equal(sig[0], 0x30, 'DER SEQUENCE');
  assert.ok(sig.length >= 8 && sig.length <= 72);
  assert.equal(crypto.ecdsaVerify(publicKey, data, sig, 'server_key_exchange'), true);
  assert.equal(ecdsaVerify(publicKey, Buffer.from('other'), sig), false);
  const bad = Buffer.from(sig);
  bad[bad.length - 1] ^= 1;
  assert.equal(ecdsaVerify(publicKey, data, bad), false);
  assert.equal(ecdsaVerify(publicKey, data, Buffer.from([0x30, 0x02, 0x01])), false, 'garbage is false, not a throw');
  assert.equal(ops.get('ecdsa_sign'), 1);
  assert.equal(ops.get('ecdsa_verify'), 1);
});

test('ECDSA interoperates with openssl dgst in both directions', (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const dir = tempDir(t);
  execFileSync('openssl', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-out',
    join(dir, 'k.pem'),
  ]);
  execFileSync('openssl', ['pkey', '-in', join(dir, 'k.pem'), '-pubout', '-out', join(dir, 'k.pub')]);
  const data = Buffer.from('signed params blob');
  writeFileSync(join(dir, 'data'), data);
  // OpenSSL signs, we verify.
  execFileSync('openssl', [
    'dgst',
    '-sha256',
    '-sign',
    join(dir, 'k.pem'),
    '-out',
    join(dir, 'o.sig'),
    join(dir, 'data'),
  ]);
  const pub = loadPublicKey(readFileSync(join(dir, 'k.pub')));
  assert.equal(ecdsaVerify(pub, data, readFileSync(join(dir, 'o.sig'))), true);
  // We sign, OpenSSL verifies.
  writeFileSync(join(dir, 'n.sig'), ecdsaSign(loadPrivateKey(readFileSync(join(dir, 'k.pem'))), data));
  const out = execFileSync('openssl', [
    'dgst',
    '-sha256',
    '-verify',
    join(dir, 'k.pub'),
    '-signature',
    join(dir, 'n.sig'),
    join(dir, 'data'),
  ]).toString();
  assert.match(out, /Verified OK/);
});

test('key loading: PKCS#8 and SEC1, PEM and DER, SPKI PEM and DER; wrong curves refused', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const forms: Array<Buffer | string> = [
    privateKey.export({ type: 'pkcs8', format: 'pem' }),
    privateKey.export({ type: 'sec1', format: 'pem' }),
    privateKey.export({ type: 'pkcs8', format: 'der' }),
    privateKey.export({ type: 'sec1', format: 'der' }),
  ];
  const spki = spkiDer(publicKey);
  for (const f of forms) {
    const k = loadPrivateKey(f);
    assert.ok(isP256(k));
    assert.deepEqual(spkiDer(k), spki, 'public half matches');
  }
  assert.deepEqual(spkiDer(loadPublicKey(spki)), spki);
  assert.deepEqual(spkiDer(loadPublicKey(publicKey.export({ type: 'spki', format: 'pem' }))), spki);
  assert.equal(sha256Hex(spki).length, 64);

  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  assert.throws(() => loadPrivateKey(p384.privateKey.export({ type: 'pkcs8', format: 'pem' })), /P-256/);
  assert.throws(
    () => loadPublicKey(p384.publicKey.export({ type: 'spki', format: 'der' })),
    (e: unknown) => e instanceof DtlsAlertError && e.description === AlertDescription.unsupported_certificate,
  );
  const ed = generateKeyPairSync('ed25519');
  assert.throws(
    () => loadPublicKey(ed.publicKey.export({ type: 'spki', format: 'der' })),
    (e: unknown) => e instanceof DtlsAlertError && e.description === AlertDescription.unsupported_certificate,
  );
  assert.throws(
    () => loadPublicKey(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])),
    (e: unknown) => e instanceof DtlsAlertError && e.description === AlertDescription.bad_certificate,
  );
  assert.throws(() => loadPrivateKey(Buffer.from('not a key')), /cannot read/);
  assert.throws(() => ecdsaSign(p384.privateKey, Buffer.from('x')), /P-256/);
});

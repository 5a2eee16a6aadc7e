import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { ecdsaSign, ecdsaVerify } from '../../../src/dtls/crypto/ecc.ts';
import { DtlsDecodeError } from '../../../src/dtls/errors.ts';
import { encodeCertificateVerify, parseCertificateVerify } from '../../../src/dtls/wire/certificate-verify.ts';
import { ECDSA_SHA256 } from '../../../src/dtls/wire/extensions-ecc.ts';

test('CertificateVerify: algorithm + vec16 signature; a real signature survives the round trip', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const transcript = Buffer.from('handshake messages so far');
  const signature = ecdsaSign(privateKey, transcript);
  const body = encodeCertificateVerify({ algorithm: ECDSA_SHA256, signature });
  assert.deepEqual(body.subarray(0, 4), Buffer.of(4, 3, 0, signature.length));
  const back = parseCertificateVerify(body);
  assert.deepEqual(back.algorithm, ECDSA_SHA256);
  assert.ok(ecdsaVerify(publicKey, transcript, back.signature));
});

test('malformed CertificateVerify bodies are decode errors', () => {
  for (const bad of ['', '04', '0403', '040300', '04030000', '0403000230', '04030001300000']) {
    assert.throws(
      () => parseCertificateVerify(Buffer.from(bad, 'hex')),
      (e) => e instanceof DtlsDecodeError,
      bad,
    );
  }
});

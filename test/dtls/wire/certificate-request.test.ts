import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DtlsDecodeError } from '../../../src/dtls/errors.ts';
import {
  ClientCertificateType,
  ecdsaCertificateRequest,
  encodeCertificateRequest,
  parseCertificateRequest,
} from '../../../src/dtls/wire/certificate-request.ts';

const decodeError = (e: unknown) => e instanceof DtlsDecodeError;

test('CertificateRequest: ecdsa_sign, ecdsa+sha256, CA names; exact bytes and round trip', () => {
  const dn1 = Buffer.from('3011310f300d06035504030c0674657374', 'hex').subarray(0, 19);
  const dn2 = Buffer.from('3000', 'hex');
  const req = ecdsaCertificateRequest([dn1, dn2]);
  const body = encodeCertificateRequest(req);
  const expected = Buffer.concat([
    Buffer.from('0140' + '00020403', 'hex'),
    Buffer.of(0, 2 + dn1.length + 2 + dn2.length),
    Buffer.of(0, dn1.length),
    dn1,
    Buffer.from('00023000', 'hex'),
  ]);
  assert.deepEqual(body, expected);
  const back = parseCertificateRequest(body);
  assert.deepEqual(back.certificateTypes, [ClientCertificateType.ecdsa_sign]);
  assert.deepEqual(back.supportedSignatureAlgorithms, [{ hash: 4, signature: 3 }]);
  assert.deepEqual(back.certificateAuthorities, [dn1, dn2]);
  assert.deepEqual(
    parseCertificateRequest(encodeCertificateRequest(ecdsaCertificateRequest())).certificateAuthorities,
    [],
  );
});

test('malformed CertificateRequest bodies are decode errors', () => {
  for (const bad of [
    '',
    '00' + '00020403' + '0000', // no certificate types
    '0140', // nothing after the types
    '0140' + '0000' + '0000', // empty signature algorithms
    '0140' + '0003040305' + '0000', // odd algorithm list
    '0140' + '00020403', // missing CA list
    '0140' + '00020403' + '0004' + '0000', // CA list too short for its contents
    '0140' + '00020403' + '0002' + '0000', // zero-length DistinguishedName
    '0140' + '00020403' + '0003' + '000131', // DN not a SEQUENCE
    '0140' + '00020403' + '0000' + '00', // trailing byte
    '0540' + '00020403' + '0000', // types length past the end
  ]) {
    assert.throws(() => parseCertificateRequest(Buffer.from(bad, 'hex')), decodeError, bad);
  }
});

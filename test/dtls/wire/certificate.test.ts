import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { DtlsDecodeError } from '../../../src/dtls/errors.ts';
import {
  encodeCertificate,
  isEmptyCertificate,
  MAX_CERTIFICATE_CHAIN,
  parseCertificate,
} from '../../../src/dtls/wire/certificate.ts';
import { CertificateType } from '../../../src/dtls/wire/extensions-ecc.ts';

const decodeError = (e: unknown) => e instanceof DtlsDecodeError;
const fakeCert = (n: number, fill: number) => Buffer.concat([Buffer.of(0x30), Buffer.alloc(n - 1, fill)]);

test('X.509 form: vec24 list of vec24 certs, leaf first, round trip', () => {
  const chain = [fakeCert(5, 1), fakeCert(3, 2)];
  const body = encodeCertificate({ type: 'x509', certificateList: chain });
  assert.deepEqual(body, Buffer.from('00000e' + '000005' + '3001010101' + '000003' + '300202', 'hex'));
  const m = parseCertificate(body, CertificateType.X509);
  assert.equal(m.type, 'x509');
  assert.deepEqual(m.type === 'x509' && m.certificateList, chain);
  assert.ok(isEmptyCertificate(parseCertificate(Buffer.from('000000', 'hex'), CertificateType.X509)));
});

test('RPK form (RFC 7250 §3): a single vec24 SubjectPublicKeyInfo', () => {
  const spki = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({
    type: 'spki',
    format: 'der',
  });
  assert.equal(spki.length, 91);
  const body = encodeCertificate({ type: 'rpk', spki });
  assert.deepEqual(body.subarray(0, 3), Buffer.from('00005b', 'hex'));
  const m = parseCertificate(body, CertificateType.RawPublicKey);
  assert.deepEqual(m, { type: 'rpk', spki });
  // An empty field is a client without a key, not an error.
  const none = parseCertificate(Buffer.from('000000', 'hex'), CertificateType.RawPublicKey);
  assert.ok(isEmptyCertificate(none));
});

test('malformed Certificate bodies are decode errors', () => {
  const x = CertificateType.X509;
  const cases: Array<[string, number]> = [
    ['', x],
    ['0000', x],
    ['000005000002', x], // outer length past the end
    ['000003000000', x], // zero-length ASN.1Cert
    ['00000300000230', x], // inner length past the outer
    ['0000050000013000', x], // trailing byte inside the list
    ['00000400000130ff', x], // trailing byte after the list
    ['00000400000131', x], // not a SEQUENCE
    ['00000230', CertificateType.RawPublicKey], // short
    ['00000131', CertificateType.RawPublicKey], // not a SEQUENCE
    ['0000013000', CertificateType.RawPublicKey], // trailing
    ['000000', 1], // OpenPGP: not supported
  ];
  for (const [hex, type] of cases) {
    assert.throws(() => parseCertificate(Buffer.from(hex, 'hex'), type), decodeError, hex);
  }
  const tooMany = Array.from({ length: MAX_CERTIFICATE_CHAIN + 1 }, (_, i) => fakeCert(2, i));
  const inner = Buffer.concat(tooMany.map((c) => Buffer.concat([Buffer.from('000002', 'hex'), c])));
  const body = Buffer.concat([Buffer.of(0, 0, inner.length), inner]);
  assert.throws(() => parseCertificate(body, x), decodeError);
});

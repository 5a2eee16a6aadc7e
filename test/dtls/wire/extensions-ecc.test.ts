import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DtlsDecodeError } from '../../../src/dtls/errors.ts';
import {
  CertificateType,
  clientCertificateTypeExtension,
  ECDSA_SHA256,
  EXT_CLIENT_CERTIFICATE_TYPE,
  EXT_SERVER_CERTIFICATE_TYPE,
  ecPointFormatsExtension,
  encodeCertificateTypeList,
  encodeSignatureAlgorithms,
  encodeSupportedGroups,
  isEcdsaSha256,
  NamedGroup,
  parseCertificateTypeList,
  parseCertificateTypeSelected,
  parseEcPointFormats,
  parseSignatureAlgorithms,
  parseSupportedGroups,
  selectCertificateType,
  serverCertificateTypeExtension,
  signatureAlgorithmsExtension,
  supportedGroupsExtension,
} from '../../../src/dtls/wire/extensions-ecc.ts';

const decodeError = (e: unknown) => e instanceof DtlsDecodeError;

test('supported_groups: exact bytes, round trip, malformed', () => {
  const ext = supportedGroupsExtension();
  assert.equal(ext.type, 10);
  assert.deepEqual(ext.data, Buffer.from('00020017', 'hex'));
  assert.deepEqual(parseSupportedGroups(encodeSupportedGroups([29, 23, 24])), [29, 23, 24]);
  for (const bad of ['', '00', '0000', '000117', '00030017ff', '0004001700', '000200170000']) {
    assert.throws(() => parseSupportedGroups(Buffer.from(bad, 'hex')), decodeError, bad);
  }
});

test('ec_point_formats: exact bytes, round trip, malformed', () => {
  const ext = ecPointFormatsExtension();
  assert.equal(ext.type, 11);
  assert.deepEqual(ext.data, Buffer.from('0100', 'hex'));
  assert.deepEqual(parseEcPointFormats(Buffer.from('03000102', 'hex')), [0, 1, 2]);
  for (const bad of ['', '00', '0200', '010000']) {
    assert.throws(() => parseEcPointFormats(Buffer.from(bad, 'hex')), decodeError, bad);
  }
});

test('signature_algorithms: ecdsa_secp256r1_sha256 is 0x0403; round trip; malformed', () => {
  const ext = signatureAlgorithmsExtension();
  assert.equal(ext.type, 13);
  assert.deepEqual(ext.data, Buffer.from('00020403', 'hex'));
  const algs = parseSignatureAlgorithms(Buffer.from('0006040305030401', 'hex'));
  assert.deepEqual(algs, [ECDSA_SHA256, { hash: 5, signature: 3 }, { hash: 4, signature: 1 }]);
  assert.ok(isEcdsaSha256(algs[0]) && !isEcdsaSha256(algs[1]));
  assert.deepEqual(parseSignatureAlgorithms(encodeSignatureAlgorithms(algs)), algs);
  for (const bad of ['', '0000', '000104', '00030403ff', '0004040304', '0002040300']) {
    assert.throws(() => parseSignatureAlgorithms(Buffer.from(bad, 'hex')), decodeError, bad);
  }
});

test('certificate types: the client sends a list, the server a single byte (RFC 7250 §4)', () => {
  const c = clientCertificateTypeExtension('client', [CertificateType.RawPublicKey, CertificateType.X509]);
  assert.equal(c.type, EXT_CLIENT_CERTIFICATE_TYPE);
  assert.deepEqual(c.data, Buffer.from('020200', 'hex'));
  const s = serverCertificateTypeExtension('server', CertificateType.RawPublicKey);
  assert.equal(s.type, EXT_SERVER_CERTIFICATE_TYPE);
  assert.deepEqual(s.data, Buffer.from('02', 'hex'));
  assert.deepEqual(parseCertificateTypeList(c.data), [2, 0]);
  assert.equal(parseCertificateTypeSelected(s.data), 2);
  assert.deepEqual(parseCertificateTypeList(encodeCertificateTypeList([0])), [0]);
  // A list where a single byte is expected (and the reverse) is malformed.
  assert.throws(() => parseCertificateTypeSelected(c.data), decodeError);
  assert.throws(() => parseCertificateTypeSelected(Buffer.alloc(0)), decodeError);
  for (const bad of ['', '00', '0302', '010200']) {
    assert.throws(() => parseCertificateTypeList(Buffer.from(bad, 'hex')), decodeError, bad);
  }
  assert.throws(() => clientCertificateTypeExtension('client', [] as number[]), RangeError);
});

test('selectCertificateType follows the client preference; absent means X.509 only', () => {
  assert.equal(selectCertificateType([2, 0], [0, 2]), 2);
  assert.equal(selectCertificateType([0, 2], [2, 0]), 0);
  assert.equal(selectCertificateType([2], [0]), undefined);
  assert.equal(selectCertificateType(undefined, [2, 0]), 0);
  assert.equal(selectCertificateType(undefined, [2]), undefined);
  assert.equal(NamedGroup.secp256r1, 23);
});

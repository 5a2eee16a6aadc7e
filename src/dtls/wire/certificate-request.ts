/**
 * CertificateRequest (RFC 5246 §7.4.4, RFC 8422 §5.5):
 *
 *   ClientCertificateType certificate_types<1..2^8-1>;
 *   SignatureAndHashAlgorithm supported_signature_algorithms<2..2^16-2>;
 *   DistinguishedName certificate_authorities<0..2^16-1>;   opaque DistinguishedName<1..2^16-1>;
 *
 * For the ECDHE_ECDSA suite the server asks for `ecdsa_sign` (64, RFC 8422 §5.5) with
 * ecdsa+sha256, and lists the DER subject names of its trust anchors (empty with RPK, where there
 * are no CAs).
 */
import { DtlsDecodeError } from '../errors.ts';
import { Reader, Writer } from './buffer.ts';
import {
  ECDSA_SHA256,
  readSignatureAlgorithmList,
  type SignatureAndHashAlgorithm,
  writeSignatureAlgorithmList,
} from './extensions-ecc.ts';

/** ClientCertificateType (RFC 5246 §7.4.4, RFC 8422 §5.5). */
export enum ClientCertificateType {
  rsa_sign = 1,
  dss_sign = 2,
  ecdsa_sign = 64,
}

export interface CertificateRequest {
  certificateTypes: number[];
  supportedSignatureAlgorithms: SignatureAndHashAlgorithm[];
  /** DER-encoded X.501 Names, one per acceptable CA. */
  certificateAuthorities: Buffer[];
}

/** The request our server sends: ecdsa_sign, ecdsa_secp256r1_sha256, and the given CA names. */
export function ecdsaCertificateRequest(certificateAuthorities: Buffer[] = []): CertificateRequest {
  return {
    certificateTypes: [ClientCertificateType.ecdsa_sign],
    supportedSignatureAlgorithms: [ECDSA_SHA256],
    certificateAuthorities,
  };
}

export function encodeCertificateRequest(m: CertificateRequest): Buffer {
  if (m.certificateTypes.length === 0) throw new RangeError('certificate_types needs at least one entry');
  const w = new Writer().vec8(Buffer.from(m.certificateTypes));
  writeSignatureAlgorithmList(w, m.supportedSignatureAlgorithms);
  const cas = new Writer();
  for (const dn of m.certificateAuthorities) {
    if (dn.length === 0) throw new RangeError('empty DistinguishedName');
    cas.vec16(dn);
  }
  return w.vec16(cas.finish()).finish();
}

export function parseCertificateRequest(body: Buffer): CertificateRequest {
  const r = new Reader(body, 'certificate_request');
  const certificateTypes = [...r.vec8('certificate_types', 1)];
  const supportedSignatureAlgorithms = readSignatureAlgorithmList(r, 'supported_signature_algorithms');
  const caReader = new Reader(r.vec16('certificate_authorities'), 'certificate_authorities');
  r.end();
  const certificateAuthorities: Buffer[] = [];
  while (caReader.remaining > 0) {
    const dn = caReader.vec16('DistinguishedName', 1);
    if (dn[0] !== 0x30) throw new DtlsDecodeError('certificate_request: DistinguishedName is not a DER SEQUENCE');
    certificateAuthorities.push(dn);
  }
  return { certificateTypes, supportedSignatureAlgorithms, certificateAuthorities };
}

/**
 * Certificate (RFC 5246 §7.4.2, §7.4.6), in both forms RFC 7250 §3 allows:
 *
 *   X.509:        ASN.1Cert certificate_list<0..2^24-1>;   opaque ASN.1Cert<1..2^24-1>;
 *   RawPublicKey: opaque ASN.1_subjectPublicKeyInfo<1..2^24-1>;
 *
 * Which form a message has is not on the wire: it follows from the negotiated certificate type
 * (client_certificate_type / server_certificate_type, RFC 7250 §4), so `parseCertificate` takes it.
 * Leaf first, as sent (RFC 5246 §7.4.2: "The sender's certificate MUST come first in the list").
 * A client with nothing to send answers a CertificateRequest with an empty list (three zero
 * bytes); in the RPK form we read those bytes as "no key" too (`spki` empty) so the server can
 * apply its client-authentication policy (RFC 5246 §7.4.6) rather than fail on decoding.
 */
import { DtlsDecodeError } from '../errors.ts';
import { Reader, Writer } from './buffer.ts';
import { CertificateType } from './extensions-ecc.ts';

/** More certificates than any sane chain has: bounds the work a hostile peer can cause. */
export const MAX_CERTIFICATE_CHAIN = 10;

export type CertificateMessage =
  | { type: 'x509'; certificateList: Buffer[] }
  | {
      type: 'rpk';
      /** The DER SubjectPublicKeyInfo; empty when the client sent no key. */
      spki: Buffer;
    };

export function encodeCertificate(m: CertificateMessage): Buffer {
  if (m.type === 'rpk') return new Writer().vec24(m.spki).finish();
  if (m.certificateList.length > MAX_CERTIFICATE_CHAIN) throw new RangeError('certificate_list too long');
  const inner = new Writer();
  for (const c of m.certificateList) {
    if (c.length === 0) throw new RangeError('empty ASN.1Cert');
    inner.vec24(c);
  }
  return new Writer().vec24(inner.finish()).finish();
}

/** Decodes a Certificate body for the negotiated certificate type (CertificateType.X509 or .RawPublicKey). */
export function parseCertificate(body: Buffer, certificateType: number): CertificateMessage {
  const r = new Reader(body, 'certificate');
  if (certificateType === CertificateType.RawPublicKey) {
    const spki = r.vec24('ASN.1_subjectPublicKeyInfo');
    r.end();
    // A DER SEQUENCE starts 0x30; anything else cannot be an SPKI.
    if (spki.length > 0 && spki[0] !== 0x30) throw new DtlsDecodeError('certificate: RPK is not a DER SEQUENCE');
    return { type: 'rpk', spki };
  }
  if (certificateType !== CertificateType.X509) {
    throw new DtlsDecodeError(`certificate: unknown certificate type ${certificateType}`);
  }
  const list = new Reader(r.vec24('certificate_list'), 'certificate_list');
  r.end();
  const certificateList: Buffer[] = [];
  while (list.remaining > 0) {
    const c = list.vec24('ASN.1Cert', 1);
    if (c[0] !== 0x30) throw new DtlsDecodeError('certificate: ASN.1Cert is not a DER SEQUENCE');
    certificateList.push(c);
    if (certificateList.length > MAX_CERTIFICATE_CHAIN) {
      throw new DtlsDecodeError(`certificate: more than ${MAX_CERTIFICATE_CHAIN} certificates`);
    }
  }
  return { type: 'x509', certificateList };
}

/** True when the message carries nothing (a client declining client authentication). */
export function isEmptyCertificate(m: CertificateMessage): boolean {
  return m.type === 'rpk' ? m.spki.length === 0 : m.certificateList.length === 0;
}

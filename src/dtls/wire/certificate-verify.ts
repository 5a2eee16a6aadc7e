/**
 * CertificateVerify (RFC 5246 §7.4.8): a `digitally-signed` struct (RFC 5246 §4.7), i.e. the
 * SignatureAndHashAlgorithm followed by `opaque signature<0..2^16-1>`. The signature covers every
 * handshake message from ClientHello up to (not including) this one — in DTLS, with the DTLS
 * handshake headers as reassembled (RFC 6347 §4.2.6); the engine's transcript provides that.
 */
import { Reader, Writer } from './buffer.ts';
import {
  readSignatureAndHashAlgorithm,
  type SignatureAndHashAlgorithm,
  writeSignatureAndHashAlgorithm,
} from './extensions-ecc.ts';

export interface CertificateVerify {
  algorithm: SignatureAndHashAlgorithm;
  /** DER Ecdsa-Sig-Value for ECDSA. */
  signature: Buffer;
}

export function encodeCertificateVerify(m: CertificateVerify): Buffer {
  const w = new Writer();
  writeSignatureAndHashAlgorithm(w, m.algorithm);
  return w.vec16(m.signature).finish();
}

export function parseCertificateVerify(body: Buffer): CertificateVerify {
  const r = new Reader(body, 'certificate_verify');
  const algorithm = readSignatureAndHashAlgorithm(r);
  const signature = r.vec16('signature', 1);
  r.end();
  return { algorithm, signature };
}

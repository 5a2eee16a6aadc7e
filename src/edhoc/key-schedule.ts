/**
 * The EDHOC key schedule (RFC 9528 §4): EDHOC_KDF over HKDF-Expand with the CBOR `info`
 * structure, the transcript hashes TH_2/TH_3/TH_4, and the keys each message needs. Pure
 * functions of their inputs, so that the RFC 9529 traces can check every intermediate value.
 */
import { encode, encodeSequence } from '../util/cbor.ts';
import { hash, hkdfExpand, hkdfExtract } from './crypto.ts';
import type { EdhocSuite } from './suites.ts';

/** EDHOC_KDF labels (RFC 9528 §4.1.2, Figure 6). */
export const KdfLabel = {
  keystream2: 0,
  salt3e2m: 1,
  mac2: 2,
  k3: 3,
  iv3: 4,
  salt4e3m: 5,
  mac3: 6,
  prkOut: 7,
  k4: 8,
  iv4: 9,
  prkExporter: 10,
  keyUpdate: 11,
} as const;

/** info = ( label: uint, context: bstr, length: uint ) as a CBOR sequence (RFC 9528 §4.1.2). */
export function kdfInfo(label: number, context: Buffer, length: number): Buffer {
  return encodeSequence([label, context, length]);
}

/** EDHOC_KDF(PRK, info_label, context, length) = HKDF-Expand(PRK, info, length). */
export function edhocKdf(prk: Buffer, label: number, context: Buffer, length: number): Buffer {
  return hkdfExpand(prk, kdfInfo(label, context, length), length);
}

/** TH_2 = H( G_Y, H(message_1) ) (RFC 9528 §5.3.2). */
export function th2(gY: Buffer, message1: Buffer): Buffer {
  return hash(encodeSequence([gY, hash(message1)]));
}

/** TH_3 = H( TH_2, PLAINTEXT_2, CRED_R ); TH_4 = H( TH_3, PLAINTEXT_3, CRED_I ). */
export function nextTh(previous: Buffer, plaintext: Buffer, cred: Buffer): Buffer {
  return hash(Buffer.concat([encode(previous), plaintext, cred]));
}

/** PRK_2e = HKDF-Extract( TH_2, G_XY ) (RFC 9528 §4.1.1.1: the salt is TH_2). */
export function prk2e(th2Value: Buffer, gXY: Buffer): Buffer {
  return hkdfExtract(th2Value, gXY);
}

/** PRK_3e2m: PRK_2e when the Responder signs, else Extract( SALT_3e2m, G_RX ) (§4.1.1.2). */
export function prk3e2m(suite: EdhocSuite, prk2eValue: Buffer, th2Value: Buffer, gRX: Buffer | undefined): Buffer {
  if (!gRX) return prk2eValue;
  return hkdfExtract(edhocKdf(prk2eValue, KdfLabel.salt3e2m, th2Value, suite.hashLength), gRX);
}

/** PRK_4e3m: PRK_3e2m when the Initiator signs, else Extract( SALT_4e3m, G_IY ) (§4.1.1.3). */
export function prk4e3m(suite: EdhocSuite, prk3e2mValue: Buffer, th3Value: Buffer, gIY: Buffer | undefined): Buffer {
  if (!gIY) return prk3e2mValue;
  return hkdfExtract(edhocKdf(prk3e2mValue, KdfLabel.salt4e3m, th3Value, suite.hashLength), gIY);
}

/** K_3/IV_3 from PRK_3e2m and TH_3; K_4/IV_4 from PRK_4e3m and TH_4. */
export function aeadKeys(suite: EdhocSuite, prk: Buffer, th: Buffer, which: 3 | 4): { key: Buffer; iv: Buffer } {
  const [kl, il] = which === 3 ? [KdfLabel.k3, KdfLabel.iv3] : [KdfLabel.k4, KdfLabel.iv4];
  return { key: edhocKdf(prk, kl, th, suite.keyLength), iv: edhocKdf(prk, il, th, suite.ivLength) };
}

/** The COSE Enc_structure used as AAD for message_3/message_4: [ "Encrypt0", h'', TH ]. */
export function encStructure(th: Buffer): Buffer {
  return encode(['Encrypt0', Buffer.alloc(0), th]);
}

/** PRK_out = EDHOC_KDF( PRK_4e3m, 7, TH_4, hash_length ). */
export function prkOut(suite: EdhocSuite, prk4e3mValue: Buffer, th4Value: Buffer): Buffer {
  return edhocKdf(prk4e3mValue, KdfLabel.prkOut, th4Value, suite.hashLength);
}

/** PRK_exporter = EDHOC_KDF( PRK_out, 10, h'', hash_length ) (§4.2.1). */
export function prkExporter(suite: EdhocSuite, prkOutValue: Buffer): Buffer {
  return edhocKdf(prkOutValue, KdfLabel.prkExporter, Buffer.alloc(0), suite.hashLength);
}

/** EDHOC_Exporter( label, context, length ) = EDHOC_KDF( PRK_exporter, label, context, length ). */
export function exporter(prkExporterValue: Buffer, label: number, context: Buffer, length: number): Buffer {
  return edhocKdf(prkExporterValue, label, context, length);
}

/** EDHOC_KeyUpdate( context ): PRK_out = EDHOC_KDF( PRK_out, 11, context, hash_length ) (Appendix H). */
export function keyUpdate(suite: EdhocSuite, prkOutValue: Buffer, context: Buffer): Buffer {
  return edhocKdf(prkOutValue, KdfLabel.keyUpdate, context, suite.hashLength);
}

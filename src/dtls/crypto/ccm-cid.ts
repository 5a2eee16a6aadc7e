/**
 * AES-128-CCM-8 protection of tls12_cid records (RFC 9146 §5). The nonce and the fragment layout
 * are those of every CCM record (RFC 6655 §3: implicit IV ‖ explicit nonce, fragment = explicit
 * nonce ‖ ciphertext ‖ tag); what differs is the additional data, which binds the CID and the
 * length of the DTLSInnerPlaintext (§5.3, "AEAD ciphers"):
 *
 *   seq_num_placeholder (8 × 0xff) ‖ tls12_cid ‖ cid_length ‖ tls12_cid ‖ DTLSCiphertext.version ‖
 *   epoch ‖ sequence_number ‖ cid ‖ length_of_DTLSInnerPlaintext
 *
 * Sealing and opening themselves are ccm.ts's (`sealBody`, `openBody`): on a busy key's kept
 * context, else a one-shot `aes-128-ccm` cipher.
 */
import type { DtlsMeter } from '../meter.ts';
import { writeCidRecordHeader } from '../wire/connection-id.ts';
import { ContentType } from '../wire/record.ts';
import { CCM8_OVERHEAD, EXPLICIT_NONCE_LENGTH, openBody, type PackedKeys, sealBody } from './ccm.ts';
import type { CcmContext } from './ccm-context.ts';

/** Bytes of the CID additional data besides the CID itself. */
export const CID_AAD_FIXED_LENGTH = 23;

/** The additional data of a tls12_cid record (RFC 9146 §5.3). */
export function cidAdditionalData(
  version: number,
  epoch: number,
  seq: number,
  cid: Buffer,
  innerLength: number,
): Buffer {
  const aad = Buffer.allocUnsafe(CID_AAD_FIXED_LENGTH + cid.length);
  aad.fill(0xff, 0, 8);
  aad[8] = ContentType.tls12_cid;
  aad[9] = cid.length;
  // The rest is the tls12_cid record header with the inner plaintext's length in place of the fragment's.
  writeCidRecordHeader(aad, version, epoch, seq, cid, innerLength, 10);
  return aad;
}

function nonceOf(k: PackedKeys, explicit: Buffer): Buffer {
  const n = Buffer.allocUnsafe(12);
  k.bytes.copy(n, 0, k.ivAt, k.ivAt + 4);
  explicit.copy(n, 4, 0, EXPLICIT_NONCE_LENGTH);
  return n;
}

/** AES block operations of one CCM call (for the meter): CBC-MAC over B0, AAD and payload, CTR over payload + tag. */
function ccmBlocks(aadLength: number, length: number): number {
  const payload = Math.ceil(length / 16);
  return 1 + Math.ceil((aadLength + 2) / 16) + payload + payload + 1;
}

/**
 * Seals `inner` (a DTLSInnerPlaintext) into `out` at `off`: explicit nonce (epoch ‖ seq) ‖
 * ciphertext ‖ tag, {@link CCM8_OVERHEAD} bytes more than `inner`.
 */
export function ccm8SealCidInto(
  k: PackedKeys,
  out: Buffer,
  off: number,
  version: number,
  epoch: number,
  seq: number,
  cid: Buffer,
  inner: Buffer,
  meter?: DtlsMeter,
  ctx?: CcmContext,
): void {
  out.writeUInt16BE(epoch, off);
  out.writeUInt16BE(Math.floor(seq / 0x1_0000_0000), off + 2);
  out.writeUInt32BE(seq % 0x1_0000_0000, off + 4);
  const aad = cidAdditionalData(version, epoch, seq, cid, inner.length);
  meter?.crypto('aes_block', ccmBlocks(aad.length, inner.length), undefined, 'record');
  sealBody(k, nonceOf(k, out.subarray(off)), aad, inner, out, off + EXPLICIT_NONCE_LENGTH, ctx);
}

/** The DTLSInnerPlaintext of a tls12_cid record's fragment, or undefined when it does not authenticate. */
export function ccm8OpenCid(
  k: PackedKeys,
  version: number,
  epoch: number,
  seq: number,
  cid: Buffer,
  fragment: Buffer,
  meter?: DtlsMeter,
  ctx?: CcmContext,
): Buffer | undefined {
  if (fragment.length < CCM8_OVERHEAD) return undefined;
  const innerLength = fragment.length - CCM8_OVERHEAD;
  const aad = cidAdditionalData(version, epoch, seq, cid, innerLength);
  meter?.crypto('aes_block', ccmBlocks(aad.length, innerLength), undefined, 'record');
  return openBody(k, nonceOf(k, fragment), aad, fragment, ctx);
}

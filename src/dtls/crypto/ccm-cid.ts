/**
 * AES-128-CCM-8 protection of tls12_cid records (RFC 9146 §5). The nonce and the fragment layout
 * are those of every CCM record (RFC 6655 §3: implicit IV ‖ explicit nonce, fragment = explicit
 * nonce ‖ ciphertext ‖ tag); what differs is the additional data, which binds the CID and the
 * length of the DTLSInnerPlaintext (§5.3, "AEAD ciphers"):
 *
 *   seq_num_placeholder (8 × 0xff) ‖ tls12_cid ‖ cid_length ‖ tls12_cid ‖ DTLSCiphertext.version ‖
 *   epoch ‖ sequence_number ‖ cid ‖ length_of_DTLSInnerPlaintext
 *
 * A busy key's kept context (ccm-context.ts) serves CID records as it serves the others; the
 * one-shot `aes-128-ccm` cipher the rest.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { DtlsMeter } from '../meter.ts';
import { ContentType } from '../wire/record.ts';
import { CCM8_OVERHEAD, CCM8_TAG_LENGTH, EXPLICIT_NONCE_LENGTH, type RecordKeys } from './ccm.ts';
import type { CcmContext } from './ccm-context.ts';

/** Bytes of the CID additional data besides the CID itself. */
export const CID_AAD_FIXED_LENGTH = 23;

/** Zero bytes with memory behind them (see ccm.ts: OpenSSL reads a bare empty update as "set the length"). */
const EMPTY = Buffer.alloc(16).subarray(0, 0);

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
  aad[10] = ContentType.tls12_cid;
  aad.writeUInt16BE(version, 11);
  aad.writeUInt16BE(epoch, 13);
  aad.writeUInt16BE(Math.floor(seq / 0x1_0000_0000), 15);
  aad.writeUInt32BE(seq % 0x1_0000_0000, 17);
  cid.copy(aad, 21);
  aad.writeUInt16BE(innerLength, 21 + cid.length);
  return aad;
}

function nonceOf(iv: Buffer, explicit: Buffer): Buffer {
  const n = Buffer.allocUnsafe(12);
  iv.copy(n, 0, 0, 4);
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
  k: RecordKeys,
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
  if (ctx) {
    ctx.seal(nonceOf(k.iv, out.subarray(off)), aad, inner, out, off + EXPLICIT_NONCE_LENGTH);
    return;
  }
  const c = createCipheriv('aes-128-ccm', k.key, nonceOf(k.iv, out.subarray(off)), {
    authTagLength: CCM8_TAG_LENGTH,
  });
  c.setAAD(aad, { plaintextLength: inner.length });
  const ct = c.update(inner.length === 0 ? EMPTY : inner);
  c.final();
  ct.copy(out, off + EXPLICIT_NONCE_LENGTH);
  c.getAuthTag().copy(out, off + EXPLICIT_NONCE_LENGTH + inner.length);
}

/** The DTLSInnerPlaintext of a tls12_cid record's fragment, or undefined when it does not authenticate. */
export function ccm8OpenCid(
  k: RecordKeys,
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
  if (ctx) return ctx.open(nonceOf(k.iv, fragment), aad, fragment.subarray(EXPLICIT_NONCE_LENGTH));
  try {
    const d = createDecipheriv('aes-128-ccm', k.key, nonceOf(k.iv, fragment), { authTagLength: CCM8_TAG_LENGTH });
    d.setAuthTag(fragment.subarray(fragment.length - CCM8_TAG_LENGTH));
    d.setAAD(aad, { plaintextLength: innerLength });
    const pt = d.update(fragment.subarray(EXPLICIT_NONCE_LENGTH, EXPLICIT_NONCE_LENGTH + innerLength));
    d.final();
    return pt;
  } catch {
    return undefined;
  }
}

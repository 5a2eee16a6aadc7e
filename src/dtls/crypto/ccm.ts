/**
 * AES-128-CCM-8 record protection (RFC 6655 §3, RFC 6347 §4.1.2.1).
 * nonce = client/server_write_IV (4 bytes) + explicit nonce (8 bytes: epoch + 48-bit sequence number);
 * additional_data = seq_num (epoch + sequence, 8 bytes) + type + version + plaintext length.
 * The record fragment is explicit_nonce(8) + ciphertext + tag(8).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { DtlsMeter } from '../meter.ts';

export const CCM8_TAG_LENGTH = 8;
export const EXPLICIT_NONCE_LENGTH = 8;
/** Bytes a protected record adds to its plaintext. */
export const CCM8_OVERHEAD = EXPLICIT_NONCE_LENGTH + CCM8_TAG_LENGTH;

function seqNum(epoch: number, seq: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt16BE(epoch, 0);
  b.writeUIntBE(seq, 2, 6);
  return b;
}

function aad(seqNumber: Buffer, type: number, version: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(13);
  seqNumber.copy(b, 0);
  b[8] = type;
  b.writeUInt16BE(version, 9);
  b.writeUInt16BE(length, 11);
  return b;
}

/** AES block operations of one CCM call: CBC-MAC over B0, the AAD blocks and the payload, CTR over payload + tag. */
function ccmBlocks(aadLength: number, length: number): number {
  const payload = Math.ceil(length / 16);
  return 1 + Math.ceil((aadLength + 2) / 16) + payload + payload + 1;
}

/** AES-128-CCM with an 8-byte tag: ciphertext ‖ tag. The primitive under the record protection (NIST SP 800-38C). */
export function ccm8Encrypt(key: Buffer, nonce: Buffer, additionalData: Buffer, plaintext: Buffer): Buffer {
  const c = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: CCM8_TAG_LENGTH });
  c.setAAD(additionalData, { plaintextLength: plaintext.length });
  const ct = c.update(plaintext);
  c.final();
  return Buffer.concat([ct, c.getAuthTag()]);
}

/** Inverse of {@link ccm8Encrypt}; undefined when the tag does not verify. */
export function ccm8Decrypt(key: Buffer, nonce: Buffer, additionalData: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < CCM8_TAG_LENGTH) return undefined;
  const ct = sealed.subarray(0, sealed.length - CCM8_TAG_LENGTH);
  try {
    const d = createDecipheriv('aes-128-ccm', key, nonce, { authTagLength: CCM8_TAG_LENGTH });
    d.setAuthTag(sealed.subarray(sealed.length - CCM8_TAG_LENGTH));
    d.setAAD(additionalData, { plaintextLength: ct.length });
    const pt = d.update(ct);
    d.final();
    return pt;
  } catch {
    return undefined;
  }
}

export interface RecordKeys {
  key: Buffer;
  iv: Buffer;
}

export function ccm8Seal(
  k: RecordKeys,
  type: number,
  version: number,
  epoch: number,
  seq: number,
  plaintext: Buffer,
  meter?: DtlsMeter,
): Buffer {
  const explicit = seqNum(epoch, seq);
  const nonce = Buffer.concat([k.iv, explicit]);
  const sealed = ccm8Encrypt(k.key, nonce, aad(explicit, type, version, plaintext.length), plaintext);
  meter?.crypto('aes_block', ccmBlocks(13, plaintext.length), undefined, 'record');
  return Buffer.concat([explicit, sealed]);
}

/** Returns the plaintext, or undefined when the record does not authenticate (to be dropped silently). */
export function ccm8Open(
  k: RecordKeys,
  type: number,
  version: number,
  epoch: number,
  seq: number,
  fragment: Buffer,
  meter?: DtlsMeter,
): Buffer | undefined {
  if (fragment.length < CCM8_OVERHEAD) return undefined;
  const explicit = fragment.subarray(0, EXPLICIT_NONCE_LENGTH);
  const sealed = fragment.subarray(EXPLICIT_NONCE_LENGTH);
  const ctLength = sealed.length - CCM8_TAG_LENGTH;
  // The explicit nonce is whatever the sender chose (RFC 6655 §3 only asks that it never repeat);
  // the record's own epoch and sequence number enter through the additional data.
  const nonce = Buffer.concat([k.iv, explicit]);
  meter?.crypto('aes_block', ccmBlocks(13, ctLength), undefined, 'record');
  return ccm8Decrypt(k.key, nonce, aad(seqNum(epoch, seq), type, version, ctLength), sealed);
}

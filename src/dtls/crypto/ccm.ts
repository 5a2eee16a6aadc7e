/**
 * AES-128-CCM-8 record protection (RFC 6655 §3, RFC 6347 §4.1.2.1).
 * nonce = client/server_write_IV (4 bytes) + explicit nonce (8 bytes: epoch + 48-bit sequence number);
 * additional_data = seq_num (epoch + sequence, 8 bytes) + type + version + plaintext length.
 * The record fragment is explicit_nonce(8) + ciphertext + tag(8).
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import type { DtlsMeter } from '../meter.ts';
import type { CcmContext } from './ccm-context.ts';
import { nativeCcm } from './native-ccm.ts';

export const CCM8_TAG_LENGTH = 8;
export const EXPLICIT_NONCE_LENGTH = 8;
/** Bytes a protected record adds to its plaintext. */
export const CCM8_OVERHEAD = EXPLICIT_NONCE_LENGTH + CCM8_TAG_LENGTH;

/**
 * Scratch space for one record's nonce and additional data. Record protection runs synchronously
 * and node:crypto copies both on use, so one pair serves every association without allocating.
 */
const NONCE = Buffer.alloc(12);
/**
 * Zero bytes with memory behind them: OpenSSL's CCM reads an update with no data pointer (what a
 * zero-length Buffer without a backing store passes) as "set the length", and final() then fails.
 */
const EMPTY = Buffer.alloc(16).subarray(0, 0);
const AAD = Buffer.alloc(13);

/**
 * The AES key as a secret KeyObject for the one-shot cipher. node:crypto checks a raw Buffer key
 * by trying it as a KeyObject and as a CryptoKey, each try ending in a caught exception: on
 * Node 24 that made `createCipheriv` with a Buffer key cost about 4× as much as with a KeyObject
 * (16 µs against 4 µs here, `createSecretKey` 0.8 µs). Not kept with the keys: a KeyObject per
 * direction added ~435 bytes to every idle session (`bench dtls --sessions`). Instead the keys
 * that protected a record lately keep theirs in a small bounded cache ({@link KeyObjectCache}):
 * a handshake's keys protect two records each (Finished, then the close_notify or the first
 * application record), and made a KeyObject for both.
 */
export class KeyObjectCache {
  /** In insertion order: the first entry is the one evicted when full. */
  private readonly keys = new Map<PackedKeys, KeyObject>();

  constructor(readonly capacity = 256) {}

  get size(): number {
    return this.keys.size;
  }

  /** The KeyObject of `k`'s key, made on first use (the owner is the record layer's key state). */
  of(k: PackedKeys): KeyObject {
    let o = this.keys.get(k);
    if (o === undefined) {
      o = createSecretKey(keyOf(k));
      if (this.keys.size >= this.capacity) {
        const oldest = this.keys.keys().next();
        if (!oldest.done) this.keys.delete(oldest.value);
      }
      this.keys.set(k, o);
    }
    return o;
  }

  /** Forgets `k`'s KeyObject (its keys are replaced or gone). */
  delete(k: PackedKeys): void {
    this.keys.delete(k);
  }
}

/** The process's cache: at most 256 KeyObjects (~110 KB), shared by every endpoint. */
export const keyObjects = new KeyObjectCache();

/** Writes seq_num (epoch ‖ 48-bit sequence number, RFC 6347 §4.1.2.1) at `off`. */
function writeSeqNum(b: Buffer, off: number, epoch: number, seq: number): void {
  b.writeUInt16BE(epoch, off);
  b.writeUInt16BE(Math.floor(seq / 0x1_0000_0000), off + 2);
  b.writeUInt32BE(seq % 0x1_0000_0000, off + 4);
}

/** Fills AAD: seq_num ‖ type ‖ version ‖ plaintext length (RFC 5246 §6.2.3.3). */
function fillAad(epoch: number, seq: number, type: number, version: number, length: number): Buffer {
  writeSeqNum(AAD, 0, epoch, seq);
  AAD[8] = type;
  AAD.writeUInt16BE(version, 9);
  AAD.writeUInt16BE(length, 11);
  return AAD;
}

/** Fills NONCE: the implicit IV (4 bytes) ‖ the explicit nonce (8 bytes) from `src` at `off`. */
function fillNonce(k: PackedKeys, src: Buffer, off: number): Buffer {
  k.bytes.copy(NONCE, 0, k.ivAt, k.ivAt + 4);
  src.copy(NONCE, 4, off, off + EXPLICIT_NONCE_LENGTH);
  return NONCE;
}

/** AES block operations of one CCM call: CBC-MAC over B0, the AAD blocks and the payload, CTR over payload + tag. */
function ccmBlocks(aadLength: number, length: number): number {
  const payload = Math.ceil(length / 16);
  return 1 + Math.ceil((aadLength + 2) / 16) + payload + payload + 1;
}

/** AES-128-CCM with an 8-byte tag: ciphertext ‖ tag. The primitive under the record protection (NIST SP 800-38C). */
export function ccm8Encrypt(key: Buffer, nonce: Buffer, additionalData: Buffer, plaintext: Buffer): Buffer {
  const c = createCipheriv('aes-128-ccm', createSecretKey(key), nonce, { authTagLength: CCM8_TAG_LENGTH });
  c.setAAD(additionalData, { plaintextLength: plaintext.length });
  const ct = c.update(plaintext.length === 0 ? EMPTY : plaintext);
  c.final();
  return Buffer.concat([ct, c.getAuthTag()]);
}

/** Inverse of {@link ccm8Encrypt}; undefined when the tag does not verify. */
export function ccm8Decrypt(key: Buffer, nonce: Buffer, additionalData: Buffer, sealed: Buffer): Buffer | undefined {
  if (sealed.length < CCM8_TAG_LENGTH) return undefined;
  const ct = sealed.subarray(0, sealed.length - CCM8_TAG_LENGTH);
  try {
    const d = createDecipheriv('aes-128-ccm', createSecretKey(key), nonce, { authTagLength: CCM8_TAG_LENGTH });
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

/**
 * A direction's key and implicit IV as places in one buffer: the key is `bytes[keyAt, ivAt)`, the
 * IV the 4 bytes at `ivAt`. The record layer keeps both directions' keys in one allocation this
 * way, without a Buffer view per key and IV (~100 bytes each on an idle session).
 */
export interface PackedKeys {
  bytes: Buffer;
  keyAt: number;
  ivAt: number;
}

/** The key of `k` (a view made on use: the one-shot cipher and a new CCM context take it). */
export function keyOf(k: PackedKeys): Buffer {
  return k.bytes.subarray(k.keyAt, k.ivAt);
}

/** `k` packed into one buffer of its own. */
export function packKeys(k: RecordKeys): PackedKeys {
  return { bytes: Buffer.concat([k.key, k.iv]), keyAt: 0, ivAt: k.key.length };
}

/**
 * Seals `plaintext` into `out` at `off`: explicit nonce (epoch ‖ seq) ‖ ciphertext ‖ tag, which is
 * {@link CCM8_OVERHEAD} bytes more than the plaintext. The record layer allocates `out` once with
 * room for the record header in front, so that a record costs one buffer.
 */
export function ccm8SealInto(
  k: PackedKeys,
  out: Buffer,
  off: number,
  type: number,
  version: number,
  epoch: number,
  seq: number,
  plaintext: Buffer,
  meter?: DtlsMeter,
  ctx?: CcmContext,
): void {
  writeSeqNum(out, off, epoch, seq);
  const nonce = fillNonce(k, out, off);
  const aad = fillAad(epoch, seq, type, version, plaintext.length);
  meter?.crypto('aes_block', ccmBlocks(13, plaintext.length), undefined, 'record');
  sealBody(k, nonce, aad, plaintext, out, off + EXPLICIT_NONCE_LENGTH, ctx);
}

/**
 * Writes ciphertext ‖ tag of `plaintext` into `out` at `at`: on the kept context when given one,
 * else with a one-shot cipher. The part of record protection that does not depend on how the
 * nonce and additional data are made (plain records here, tls12_cid records in ccm-cid.ts).
 */
export function sealBody(
  k: PackedKeys,
  nonce: Buffer,
  aad: Buffer,
  plaintext: Buffer,
  out: Buffer,
  at: number,
  ctx?: CcmContext,
): void {
  if (nativeCcm) {
    if (!nativeCcm.seal(k.bytes, k.keyAt, nonce, aad, plaintext, out, at)) throw new Error('AES-CCM seal failed');
    return;
  }
  if (ctx) {
    ctx.seal(nonce, aad, plaintext, out, at);
    return;
  }
  const c = createCipheriv('aes-128-ccm', keyObjects.of(k), nonce, { authTagLength: CCM8_TAG_LENGTH });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const ct = c.update(plaintext.length === 0 ? EMPTY : plaintext);
  c.final();
  ct.copy(out, at);
  c.getAuthTag().copy(out, at + plaintext.length);
}

/** The record fragment for `plaintext`: explicit nonce ‖ ciphertext ‖ tag (RFC 6655 §3). */
export function ccm8Seal(
  k: RecordKeys,
  type: number,
  version: number,
  epoch: number,
  seq: number,
  plaintext: Buffer,
  meter?: DtlsMeter,
): Buffer {
  const out = Buffer.allocUnsafe(plaintext.length + CCM8_OVERHEAD);
  const packed = packKeys(k);
  ccm8SealInto(packed, out, 0, type, version, epoch, seq, plaintext, meter);
  keyObjects.delete(packed);
  return out;
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
  const packed = packKeys(k);
  const pt = ccm8OpenPacked(packed, type, version, epoch, seq, fragment, meter);
  keyObjects.delete(packed);
  return pt;
}

/** {@link ccm8Open} with the record layer's {@link PackedKeys}, on a cached CCM context when given one. */
export function ccm8OpenPacked(
  k: PackedKeys,
  type: number,
  version: number,
  epoch: number,
  seq: number,
  fragment: Buffer,
  meter?: DtlsMeter,
  ctx?: CcmContext,
): Buffer | undefined {
  if (fragment.length < CCM8_OVERHEAD) return undefined;
  const ctLength = fragment.length - CCM8_OVERHEAD;
  meter?.crypto('aes_block', ccmBlocks(13, ctLength), undefined, 'record');
  // The explicit nonce is whatever the sender chose (RFC 6655 §3 only asks that it never repeat);
  // the record's own epoch and sequence number enter through the additional data.
  return openBody(k, fillNonce(k, fragment, 0), fillAad(epoch, seq, type, version, ctLength), fragment, ctx);
}

/**
 * The plaintext of a record fragment (explicit nonce ‖ ciphertext ‖ tag, at least
 * {@link CCM8_OVERHEAD} bytes), or undefined when the tag does not verify: the counterpart of
 * {@link sealBody}.
 */
export function openBody(
  k: PackedKeys,
  nonce: Buffer,
  aad: Buffer,
  fragment: Buffer,
  ctx?: CcmContext,
): Buffer | undefined {
  const ctLength = fragment.length - CCM8_OVERHEAD;
  if (nativeCcm) {
    const pt = Buffer.allocUnsafe(ctLength);
    return nativeCcm.open(k.bytes, k.keyAt, nonce, aad, fragment, EXPLICIT_NONCE_LENGTH, ctLength, pt) ? pt : undefined;
  }
  if (ctx) return ctx.open(nonce, aad, fragment.subarray(EXPLICIT_NONCE_LENGTH));
  try {
    const d = createDecipheriv('aes-128-ccm', keyObjects.of(k), nonce, { authTagLength: CCM8_TAG_LENGTH });
    d.setAuthTag(fragment.subarray(fragment.length - CCM8_TAG_LENGTH));
    d.setAAD(aad, { plaintextLength: ctLength });
    const pt = d.update(fragment.subarray(EXPLICIT_NONCE_LENGTH, EXPLICIT_NONCE_LENGTH + ctLength));
    d.final();
    return pt;
  } catch {
    return undefined;
  }
}

/**
 * The OSCORE option value (RFC 8613 §6.1), option number 9. Pure codec.
 *
 *   byte 0: flags  0 | 0 | 0 | h | k | n n n     (bit 7 extension, bits 6–5 reserved)
 *   n bytes Partial IV (n = 0..5; 6 and 7 are reserved)
 *   if h: 1 byte s, then s bytes kid context
 *   if k: the rest is the kid
 *
 * A value whose flags are all zero is empty (§6.1: "the OSCORE option value SHALL be empty"); a
 * one-byte value 0x00 is therefore refused, as are reserved bits, a Partial IV with leading zero
 * bytes and any length that does not add up.
 */
import { OscoreError } from './errors.ts';

export const OSCORE_OPTION = 9;
/** Largest Partial IV, in bytes (§6.1: n = 6 and 7 are reserved). */
export const MAX_PIV_LENGTH = 5;

export interface OscoreOptionValue {
  /** Partial IV, 1–5 bytes, without leading zero bytes except the single byte 0x00. */
  partialIv?: Buffer;
  kidContext?: Buffer;
  kid?: Buffer;
}

const EMPTY = Buffer.alloc(0);

function malformed(why: string): never {
  throw new OscoreError('malformed', `OSCORE option: ${why}`);
}

/** Decodes an OSCORE option value; throws {@link OscoreError} `malformed` on any fault. */
export function decodeOscoreOption(v: Buffer): OscoreOptionValue {
  if (v.length === 0) return {};
  const flags = v[0];
  if (flags & 0x80) malformed('extension flag bit set (no extension is defined)');
  if (flags & 0x60) malformed(`reserved flag bits set (0x${flags.toString(16)})`);
  if (flags === 0) malformed('flags are all zero but the value is not empty');
  const n = flags & 0x07;
  if (n > MAX_PIV_LENGTH) malformed(`Partial IV length ${n} is reserved`);
  let off = 1;
  const out: OscoreOptionValue = {};
  if (n > 0) {
    if (off + n > v.length) malformed(`Partial IV of ${n} bytes truncated (${v.length - off} left)`);
    const piv = v.subarray(off, off + n);
    if (n > 1 && piv[0] === 0) malformed('Partial IV has a leading zero byte');
    out.partialIv = piv;
    off += n;
  }
  if (flags & 0x10) {
    if (off >= v.length) malformed('kid context length missing');
    const s = v[off++];
    if (off + s > v.length) malformed(`kid context of ${s} bytes truncated (${v.length - off} left)`);
    out.kidContext = v.subarray(off, off + s);
    off += s;
  }
  if (flags & 0x08) {
    out.kid = off === v.length ? EMPTY : v.subarray(off);
    off = v.length;
  }
  if (off !== v.length) malformed(`${v.length - off} bytes after the fields the flags announce`);
  return out;
}

/** Encodes an OSCORE option value. Throws `RangeError` on values that cannot be sent. */
export function encodeOscoreOption(o: OscoreOptionValue): Buffer {
  const piv = o.partialIv ?? EMPTY;
  if (piv.length > MAX_PIV_LENGTH) throw new RangeError(`Partial IV of ${piv.length} bytes (at most 5)`);
  const ctx = o.kidContext;
  if (ctx && ctx.length > 255) throw new RangeError(`kid context of ${ctx.length} bytes (at most 255)`);
  let flags = piv.length;
  if (ctx) flags |= 0x10;
  if (o.kid) flags |= 0x08;
  if (flags === 0) return EMPTY;
  const parts: Buffer[] = [Buffer.of(flags), piv];
  if (ctx) parts.push(Buffer.of(ctx.length), ctx);
  if (o.kid) parts.push(o.kid);
  return Buffer.concat(parts);
}

/** The shortest Partial IV for a sequence number (§6.1: leading zero bytes removed, 0 is 0x00). */
export function partialIvOf(seq: number): Buffer {
  if (!Number.isSafeInteger(seq) || seq < 0 || seq > 0xff_ffff_ffff) throw new RangeError(`sequence number ${seq}`);
  let len = 1;
  while (len < 5 && seq >= 2 ** (8 * len)) len++;
  const out = Buffer.alloc(len);
  out.writeUIntBE(seq, 0, len);
  return out;
}

/** The sequence number a Partial IV stands for. */
export function sequenceOf(piv: Buffer): number {
  return piv.length === 0 ? 0 : piv.readUIntBE(0, piv.length);
}

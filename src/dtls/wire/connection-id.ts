/**
 * Connection ID for DTLS 1.2 (RFC 9146), the pure codecs: the `connection_id` extension (§3), the
 * tls12_cid record header (§4) and the DTLSInnerPlaintext that carries the real content type and
 * optional zero padding inside the encryption (§4).
 */
import { DtlsDecodeError } from '../errors.ts';
import { Reader, Writer } from './buffer.ts';
import { type Extension, ExtensionType } from './extensions.ts';
import { ContentType } from './record.ts';

/** Longest CID we accept or choose (the extension allows 255; a record header should stay small). */
export const MAX_CID_LENGTH = 32;

/** `connection_id` carrying the CID the sender wants to receive: `opaque cid<0..2^8-1>` (§3). */
export function connectionIdExtension(cid: Buffer): Extension {
  if (cid.length > 255) throw new RangeError('connection ID longer than 255 bytes');
  return { type: ExtensionType.connection_id, data: new Writer().vec8(cid).finish() };
}

/** The CID in a `connection_id` extension; a decode error when it is malformed or too long for us. */
export function parseConnectionIdExtension(e: Extension): Buffer {
  const r = new Reader(e.data, 'connection_id');
  const cid = r.vec8('cid');
  r.end();
  if (cid.length > MAX_CID_LENGTH) throw new DtlsDecodeError(`connection_id: CID of ${cid.length} bytes is too long`);
  return cid;
}

/**
 * Writes a tls12_cid header into `out` (at offset `at`, 0 by default): type 25, version, epoch, 48-bit sequence
 * number, the receiver's CID, and the length of the protected fragment that follows (§4).
 * Returns the header length. The CID additional data of ccm-cid.ts carries the same fields after
 * its first 10 bytes, so it writes them with this function.
 */
export function writeCidRecordHeader(
  out: Buffer,
  version: number,
  epoch: number,
  seq: number,
  cid: Buffer,
  length: number,
  at = 0,
): number {
  if (length > 0xffff) throw new RangeError('record fragment too long');
  out[at] = ContentType.tls12_cid;
  out.writeUInt16BE(version, at + 1);
  out.writeUInt16BE(epoch, at + 3);
  out.writeUInt16BE(Math.floor(seq / 0x1_0000_0000), at + 5);
  out.writeUInt32BE(seq % 0x1_0000_0000, at + 7);
  cid.copy(out, at + 11);
  out.writeUInt16BE(length, at + 11 + cid.length);
  return 13 + cid.length;
}

/** DTLSInnerPlaintext: content ‖ real_type ‖ zeros[padding] (§4). */
export function encodeInnerPlaintext(content: Buffer, realType: number, padding = 0): Buffer {
  const out = Buffer.alloc(content.length + 1 + padding);
  content.copy(out, 0);
  out[content.length] = realType;
  return out;
}

/**
 * Splits a DTLSInnerPlaintext: the real type is the last non-zero byte, the content what precedes
 * it. Undefined when every byte is zero (no type: the record is invalid, §4) or the type is one
 * that may not be carried (tls12_cid itself, or unknown).
 */
export function decodeInnerPlaintext(inner: Buffer): { type: ContentType; content: Buffer } | undefined {
  let i = inner.length - 1;
  while (i >= 0 && inner[i] === 0) i--;
  if (i < 0) return undefined;
  const type = inner[i];
  if (type < ContentType.change_cipher_spec || type > ContentType.application_data) return undefined;
  return { type, content: inner.subarray(0, i) };
}

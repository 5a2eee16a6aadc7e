/**
 * The DTLS record header (RFC 6347 §4.1): type(1) version(2) epoch(2) sequence_number(6) length(2).
 * Pure codec. `parseRecords` splits a datagram carrying several records (§4.1.1); a malformed
 * record ends the parse and the rest of the datagram is dropped silently (§4.1.2.7).
 */
export const RECORD_HEADER_LENGTH = 13;
/** TLSPlaintext/TLSCiphertext length limits (RFC 5246 §6.2): 2^14 plaintext, +2048 expansion. */
export const MAX_RECORD_FRAGMENT = 16384 + 2048;

export enum ContentType {
  change_cipher_spec = 20,
  alert = 21,
  handshake = 22,
  application_data = 23,
}

export function contentTypeName(t: number): string {
  return ContentType[t] ?? `content_${t}`;
}

/** DTLS 1.2 is {254, 253}; DTLS 1.0 is {254, 255} (RFC 6347 §4.1). */
export const DTLS1_2 = 0xfefd;
export const DTLS1_0 = 0xfeff;

export interface DtlsRecord {
  type: ContentType;
  version: number;
  epoch: number;
  /** 48-bit sequence number. */
  seq: number;
  fragment: Buffer;
}

/**
 * Splits a datagram into records; stops at the first malformed one (the rest is dropped). It runs
 * once per datagram, so it reads the fixed-size header directly; every read is behind the
 * `off + RECORD_HEADER_LENGTH <= end` check and the fragment behind the length check.
 */
export function parseRecords(datagram: Buffer): DtlsRecord[] {
  const out: DtlsRecord[] = [];
  const end = datagram.length;
  let off = 0;
  while (off + RECORD_HEADER_LENGTH <= end) {
    const type = datagram[off];
    const version = datagram.readUInt16BE(off + 1);
    const epoch = datagram.readUInt16BE(off + 3);
    const seq = datagram.readUInt16BE(off + 5) * 0x1_0000_0000 + datagram.readUInt32BE(off + 7);
    const length = datagram.readUInt16BE(off + 11);
    off += RECORD_HEADER_LENGTH;
    if (length > end - off || length > MAX_RECORD_FRAGMENT) break;
    if (type < 20 || type > 23 || version >> 8 !== 0xfe) break;
    out.push({ type, version, epoch, seq, fragment: datagram.subarray(off, off + length) });
    off += length;
  }
  return out;
}

/** Writes a record header for a fragment of `length` bytes at the start of `out`. */
export function writeRecordHeader(
  out: Buffer,
  type: number,
  version: number,
  epoch: number,
  seq: number,
  length: number,
): void {
  if (length > 0xffff) throw new RangeError('record fragment too long');
  out[0] = type;
  out.writeUInt16BE(version, 1);
  out.writeUInt16BE(epoch, 3);
  out.writeUInt16BE(Math.floor(seq / 0x1_0000_0000), 5);
  out.writeUInt32BE(seq % 0x1_0000_0000, 7);
  out.writeUInt16BE(length, 11);
}

export function encodeRecord(rec: DtlsRecord): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEADER_LENGTH + rec.fragment.length);
  writeRecordHeader(out, rec.type, rec.version, rec.epoch, rec.seq, rec.fragment.length);
  rec.fragment.copy(out, RECORD_HEADER_LENGTH);
  return out;
}

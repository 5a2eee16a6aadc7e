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
  /** A record carrying a Connection ID (RFC 9146 §4); its real type is inside the encryption. */
  tls12_cid = 25,
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
  /** The Connection ID of a tls12_cid record (RFC 9146 §4); undefined for the other types. */
  cid?: Buffer;
  fragment: Buffer;
}

/**
 * Splits a datagram into records; stops at the first malformed one (the rest is dropped). It runs
 * once per datagram, so it reads the fixed-size header directly; every read is behind the
 * `off + RECORD_HEADER_LENGTH <= end` check and the fragment behind the length check.
 *
 * `cidLength` is the length of the Connection ID the receiver chose (RFC 9146): the tls12_cid header
 * does not say how long its CID is, so only a receiver that expects CIDs (`cidLength` > 0) parses
 * such records; for any other a tls12_cid record is malformed.
 */
export function parseRecords(datagram: Buffer, cidLength = 0): DtlsRecord[] {
  const out: DtlsRecord[] = [];
  const end = datagram.length;
  let off = 0;
  while (off + RECORD_HEADER_LENGTH <= end) {
    const type = datagram[off];
    const version = datagram.readUInt16BE(off + 1);
    const epoch = datagram.readUInt16BE(off + 3);
    const seq = datagram.readUInt16BE(off + 5) * 0x1_0000_0000 + datagram.readUInt32BE(off + 7);
    if (type === ContentType.tls12_cid) {
      if (cidLength === 0) break;
      const rec = parseCidRecordAt(datagram, off, cidLength);
      if (!rec) break;
      out.push(rec);
      off += CID_RECORD_HEADER_LENGTH + cidLength + rec.fragment.length;
      continue;
    }
    const length = datagram.readUInt16BE(off + 11);
    off += RECORD_HEADER_LENGTH;
    if (length > end - off || length > MAX_RECORD_FRAGMENT) break;
    if (type < 20 || type > 23 || version >> 8 !== 0xfe) break;
    out.push({ type, version, epoch, seq, fragment: datagram.subarray(off, off + length) });
    off += length;
  }
  return out;
}

/** A tls12_cid header without its CID: type(1) version(2) epoch(2) sequence_number(6) … length(2). */
export const CID_RECORD_HEADER_LENGTH = 13;

/**
 * The tls12_cid record at `off` (RFC 9146 §4: type, version, epoch, sequence_number, cid[cidLength],
 * length, enc_content), or undefined when it is truncated or not DTLS.
 */
function parseCidRecordAt(datagram: Buffer, off: number, cidLength: number): DtlsRecord | undefined {
  const end = datagram.length;
  const lengthAt = off + 11 + cidLength;
  if (lengthAt + 2 > end) return undefined;
  const version = datagram.readUInt16BE(off + 1);
  if (version >> 8 !== 0xfe) return undefined;
  const length = datagram.readUInt16BE(lengthAt);
  const start = lengthAt + 2;
  if (length > end - start || length > MAX_RECORD_FRAGMENT) return undefined;
  return {
    type: ContentType.tls12_cid,
    version,
    epoch: datagram.readUInt16BE(off + 3),
    seq: datagram.readUInt16BE(off + 5) * 0x1_0000_0000 + datagram.readUInt32BE(off + 7),
    cid: datagram.subarray(off + 11, lengthAt),
    fragment: datagram.subarray(start, start + length),
  };
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

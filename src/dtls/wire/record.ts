/**
 * The DTLS record header (RFC 6347 §4.1): type(1) version(2) epoch(2) sequence_number(6) length(2).
 * Pure codec. `parseRecords` splits a datagram carrying several records (§4.1.1); a malformed
 * record ends the parse and the rest of the datagram is dropped silently (§4.1.2.7).
 */
import { Reader, Writer } from './buffer.ts';

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

/** Splits a datagram into records; stops at the first malformed one (the rest is dropped). */
export function parseRecords(datagram: Buffer): DtlsRecord[] {
  const out: DtlsRecord[] = [];
  const r = new Reader(datagram, 'record');
  while (r.remaining >= RECORD_HEADER_LENGTH) {
    const type = r.u8();
    const version = r.u16();
    const epoch = r.u16();
    const seq = r.u48();
    const length = r.u16();
    if (length > r.remaining || length > MAX_RECORD_FRAGMENT) break;
    if (type < 20 || type > 23 || version >> 8 !== 0xfe) break;
    out.push({ type, version, epoch, seq, fragment: r.bytes(length) });
  }
  return out;
}

export function encodeRecord(rec: DtlsRecord): Buffer {
  return new Writer().u8(rec.type).u16(rec.version).u16(rec.epoch).u48(rec.seq).vec16(rec.fragment).finish();
}

/**
 * The DTLS handshake header (RFC 6347 §4.2.2): msg_type(1) length(3) message_seq(2)
 * fragment_offset(3) fragment_length(3), then the fragment. Pure codec.
 */
import { DtlsDecodeError } from '../errors.ts';
import { Reader } from './buffer.ts';

export const HANDSHAKE_HEADER_LENGTH = 12;

export enum HandshakeType {
  hello_request = 0,
  client_hello = 1,
  server_hello = 2,
  hello_verify_request = 3,
  certificate = 11,
  server_key_exchange = 12,
  certificate_request = 13,
  server_hello_done = 14,
  certificate_verify = 15,
  client_key_exchange = 16,
  finished = 20,
}

export function handshakeTypeName(t: number): string {
  return HandshakeType[t] ?? `handshake_${t}`;
}

export interface HandshakeFragment {
  msgType: number;
  /** Length of the whole message body. */
  length: number;
  messageSeq: number;
  fragmentOffset: number;
  fragment: Buffer;
}

/** Parses every handshake fragment in one record's plaintext (a record may hold several). */
export function parseHandshakeFragments(data: Buffer): HandshakeFragment[] {
  const r = new Reader(data, 'handshake');
  const out: HandshakeFragment[] = [];
  while (r.remaining > 0) {
    const msgType = r.u8('msg_type');
    const length = r.u24('length');
    const messageSeq = r.u16('message_seq');
    const fragmentOffset = r.u24('fragment_offset');
    const fragmentLength = r.u24('fragment_length');
    if (fragmentOffset + fragmentLength > length) {
      throw new DtlsDecodeError('handshake: fragment extends past the message length');
    }
    out.push({ msgType, length, messageSeq, fragmentOffset, fragment: r.bytes(fragmentLength, 'fragment') });
  }
  return out;
}

/** Writes a handshake header at `off` of `out` (a record layer or transcript builds around it). */
export function writeHandshakeHeader(
  out: Buffer,
  off: number,
  msgType: number,
  length: number,
  messageSeq: number,
  fragmentOffset: number,
  fragmentLength: number,
): void {
  if (length > 0xffffff || fragmentOffset > 0xffffff || fragmentLength > 0xffffff) {
    throw new RangeError('handshake message too long');
  }
  out[off] = msgType;
  out.writeUIntBE(length, off + 1, 3);
  out.writeUInt16BE(messageSeq, off + 4);
  out.writeUIntBE(fragmentOffset, off + 6, 3);
  out.writeUIntBE(fragmentLength, off + 9, 3);
}

export function encodeHandshakeFragment(f: HandshakeFragment): Buffer {
  const out = Buffer.allocUnsafe(HANDSHAKE_HEADER_LENGTH + f.fragment.length);
  writeHandshakeHeader(out, 0, f.msgType, f.length, f.messageSeq, f.fragmentOffset, f.fragment.length);
  f.fragment.copy(out, HANDSHAKE_HEADER_LENGTH);
  return out;
}

/** A whole message with an unfragmented header: the form that enters the transcript (§4.2.6). */
export function encodeHandshakeMessage(msgType: number, messageSeq: number, body: Buffer): Buffer {
  return encodeHandshakeFragment({ msgType, length: body.length, messageSeq, fragmentOffset: 0, fragment: body });
}

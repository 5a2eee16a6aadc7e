/**
 * EDHOC message codecs (RFC 9528 §5, §6): message_1..message_4, the plaintexts inside 2..4, and
 * the error message, each a CBOR sequence. Decoding is strict: each item must have the type and
 * length the RFC gives it, be in deterministic encoding (RFC 8949 §4.2.1: what we decode must
 * re-encode to the same bytes, because the bytes are hashed into the transcript), and nothing may
 * follow the last item. Every failure is an EdhocError (sent as ERR_CODE 1). Codecs only: no keys,
 * no state.
 */
import {
  type CborError,
  type CborValue,
  decodeSequence,
  encode,
  encodeSequence,
  type SequenceItem,
} from '../util/cbor.ts';
import { encodeIdCredCompact, type IdCred, idCredFromWire, isOneByteInt } from './credentials.ts';
import { EdhocError, ErrCode } from './errors.ts';

/** The largest EDHOC message we decode: message_2/3 with an x5chain of a few certificates. */
export const MAX_MESSAGE_LENGTH = 8192;
/** External authorization data items per message. */
export const MAX_EAD_ITEMS = 16;

/** An EAD item (RFC 9528 §3.8): a label (negative = critical) and an optional value. */
export interface EadItem {
  readonly label: number;
  readonly value?: Buffer;
}

/**
 * A connection identifier (C_I, C_R) as its OSCORE ID bytes (RFC 9528 §3.3.2, Appendix A.1):
 * one byte that encodes an integer −24..23 travels as that integer, anything else as a byte string.
 */
export type ConnectionId = Buffer;

export function encodeConnectionId(id: ConnectionId): Buffer {
  return isOneByteInt(id) ? Buffer.from(id) : encode(id);
}

function connectionIdFromWire(item: SequenceItem, what: string): ConnectionId {
  const v = item.value;
  if (typeof v === 'number') {
    if (v < -24 || v > 23) throw new EdhocError(`${what} integer ${v} is not in -24..23`);
    return Buffer.from(item.bytes);
  }
  if (Buffer.isBuffer(v)) {
    if (isOneByteInt(v)) throw new EdhocError(`${what} h'${v.toString('hex')}' must be sent as an integer`);
    return v;
  }
  throw new EdhocError(`${what} is neither an integer nor a byte string`);
}

/** Splits a CBOR sequence, checking well-formedness and deterministic encoding of every item. */
export function items(buf: Buffer, what: string): SequenceItem[] {
  if (buf.length > MAX_MESSAGE_LENGTH)
    throw new EdhocError(`${what} is ${buf.length} bytes, over ${MAX_MESSAGE_LENGTH}`);
  let seq: SequenceItem[];
  try {
    seq = decodeSequence(buf, { maxDepth: 8, maxItems: 64, maxSequenceItems: 4 + 2 * MAX_EAD_ITEMS });
  } catch (e) {
    throw new EdhocError(`${what} is not a well-formed CBOR sequence: ${(e as CborError).message}`);
  }
  for (const it of seq) {
    if (!encode(it.value).equals(it.bytes)) throw new EdhocError(`${what} is not in deterministic CBOR encoding`);
  }
  return seq;
}

function int(it: SequenceItem | undefined, what: string): number {
  if (!it || typeof it.value !== 'number' || !Number.isInteger(it.value))
    throw new EdhocError(`${what} is not an integer`);
  return it.value;
}

function bstr(it: SequenceItem | undefined, what: string): Buffer {
  if (!it || !Buffer.isBuffer(it.value)) throw new EdhocError(`${what} is not a byte string`);
  return it.value;
}

/** EAD_x: ( ead_label: int, ? ead_value: bstr )* to the end of the sequence. */
function decodeEad(seq: SequenceItem[], from: number, what: string): EadItem[] {
  const out: EadItem[] = [];
  for (let i = from; i < seq.length; ) {
    const label = int(seq[i], `${what} EAD label`);
    const next = seq[i + 1];
    if (next && Buffer.isBuffer(next.value)) {
      out.push({ label, value: next.value });
      i += 2;
    } else {
      out.push({ label });
      i += 1;
    }
    if (out.length > MAX_EAD_ITEMS) throw new EdhocError(`${what} has more than ${MAX_EAD_ITEMS} EAD items`);
  }
  return out;
}

export function encodeEad(ead: readonly EadItem[]): Buffer {
  return Buffer.concat(ead.map((e) => (e.value ? encodeSequence([e.label, e.value]) : encode(e.label))));
}

// ---- message_1 (RFC 9528 §5.2.1) ----

export interface Message1 {
  readonly method: number;
  /** SUITES_I: the Initiator's suites in order of preference, the selected one last. */
  readonly suites: readonly number[];
  readonly gX: Buffer;
  readonly cI: ConnectionId;
  readonly ead: readonly EadItem[];
}

export function encodeMessage1(m: Message1): Buffer {
  if (m.suites.length === 0) throw new EdhocError('SUITES_I is empty');
  const suites: CborValue = m.suites.length === 1 ? m.suites[0] : [...m.suites];
  return Buffer.concat([encodeSequence([m.method, suites, m.gX]), encodeConnectionId(m.cI), encodeEad(m.ead)]);
}

function decodeSuites(it: SequenceItem | undefined, what: string): number[] {
  if (it && typeof it.value === 'number') return [int(it, what)];
  if (it && Array.isArray(it.value)) {
    // A one-element array is not allowed: a single suite is sent as an int.
    if (it.value.length < 2) throw new EdhocError(`${what} array has fewer than two suites`);
    if (!it.value.every((s) => typeof s === 'number' && Number.isInteger(s))) {
      throw new EdhocError(`${what} holds a non-integer suite`);
    }
    return it.value as number[];
  }
  throw new EdhocError(`${what} is neither a suite nor an array of suites`);
}

export function decodeMessage1(buf: Buffer): Message1 {
  const seq = items(buf, 'message_1');
  if (seq.length < 4) throw new EdhocError(`message_1 has ${seq.length} items, needs at least 4`);
  const method = int(seq[0], 'METHOD');
  const suites = decodeSuites(seq[1], 'SUITES_I');
  const gX = bstr(seq[2], 'G_X');
  const cI = connectionIdFromWire(seq[3], 'C_I');
  return { method, suites, gX, cI, ead: decodeEad(seq, 4, 'message_1') };
}

// ---- message_2 (RFC 9528 §5.3.1) ----

/** message_2 = ( G_Y_CIPHERTEXT_2: bstr ), G_Y being the first `publicKeyLength` bytes. */
export function encodeMessage2(gY: Buffer, ciphertext2: Buffer): Buffer {
  return encode(Buffer.concat([gY, ciphertext2]));
}

export function decodeMessage2(buf: Buffer, publicKeyLength: number): { gY: Buffer; ciphertext2: Buffer } {
  const seq = items(buf, 'message_2');
  if (seq.length !== 1) throw new EdhocError(`message_2 has ${seq.length} items, needs exactly 1`);
  const b = bstr(seq[0], 'G_Y_CIPHERTEXT_2');
  // PLAINTEXT_2 holds at least C_R, ID_CRED_R and an 8-byte MAC: 1 + 1 + 9 bytes.
  if (b.length < publicKeyLength + 11) throw new EdhocError(`G_Y_CIPHERTEXT_2 is too short (${b.length} bytes)`);
  return { gY: b.subarray(0, publicKeyLength), ciphertext2: b.subarray(publicKeyLength) };
}

export interface Plaintext2 {
  readonly cR: ConnectionId;
  readonly idCredR: IdCred;
  readonly signatureOrMac2: Buffer;
  readonly ead: readonly EadItem[];
}

export function encodePlaintext2(p: Plaintext2): Buffer {
  return Buffer.concat([
    encodeConnectionId(p.cR),
    encodeIdCredCompact(p.idCredR),
    encode(p.signatureOrMac2),
    encodeEad(p.ead),
  ]);
}

export function decodePlaintext2(buf: Buffer): Plaintext2 {
  const seq = items(buf, 'PLAINTEXT_2');
  if (seq.length < 3) throw new EdhocError(`PLAINTEXT_2 has ${seq.length} items, needs at least 3`);
  return {
    cR: connectionIdFromWire(seq[0], 'C_R'),
    idCredR: idCredFromWire(seq[1].value, seq[1].bytes),
    signatureOrMac2: bstr(seq[2], 'Signature_or_MAC_2'),
    ead: decodeEad(seq, 3, 'PLAINTEXT_2'),
  };
}

// ---- message_3 and message_4 (RFC 9528 §5.4.1, §5.5.1) ----

export function encodeCiphertextMessage(ciphertext: Buffer): Buffer {
  return encode(ciphertext);
}

/** message_3 = ( CIPHERTEXT_3: bstr ), message_4 = ( CIPHERTEXT_4: bstr ). */
export function decodeCiphertextMessage(buf: Buffer, what: 'message_3' | 'message_4', tagLength: number): Buffer {
  const seq = items(buf, what);
  if (seq.length !== 1) throw new EdhocError(`${what} has ${seq.length} items, needs exactly 1`);
  const c = bstr(seq[0], `${what} ciphertext`);
  if (c.length < tagLength) throw new EdhocError(`${what} ciphertext is shorter than the AEAD tag`);
  return c;
}

export interface Plaintext3 {
  readonly idCredI: IdCred;
  readonly signatureOrMac3: Buffer;
  readonly ead: readonly EadItem[];
}

export function encodePlaintext3(p: Plaintext3): Buffer {
  return Buffer.concat([encodeIdCredCompact(p.idCredI), encode(p.signatureOrMac3), encodeEad(p.ead)]);
}

export function decodePlaintext3(buf: Buffer): Plaintext3 {
  const seq = items(buf, 'PLAINTEXT_3');
  if (seq.length < 2) throw new EdhocError(`PLAINTEXT_3 has ${seq.length} items, needs at least 2`);
  return {
    idCredI: idCredFromWire(seq[0].value, seq[0].bytes),
    signatureOrMac3: bstr(seq[1], 'Signature_or_MAC_3'),
    ead: decodeEad(seq, 2, 'PLAINTEXT_3'),
  };
}

/** PLAINTEXT_4 = ( ? EAD_4 ). */
export function decodePlaintext4(buf: Buffer): EadItem[] {
  return decodeEad(items(buf, 'PLAINTEXT_4'), 0, 'PLAINTEXT_4');
}

// ---- error (RFC 9528 §6) ----

export interface ErrorMessage {
  readonly errCode: number;
  /** ERR_CODE 1: the diagnostic text. */
  readonly diagnostic?: string;
  /** ERR_CODE 2: SUITES_R. */
  readonly suitesR?: readonly number[];
}

export function encodeError(e: ErrorMessage): Buffer {
  switch (e.errCode) {
    case ErrCode.unspecified:
      return encodeSequence([e.errCode, e.diagnostic ?? '']);
    case ErrCode.wrongSelectedCipherSuite: {
      const s = e.suitesR ?? [];
      if (s.length === 0) throw new EdhocError('SUITES_R is empty');
      return encodeSequence([e.errCode, s.length === 1 ? s[0] : [...s]]);
    }
    case ErrCode.unknownCredential:
      return encodeSequence([e.errCode, true]);
    default:
      throw new EdhocError(`cannot encode ERR_CODE ${e.errCode}`);
  }
}

/** Is this (decoded) sequence an error message rather than message_2/4? It starts with an int. */
export function looksLikeError(buf: Buffer): boolean {
  if (buf.length === 0) return false;
  const major = buf[0] >> 5;
  return major === 0 || major === 1;
}

export function decodeError(buf: Buffer): ErrorMessage {
  const seq = items(buf, 'error');
  if (seq.length !== 2) throw new EdhocError(`error message has ${seq.length} items, needs exactly 2`);
  const errCode = int(seq[0], 'ERR_CODE');
  const info = seq[1].value;
  switch (errCode) {
    case ErrCode.unspecified:
      if (typeof info !== 'string') throw new EdhocError('ERR_INFO of ERR_CODE 1 is not a text string');
      return { errCode, diagnostic: info };
    case ErrCode.wrongSelectedCipherSuite:
      return { errCode, suitesR: decodeSuites(seq[1], 'SUITES_R') };
    case ErrCode.unknownCredential:
      if (info !== true) throw new EdhocError('ERR_INFO of ERR_CODE 3 is not true');
      return { errCode };
    default:
      // Unknown codes are passed on as they are: the exchange fails either way.
      return { errCode };
  }
}

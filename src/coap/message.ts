/**
 * The CoAP message codec (RFC 7252 §3): a 4-byte header, a 0..8-byte token, options as deltas with
 * extended 8- and 16-bit delta/length fields, and a payload after the 0xFF marker. Pure: Buffer ⇄
 * {@link CoapMessage}. Decoding never throws; it reports a message format error together with as much
 * of the header as could be read, so that the caller can answer a Confirmable with Reset or silently
 * ignore the datagram (RFC 7252 §4.2, §4.3).
 */
import {
  Code,
  decodeUint,
  isCritical,
  isRequestCode,
  isResponseCode,
  optionDefinition,
  optionName,
} from './options.ts';

export type MessageType = 'CON' | 'NON' | 'ACK' | 'RST';
const TYPES: MessageType[] = ['CON', 'NON', 'ACK', 'RST'];

export interface CoapOption {
  number: number;
  value: Buffer;
}

export interface CoapMessage {
  type: MessageType;
  /** class*32 + detail, e.g. 1 = GET, 69 = 2.05 Content. */
  code: number;
  messageId: number;
  /** 0..8 bytes. */
  token: Buffer;
  /** In ascending option-number order after decoding; any order when encoding (sorted stably). */
  options: CoapOption[];
  payload: Buffer;
}

/** What the receiver of a malformed datagram could still read from it. */
export interface PartialHeader {
  type: MessageType;
  code: number;
  messageId: number;
}

export type DecodeResult =
  | { ok: true; message: CoapMessage }
  | {
      ok: false;
      /** Human-readable reason. */
      error: string;
      /** Present when the fixed 4-byte header with version 1 could be read. */
      header?: PartialHeader;
      /**
       * `reset` for a Confirmable (RFC 7252 §4.2 "rejecting"), `ignore` otherwise (§4.3 allows either for
       * a Non-confirmable; ACK/RST and unreadable datagrams are always silently ignored).
       */
      reaction: 'reset' | 'ignore';
    };

const PAYLOAD_MARKER = 0xff;
/** Shared by every message without a token or payload: a zero-length Buffer cannot be written to. */
const EMPTY = Buffer.alloc(0);
const TYPE_BITS: Record<MessageType, number> = { CON: 0, NON: 1, ACK: 2, RST: 3 };

/** The failure of {@link decodeMessage} once the fixed header has been read. */
function formatError(error: string, type: MessageType, code: number, messageId: number): DecodeResult {
  return { ok: false, error, header: { type, code, messageId }, reaction: type === 'CON' ? 'reset' : 'ignore' };
}

/**
 * Decodes one datagram. Never throws. The token, option values and payload are views into `buf`
 * (no copies); the caller must not reuse `buf` while the message is in use.
 */
export function decodeMessage(buf: Buffer): DecodeResult {
  if (buf.length < 4)
    return { ok: false, error: `datagram of ${buf.length} bytes is shorter than the header`, reaction: 'ignore' };
  const b0 = buf[0];
  const version = b0 >> 6;
  // §3: "Implementations of this specification MUST set this field to 1 (01 binary). Other values
  // are reserved for future versions. Messages with unknown version numbers MUST be silently ignored."
  if (version !== 1) return { ok: false, error: `unknown version ${version}`, reaction: 'ignore' };
  const type = TYPES[(b0 >> 4) & 3];
  const tkl = b0 & 0x0f;
  const code = buf[1];
  const messageId = (buf[2] << 8) | buf[3];
  // §3: "Lengths 9-15 are reserved, MUST NOT be sent, and MUST be processed as a message format error."
  if (tkl > 8) return formatError(`token length ${tkl} is reserved`, type, code, messageId);
  const cls = code >> 5;
  // §3 and §12.1: classes 1, 6 and 7 are reserved.
  if (cls === 1 || cls === 6 || cls === 7)
    return formatError(`code ${cls}.${code & 31} is in a reserved class`, type, code, messageId);
  if (code === Code.Empty) {
    // §4.1: an Empty message has TKL 0 and nothing after the header; anything else is a format error.
    if (tkl !== 0 || buf.length !== 4)
      return formatError('Empty message with a token, options or payload', type, code, messageId);
    return { ok: true, message: { type, code, messageId, token: EMPTY, options: [], payload: EMPTY } };
  }
  const end = buf.length;
  if (end < 4 + tkl) return formatError(`token of ${tkl} bytes truncated`, type, code, messageId);
  const token = tkl === 0 ? EMPTY : buf.subarray(4, 4 + tkl);
  const options: CoapOption[] = [];
  let off = 4 + tkl;
  let number = 0;
  let payload: Buffer = EMPTY;
  while (off < end) {
    const byte = buf[off++];
    if (byte === PAYLOAD_MARKER) {
      // §3: "The presence of a marker followed by a zero-length payload MUST be processed as a
      // message format error."
      if (off >= end) return formatError('payload marker with no payload', type, code, messageId);
      payload = buf.subarray(off);
      break;
    }
    let delta = byte >> 4;
    let length = byte & 0x0f;
    // §3.1: 15 is reserved for the payload marker in both nibbles.
    if (delta === 15) return formatError('option delta nibble 15 without payload marker', type, code, messageId);
    if (length === 15) return formatError('option length nibble 15 is reserved', type, code, messageId);
    if (delta === 13) {
      if (off + 1 > end) return formatError('extended option delta truncated', type, code, messageId);
      delta = buf[off++] + 13;
    } else if (delta === 14) {
      if (off + 2 > end) return formatError('extended option delta truncated', type, code, messageId);
      delta = ((buf[off] << 8) | buf[off + 1]) + 269;
      off += 2;
    }
    if (length === 13) {
      if (off + 1 > end) return formatError('extended option length truncated', type, code, messageId);
      length = buf[off++] + 13;
    } else if (length === 14) {
      if (off + 2 > end) return formatError('extended option length truncated', type, code, messageId);
      length = ((buf[off] << 8) | buf[off + 1]) + 269;
      off += 2;
    }
    number += delta;
    if (number > 0xffff) return formatError(`option number ${number} exceeds 65535`, type, code, messageId);
    if (off + length > end)
      return formatError(`option ${number} value of ${length} bytes truncated`, type, code, messageId);
    options.push({ number, value: length === 0 ? EMPTY : buf.subarray(off, off + length) });
    off += length;
  }
  return { ok: true, message: { type, code, messageId, token, options, payload } };
}

/** Bytes of the extended field for an option delta or length `v` (RFC 7252 §3.1). */
const extLength = (v: number): number => (v < 13 ? 0 : v < 269 ? 1 : 2);

/** True when the options are already in ascending number order (the usual case). */
function sorted(options: CoapOption[]): boolean {
  for (let i = 1; i < options.length; i++) if (options[i].number < options[i - 1].number) return false;
  return true;
}

/** Encodes a message. Throws `RangeError` on values that cannot be sent (token > 8 bytes, …). */
export function encodeMessage(m: CoapMessage): Buffer {
  const token = m.token;
  if (token.length > 8) throw new RangeError(`token of ${token.length} bytes (at most 8)`);
  if (m.messageId < 0 || m.messageId > 0xffff) throw new RangeError(`message ID ${m.messageId} out of range`);
  if (m.code < 0 || m.code > 255) throw new RangeError(`code ${m.code} out of range`);
  // Stable sort keeps the order of repeated options (Uri-Path segments) as given.
  const opts = sorted(m.options) ? m.options : [...m.options].sort((a, b) => a.number - b.number);
  let size = 4 + token.length;
  let prev = 0;
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i];
    if (o.number < 0 || o.number > 0xffff) throw new RangeError(`option number ${o.number} out of range`);
    const len = o.value.length;
    if (len > 65535 + 269) throw new RangeError(`option ${o.number} value too long`);
    size += 1 + extLength(o.number - prev) + extLength(len) + len;
    prev = o.number;
  }
  const payload = m.payload;
  if (payload.length > 0) size += 1 + payload.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = 0x40 | (TYPE_BITS[m.type] << 4) | token.length;
  out[1] = m.code;
  out[2] = m.messageId >> 8;
  out[3] = m.messageId & 0xff;
  let off = 4;
  if (token.length > 0) off += token.copy(out, off);
  prev = 0;
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i];
    const d = o.number - prev;
    const len = o.value.length;
    const head = off++;
    let dn = d;
    let ln = len;
    if (d >= 269) {
      dn = 14;
      out[off++] = (d - 269) >> 8;
      out[off++] = (d - 269) & 0xff;
    } else if (d >= 13) {
      dn = 13;
      out[off++] = d - 13;
    }
    if (len >= 269) {
      ln = 14;
      out[off++] = (len - 269) >> 8;
      out[off++] = (len - 269) & 0xff;
    } else if (len >= 13) {
      ln = 13;
      out[off++] = len - 13;
    }
    out[head] = (dn << 4) | ln;
    if (len > 0) off += o.value.copy(out, off);
    prev = o.number;
  }
  if (payload.length > 0) {
    out[off++] = PAYLOAD_MARKER;
    payload.copy(out, off);
  }
  return out;
}

/** The first value of option `num`, if present. */
export function getOption(m: { options: CoapOption[] }, num: number): Buffer | undefined {
  for (const o of m.options) if (o.number === num) return o.value;
  return undefined;
}

/** Every value of a repeatable option, in order. */
export function getOptions(m: { options: CoapOption[] }, num: number): Buffer[] {
  const out: Buffer[] = [];
  for (const o of m.options) if (o.number === num) out.push(o.value);
  return out;
}

export function getUintOption(m: { options: CoapOption[] }, num: number): number | undefined {
  const v = getOption(m, num);
  return v === undefined ? undefined : decodeUint(v);
}

export function hasOption(m: { options: CoapOption[] }, num: number): boolean {
  return m.options.some((o) => o.number === num);
}

/** Options without any occurrence of the given numbers. */
export function withoutOptions(options: CoapOption[], ...nums: number[]): CoapOption[] {
  return options.filter((o) => !nums.includes(o.number));
}

const NO_NUMBERS: ReadonlySet<number> = new Set();

export type OptionCheck =
  | { ok: true; options: CoapOption[] }
  | {
      ok: false;
      /** 4.02 Bad Option: a critical option we do not understand or whose value is malformed. */
      code: number;
      reason: string;
    };

/**
 * Checks the options of a received message (RFC 7252 §5.4.1, §5.4.3, §5.4.5): unrecognized or
 * malformed (wrong length, too many occurrences) critical options fail the message — in a request the
 * answer is 4.02 Bad Option, in a response or Empty message the receiver rejects it; the same faults
 * in elective options are silently dropped, which the returned `options` reflect.
 * `known` adds option numbers that an application understands beyond the built-in table.
 */
export function checkOptions(m: CoapMessage, known: ReadonlySet<number> = NO_NUMBERS): OptionCheck {
  let dropped = false;
  const kept: CoapOption[] = [];
  let prev = -1;
  for (const o of m.options) {
    const def = optionDefinition(o.number);
    let fault: string | undefined;
    if (!def) {
      if (!known.has(o.number)) fault = `unrecognized option ${o.number}`;
    } else if (o.value.length < def.minLength || o.value.length > def.maxLength) {
      fault = `${def.name} of ${o.value.length} bytes (allowed ${def.minLength}..${def.maxLength})`;
    } else if (!def.repeatable && o.number === prev) {
      fault = `${def.name} repeated`;
    }
    prev = o.number;
    if (fault) {
      if (isCritical(o.number)) return { ok: false, code: Code.BadOption, reason: `${fault} (critical)` };
      dropped = true;
      continue;
    }
    kept.push(o);
  }
  return { ok: true, options: dropped ? kept : m.options };
}

/** An Empty Reset for `messageId` (RFC 7252 §4.2). */
export function resetFor(messageId: number): CoapMessage {
  return { type: 'RST', code: Code.Empty, messageId, token: EMPTY, options: [], payload: EMPTY };
}

/** An Empty Acknowledgement for `messageId` (RFC 7252 §4.2). */
export function emptyAckFor(messageId: number): CoapMessage {
  return { type: 'ACK', code: Code.Empty, messageId, token: EMPTY, options: [], payload: EMPTY };
}

export const isRequest = (m: CoapMessage): boolean => isRequestCode(m.code);
export const isResponse = (m: CoapMessage): boolean => isResponseCode(m.code);
export const isEmpty = (m: CoapMessage): boolean => m.code === Code.Empty;

/** One line in libcoap's style, for logs and `-v`: `CON GET mid=… token=… [Uri-Path:a, …] 12 B`. */
export function describeMessage(m: CoapMessage): string {
  const opts = m.options.map((o) => `${optionName(o.number)}:${formatOptionValue(o)}`).join(', ');
  return `${m.type} ${m.code >> 5}.${String(m.code & 31).padStart(2, '0')} mid=${m.messageId} token=${m.token.toString('hex')} [${opts}] ${m.payload.length} B`;
}

/** Renders an option value according to its format (uint, string or hex). */
export function formatOptionValue(o: CoapOption): string {
  const def = optionDefinition(o.number);
  if (def?.format === 'uint' && o.value.length <= 4) return String(decodeUint(o.value));
  if (def?.format === 'string') return o.value.toString('utf8');
  return `0x${o.value.toString('hex')}`;
}

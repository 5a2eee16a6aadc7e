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

/** Decodes one datagram. Never throws. */
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
  const messageId = buf.readUInt16BE(2);
  const header: PartialHeader = { type, code, messageId };
  const fail = (error: string): DecodeResult => ({
    ok: false,
    error,
    header,
    reaction: type === 'CON' ? 'reset' : 'ignore',
  });
  // §3: "Lengths 9-15 are reserved, MUST NOT be sent, and MUST be processed as a message format error."
  if (tkl > 8) return fail(`token length ${tkl} is reserved`);
  const cls = code >> 5;
  // §3 and §12.1: classes 1, 6 and 7 are reserved.
  if (cls === 1 || cls === 6 || cls === 7) return fail(`code ${cls}.${code & 31} is in a reserved class`);
  if (code === Code.Empty) {
    // §4.1: an Empty message has TKL 0 and nothing after the header; anything else is a format error.
    if (tkl !== 0 || buf.length !== 4) return fail('Empty message with a token, options or payload');
    return {
      ok: true,
      message: { type, code, messageId, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) },
    };
  }
  if (buf.length < 4 + tkl) return fail(`token of ${tkl} bytes truncated`);
  const token = buf.subarray(4, 4 + tkl);
  const options: CoapOption[] = [];
  let off = 4 + tkl;
  let number = 0;
  let payload: Buffer = Buffer.alloc(0);
  while (off < buf.length) {
    const byte = buf[off++];
    if (byte === PAYLOAD_MARKER) {
      // §3: "The presence of a marker followed by a zero-length payload MUST be processed as a
      // message format error."
      if (off >= buf.length) return fail('payload marker with no payload');
      payload = buf.subarray(off);
      off = buf.length;
      break;
    }
    let delta = byte >> 4;
    let length = byte & 0x0f;
    // §3.1: 15 is reserved for the payload marker in both nibbles.
    if (delta === 15) return fail('option delta nibble 15 without payload marker');
    if (length === 15) return fail('option length nibble 15 is reserved');
    if (delta === 13) {
      if (off + 1 > buf.length) return fail('extended option delta truncated');
      delta = buf[off++] + 13;
    } else if (delta === 14) {
      if (off + 2 > buf.length) return fail('extended option delta truncated');
      delta = buf.readUInt16BE(off) + 269;
      off += 2;
    }
    if (length === 13) {
      if (off + 1 > buf.length) return fail('extended option length truncated');
      length = buf[off++] + 13;
    } else if (length === 14) {
      if (off + 2 > buf.length) return fail('extended option length truncated');
      length = buf.readUInt16BE(off) + 269;
      off += 2;
    }
    number += delta;
    if (number > 0xffff) return fail(`option number ${number} exceeds 65535`);
    if (off + length > buf.length) return fail(`option ${number} value of ${length} bytes truncated`);
    options.push({ number, value: buf.subarray(off, off + length) });
    off += length;
  }
  return { ok: true, message: { type, code, messageId, token, options, payload } };
}

function nibble(v: number): { n: number; ext: number; extLen: number } {
  if (v < 13) return { n: v, ext: 0, extLen: 0 };
  if (v < 269) return { n: 13, ext: v - 13, extLen: 1 };
  return { n: 14, ext: v - 269, extLen: 2 };
}

/** Encodes a message. Throws `RangeError` on values that cannot be sent (token > 8 bytes, …). */
export function encodeMessage(m: CoapMessage): Buffer {
  if (m.token.length > 8) throw new RangeError(`token of ${m.token.length} bytes (at most 8)`);
  if (m.messageId < 0 || m.messageId > 0xffff) throw new RangeError(`message ID ${m.messageId} out of range`);
  if (m.code < 0 || m.code > 255) throw new RangeError(`code ${m.code} out of range`);
  // Stable sort keeps the order of repeated options (Uri-Path segments) as given.
  const opts = m.options.length > 1 ? [...m.options].sort((a, b) => a.number - b.number) : m.options;
  let size = 4 + m.token.length;
  let prev = 0;
  for (const o of opts) {
    if (o.number < 0 || o.number > 0xffff) throw new RangeError(`option number ${o.number} out of range`);
    if (o.value.length > 65535 + 269) throw new RangeError(`option ${o.number} value too long`);
    size += 1 + nibble(o.number - prev).extLen + nibble(o.value.length).extLen + o.value.length;
    prev = o.number;
  }
  if (m.payload.length > 0) size += 1 + m.payload.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = (1 << 6) | (TYPES.indexOf(m.type) << 4) | m.token.length;
  out[1] = m.code;
  out.writeUInt16BE(m.messageId, 2);
  let off = 4;
  off += m.token.copy(out, off);
  prev = 0;
  for (const o of opts) {
    const d = nibble(o.number - prev);
    const l = nibble(o.value.length);
    out[off++] = (d.n << 4) | l.n;
    if (d.extLen === 1) out[off++] = d.ext;
    else if (d.extLen === 2) {
      out.writeUInt16BE(d.ext, off);
      off += 2;
    }
    if (l.extLen === 1) out[off++] = l.ext;
    else if (l.extLen === 2) {
      out.writeUInt16BE(l.ext, off);
      off += 2;
    }
    off += o.value.copy(out, off);
    prev = o.number;
  }
  if (m.payload.length > 0) {
    out[off++] = PAYLOAD_MARKER;
    m.payload.copy(out, off);
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
export function checkOptions(m: CoapMessage, known: ReadonlySet<number> = new Set()): OptionCheck {
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
  return { type: 'RST', code: Code.Empty, messageId, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) };
}

/** An Empty Acknowledgement for `messageId` (RFC 7252 §4.2). */
export function emptyAckFor(messageId: number): CoapMessage {
  return { type: 'ACK', code: Code.Empty, messageId, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) };
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

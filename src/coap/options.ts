/**
 * CoAP option numbers, their properties and value formats (RFC 7252 §5.4, §5.10, §12.2; RFC 7641
 * §2; RFC 7959 §2.1, §4), content-format numbers (RFC 7252 §12.3 and the IANA registry), and the
 * uint/string/opaque and Block value helpers. Pure functions, no I/O.
 */

/** Option numbers from the IANA "CoAP Option Numbers" registry that this stack understands. */
export const OptionNumber = {
  IfMatch: 1,
  UriHost: 3,
  ETag: 4,
  IfNoneMatch: 5,
  Observe: 6,
  UriPort: 7,
  LocationPath: 8,
  Oscore: 9,
  UriPath: 11,
  ContentFormat: 12,
  MaxAge: 14,
  UriQuery: 15,
  Accept: 17,
  LocationQuery: 20,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  ProxyUri: 35,
  ProxyScheme: 39,
  Size1: 60,
  Echo: 252,
  NoResponse: 258,
  RequestTag: 292,
} as const;
export type OptionNumber = (typeof OptionNumber)[keyof typeof OptionNumber];

export type OptionFormat = 'empty' | 'opaque' | 'uint' | 'string';

export interface OptionDefinition {
  name: string;
  format: OptionFormat;
  minLength: number;
  maxLength: number;
  repeatable: boolean;
}

/** RFC 7252 §5.10 table 4, RFC 7641 §2, RFC 7959 §2.1 and §4, RFC 7967 §2, RFC 9175 §3.2. */
const DEFINITIONS: Record<number, OptionDefinition> = {
  1: { name: 'If-Match', format: 'opaque', minLength: 0, maxLength: 8, repeatable: true },
  3: { name: 'Uri-Host', format: 'string', minLength: 1, maxLength: 255, repeatable: false },
  4: { name: 'ETag', format: 'opaque', minLength: 1, maxLength: 8, repeatable: true },
  5: { name: 'If-None-Match', format: 'empty', minLength: 0, maxLength: 0, repeatable: false },
  6: { name: 'Observe', format: 'uint', minLength: 0, maxLength: 3, repeatable: false },
  7: { name: 'Uri-Port', format: 'uint', minLength: 0, maxLength: 2, repeatable: false },
  8: { name: 'Location-Path', format: 'string', minLength: 0, maxLength: 255, repeatable: true },
  // RFC 8613 §2: critical, unsafe; the server refuses it unless it has OSCORE contexts.
  9: { name: 'OSCORE', format: 'opaque', minLength: 0, maxLength: 255, repeatable: false },
  11: { name: 'Uri-Path', format: 'string', minLength: 0, maxLength: 255, repeatable: true },
  12: { name: 'Content-Format', format: 'uint', minLength: 0, maxLength: 2, repeatable: false },
  14: { name: 'Max-Age', format: 'uint', minLength: 0, maxLength: 4, repeatable: false },
  15: { name: 'Uri-Query', format: 'string', minLength: 0, maxLength: 255, repeatable: true },
  17: { name: 'Accept', format: 'uint', minLength: 0, maxLength: 2, repeatable: false },
  20: { name: 'Location-Query', format: 'string', minLength: 0, maxLength: 255, repeatable: true },
  23: { name: 'Block2', format: 'uint', minLength: 0, maxLength: 3, repeatable: false },
  27: { name: 'Block1', format: 'uint', minLength: 0, maxLength: 3, repeatable: false },
  28: { name: 'Size2', format: 'uint', minLength: 0, maxLength: 4, repeatable: false },
  35: { name: 'Proxy-Uri', format: 'string', minLength: 1, maxLength: 1034, repeatable: false },
  39: { name: 'Proxy-Scheme', format: 'string', minLength: 1, maxLength: 255, repeatable: false },
  60: { name: 'Size1', format: 'uint', minLength: 0, maxLength: 4, repeatable: false },
  // RFC 9175 §2.2.1: elective, opaque 1..40.
  252: { name: 'Echo', format: 'opaque', minLength: 1, maxLength: 40, repeatable: false },
  258: { name: 'No-Response', format: 'uint', minLength: 0, maxLength: 1, repeatable: false },
  // RFC 9175 §3.2: elective, safe to forward, repeatable, opaque 0..8.
  292: { name: 'Request-Tag', format: 'opaque', minLength: 0, maxLength: 8, repeatable: true },
};

export function optionDefinition(num: number): OptionDefinition | undefined {
  return DEFINITIONS[num];
}

export function optionName(num: number): string {
  return DEFINITIONS[num]?.name ?? `Option-${num}`;
}

/** RFC 7252 §5.4.6: an option is critical when its number is odd. */
export const isCritical = (num: number): boolean => (num & 1) === 1;
/** RFC 7252 §5.4.6: an option is unsafe to forward when bit 1 is set. */
export const isUnsafe = (num: number): boolean => (num & 2) === 2;
/** RFC 7252 §5.4.6: NoCacheKey when bits 2..4 are all set (0b11100). */
export const isNoCacheKey = (num: number): boolean => (num & 0x1e) === 0x1c;

/** Content-Format numbers (RFC 7252 §12.3, RFC 8428 §12.3, RFC 8949 §9.5). */
export const ContentFormat = {
  'text/plain': 0,
  'application/link-format': 40,
  'application/xml': 41,
  'application/octet-stream': 42,
  'application/exi': 47,
  'application/json': 50,
  'application/cbor': 60,
  'application/senml+json': 110,
  'application/senml+cbor': 112,
} as const;

const FORMAT_BY_NUMBER = new Map<number, string>(Object.entries(ContentFormat).map(([k, v]) => [v, k]));
const FORMAT_ALIASES: Record<string, number> = {
  text: 0,
  plain: 0,
  'text/plain;charset=utf-8': 0,
  link: 40,
  'link-format': 40,
  xml: 41,
  octet: 42,
  'octet-stream': 42,
  binary: 42,
  json: 50,
  cbor: 60,
  senml: 110,
  'senml+json': 110,
  'senml+cbor': 112,
};

/** The media type of a content format, or its number as a string when we do not know it. */
export function contentFormatName(n: number): string {
  return FORMAT_BY_NUMBER.get(n) ?? String(n);
}

/** Parses a content format given as a number, a media type or a short alias (`json`, `cbor`, …). */
export function parseContentFormat(s: string): number {
  const t = s.trim().toLowerCase();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n > 0xffff) throw new RangeError(`content format ${s} out of range 0..65535`);
    return n;
  }
  const n = (ContentFormat as Record<string, number>)[t] ?? FORMAT_ALIASES[t];
  if (n === undefined) throw new RangeError(`unknown content format '${s}'`);
  return n;
}

/** RFC 7252 §3.2: a uint is sent in network byte order with the fewest bytes (0 → empty). */
export function encodeUint(v: number): Buffer {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`uint option value ${v} out of range`);
  if (v === 0) return Buffer.alloc(0);
  const len = v < 0x100 ? 1 : v < 0x10000 ? 2 : v < 0x1000000 ? 3 : 4;
  const b = Buffer.alloc(len);
  b.writeUIntBE(v, 0, len);
  return b;
}

/** Encoded uint values 0..255, shared: see {@link uintValue}. */
const SMALL_UINTS: readonly Buffer[] = Array.from({ length: 256 }, (_, v) => encodeUint(v));

/**
 * Like {@link encodeUint}, but values below 256 come from a shared table instead of a fresh Buffer:
 * for option values that go straight into the encoder, which only reads them. Never write into
 * the result.
 */
export function uintValue(v: number): Buffer {
  return v >= 0 && v < 256 && Number.isInteger(v) ? SMALL_UINTS[v] : encodeUint(v);
}

/** RFC 7252 §3.2: decodes a uint of 0..4 bytes (leading zeros are tolerated). */
export function decodeUint(b: Buffer): number {
  if (b.length > 4) throw new RangeError(`uint option of ${b.length} bytes`);
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

/** A Block1/Block2 value (RFC 7959 §2.2). */
export interface BlockValue {
  /** Block number (NUM). */
  num: number;
  /** More flag (M). */
  more: boolean;
  /** Size exponent: the block size is 2^(szx+4) bytes; 7 is reserved. */
  szx: number;
}

export const blockSize = (szx: number): number => 1 << (szx + 4);

/** Block size in bytes (16..1024, power of two) → SZX. */
export function szxFor(size: number): number {
  const szx = Math.log2(size) - 4;
  if (!Number.isInteger(szx) || szx < 0 || szx > 6) {
    throw new RangeError(`block size ${size} is not one of 16, 32, 64, 128, 256, 512, 1024`);
  }
  return szx;
}

export function encodeBlock(b: BlockValue): Buffer {
  if (b.num < 0 || b.num > 0xfffff || !Number.isInteger(b.num))
    throw new RangeError(`block number ${b.num} out of range`);
  if (b.szx < 0 || b.szx > 6) throw new RangeError(`SZX ${b.szx} out of range`);
  return encodeUint(b.num * 16 + (b.more ? 8 : 0) + b.szx);
}

/**
 * Decodes a Block option. Throws `RangeError` for a value longer than 3 bytes or the reserved SZX 7,
 * which RFC 7959 §2.2 says must lead to 4.00 in a request.
 */
export function decodeBlock(b: Buffer): BlockValue {
  if (b.length > 3) throw new RangeError(`Block option of ${b.length} bytes`);
  const v = decodeUint(b);
  const szx = v & 7;
  if (szx === 7) throw new RangeError('Block option with reserved SZX 7');
  return { num: Math.floor(v / 16), more: (v & 8) !== 0, szx };
}

/** Response codes (RFC 7252 §12.1.2, RFC 7959 §2.9, RFC 8132). The value is class*32+detail. */
export const Code = {
  Empty: 0,
  GET: 1,
  POST: 2,
  PUT: 3,
  DELETE: 4,
  FETCH: 5,
  PATCH: 6,
  iPATCH: 7,
  Created: 65,
  Deleted: 66,
  Valid: 67,
  Changed: 68,
  Content: 69,
  Continue: 95,
  BadRequest: 128,
  Unauthorized: 129,
  BadOption: 130,
  Forbidden: 131,
  NotFound: 132,
  MethodNotAllowed: 133,
  NotAcceptable: 134,
  RequestEntityIncomplete: 136,
  PreconditionFailed: 140,
  RequestEntityTooLarge: 141,
  UnsupportedContentFormat: 143,
  InternalServerError: 160,
  NotImplemented: 161,
  BadGateway: 162,
  ServiceUnavailable: 163,
  GatewayTimeout: 164,
  ProxyingNotSupported: 165,
} as const;

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'FETCH' | 'PATCH' | 'iPATCH';
const METHODS: Method[] = ['GET', 'POST', 'PUT', 'DELETE', 'FETCH', 'PATCH', 'iPATCH'];

export function methodCode(m: Method): number {
  return METHODS.indexOf(m) + 1;
}
export function methodName(code: number): Method | undefined {
  return code >= 1 && code <= 7 ? METHODS[code - 1] : undefined;
}

/** "2.05" style rendering of a code (RFC 7252 §3). */
export function codeString(code: number): string {
  return `${code >> 5}.${String(code & 31).padStart(2, '0')}`;
}

/** Parses "4.04" into a code. */
export function parseCode(s: string): number {
  const m = /^([0-7])\.(\d\d)$/.exec(s);
  if (!m || Number(m[2]) > 31) throw new RangeError(`bad CoAP code '${s}'`);
  return Number(m[1]) * 32 + Number(m[2]);
}

export const isRequestCode = (code: number): boolean => code >= 1 && code <= 31;
export const isResponseCode = (code: number): boolean => code >= 64 && code <= 191;

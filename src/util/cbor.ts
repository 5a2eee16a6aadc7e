/**
 * A small, strict CBOR codec (RFC 8949). Used by SenML-CBOR (RFC 8428 §6) and available to the
 * CoAP layer.
 *
 * Decoding is strict: every length is checked against the bytes left before anything is read,
 * reserved additional-information values (28–30, RFC 8949 §3) are rejected, text strings must be
 * valid UTF-8 (§3.1 major type 3), a map may not repeat a key (§5.6), nesting is capped by a depth
 * limit, and trailing bytes after the top-level item are an error (§5.3.1 "not well-formed"
 * includes incomplete items; we are stricter and also refuse extra data). Indefinite-length items
 * (§3.2) are accepted, with chunks of the right major type only.
 *
 * Encoding uses preferred serialization (§4.1): the shortest argument, and for floats the shortest
 * of half/single/double that keeps the value exactly.
 *
 * The JS mapping:
 *   unsigned/negative int → number (bigint when outside ±2^53−1), byte string → Buffer,
 *   text → string, array → CborValue[], map → Map (keys of any type), tag → CborTag,
 *   false/true/null/undefined → the JS values, other simple values → CborSimple,
 *   float → number.
 */

export type CborValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | undefined
  | Buffer
  | CborValue[]
  | Map<CborValue, CborValue>
  | CborTag
  | CborSimple
  | { readonly [key: string]: CborValue };

/** A tagged data item (major type 6, RFC 8949 §3.4). */
export class CborTag {
  constructor(
    readonly tag: number | bigint,
    readonly value: CborValue,
  ) {}
}

/** A simple value (major type 7) other than false/true/null/undefined (RFC 8949 §3.3). */
export class CborSimple {
  constructor(readonly value: number) {
    if (!Number.isInteger(value) || value < 0 || value > 255 || (value >= 24 && value < 32)) {
      throw new CborError(`simple value ${value} is reserved or out of range`);
    }
  }
}

export class CborError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CborError';
  }
}

export interface DecodeOptions {
  /** Maximum nesting of arrays, maps and tags. Default 32. */
  maxDepth?: number;
  /** Maximum number of elements in one array or map (guards allocation). Default 65 536. */
  maxItems?: number;
}

const BREAK = Symbol('break');

class Decoder {
  private off = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly maxDepth: number,
    private readonly maxItems: number,
  ) {}

  done(): boolean {
    return this.off === this.buf.length;
  }
  get offset(): number {
    return this.off;
  }

  private need(n: number, what: string): void {
    if (this.off + n > this.buf.length) {
      throw new CborError(
        `truncated: ${what} needs ${n} bytes at offset ${this.off}, ${this.buf.length - this.off} left`,
      );
    }
  }

  private u8(what: string): number {
    this.need(1, what);
    return this.buf[this.off++];
  }

  /** Reads the argument for additional information `ai` (RFC 8949 §3); null means indefinite (31). */
  private argument(ai: number, major: number): number | bigint | null {
    if (ai < 24) return ai;
    switch (ai) {
      case 24:
        return this.u8('1-byte argument');
      case 25: {
        this.need(2, '2-byte argument');
        const v = this.buf.readUInt16BE(this.off);
        this.off += 2;
        return v;
      }
      case 26: {
        this.need(4, '4-byte argument');
        const v = this.buf.readUInt32BE(this.off);
        this.off += 4;
        return v;
      }
      case 27: {
        this.need(8, '8-byte argument');
        const v = this.buf.readBigUInt64BE(this.off);
        this.off += 8;
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case 31:
        // Indefinite length exists only for major types 2–5 (§3.2); 7/31 is the "break" stop code.
        if (major >= 2 && major <= 5) return null;
        if (major === 7) return null;
        throw new CborError(`indefinite length is not allowed for major type ${major}`);
      default:
        throw new CborError(`reserved additional information ${ai} (RFC 8949 §3)`);
    }
  }

  /** A length as a safe number that also fits in what is left of the input. */
  private length(arg: number | bigint, what: string, unit = 1): number {
    if (typeof arg === 'bigint' || arg * unit > this.buf.length - this.off) {
      throw new CborError(
        `truncated: ${what} of length ${arg} at offset ${this.off}, ${this.buf.length - this.off} bytes left`,
      );
    }
    return arg;
  }

  item(depth: number): CborValue | typeof BREAK {
    const ib = this.u8('initial byte');
    const major = ib >> 5;
    const ai = ib & 0x1f;
    if (major === 7) return this.simpleOrFloat(ai);
    const arg = this.argument(ai, major);
    switch (major) {
      case 0:
        return arg as number | bigint;
      case 1:
        // −1 − n (§3.1 major type 1).
        return typeof arg === 'bigint' ? -1n - arg : -1 - (arg as number);
      case 2:
      case 3: {
        const bytes = arg === null ? this.chunks(major) : this.bytes(this.length(arg, 'string'));
        return major === 2 ? bytes : utf8(bytes);
      }
      case 4: {
        this.enter(depth);
        const out: CborValue[] = [];
        if (arg === null) {
          for (;;) {
            const v = this.item(depth + 1);
            if (v === BREAK) break;
            this.count(out.length + 1);
            out.push(v);
          }
        } else {
          // Each element takes at least one byte: a length larger than the input is truncated.
          const n = this.length(arg, 'array');
          this.count(n);
          for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
        }
        return out;
      }
      case 5: {
        this.enter(depth);
        const out = new Map<CborValue, CborValue>();
        const seen = new Set<string>();
        const add = (k: CborValue) => {
          const v = this.value(depth + 1);
          const id = keyIdentity(k);
          if (seen.has(id)) throw new CborError(`duplicate map key ${id} (RFC 8949 §5.6)`);
          seen.add(id);
          this.count(out.size + 1);
          out.set(k, v);
        };
        if (arg === null) {
          for (;;) {
            const k = this.item(depth + 1);
            if (k === BREAK) break;
            add(k);
          }
        } else {
          const n = this.length(arg, 'map', 2);
          for (let i = 0; i < n; i++) add(this.value(depth + 1));
        }
        return out;
      }
      case 6: {
        this.enter(depth);
        return new CborTag(arg as number | bigint, this.value(depth + 1));
      }
    }
    throw new CborError(`unknown major type ${major}`);
  }

  value(depth: number): CborValue {
    const v = this.item(depth);
    if (v === BREAK) throw new CborError(`unexpected break at offset ${this.off - 1}`);
    return v;
  }

  private enter(depth: number): void {
    if (depth >= this.maxDepth) throw new CborError(`nesting deeper than ${this.maxDepth}`);
  }
  private count(n: number): void {
    if (n > this.maxItems) throw new CborError(`more than ${this.maxItems} items in one array or map`);
  }

  private bytes(n: number): Buffer {
    this.need(n, 'string');
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return Buffer.from(b);
  }

  /** Indefinite-length string: definite chunks of the same major type until break (§3.2.3). */
  private chunks(major: number): Buffer {
    const parts: Buffer[] = [];
    for (;;) {
      const ib = this.u8('string chunk');
      if (ib === 0xff) break;
      if (ib >> 5 !== major || (ib & 0x1f) === 31) {
        throw new CborError(`indefinite string chunk has initial byte 0x${ib.toString(16)} (RFC 8949 §3.2.3)`);
      }
      const arg = this.argument(ib & 0x1f, major) as number | bigint;
      const chunk = this.bytes(this.length(arg, 'string chunk'));
      // A text chunk must itself be valid UTF-8: characters may not be split across chunks.
      if (major === 3) utf8(chunk);
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  }

  private simpleOrFloat(ai: number): CborValue | typeof BREAK {
    if (ai < 20) return new CborSimple(ai);
    switch (ai) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 24: {
        const v = this.u8('simple value');
        // §3.3: values 0..31 in the one-byte form are not well-formed.
        if (v < 32) throw new CborError(`simple value ${v} in two-byte form is not well-formed (RFC 8949 §3.3)`);
        return new CborSimple(v);
      }
      case 25: {
        this.need(2, 'half float');
        const v = decodeHalf(this.buf.readUInt16BE(this.off));
        this.off += 2;
        return v;
      }
      case 26: {
        this.need(4, 'single float');
        const v = this.buf.readFloatBE(this.off);
        this.off += 4;
        return v;
      }
      case 27: {
        this.need(8, 'double float');
        const v = this.buf.readDoubleBE(this.off);
        this.off += 8;
        return v;
      }
      case 31:
        return BREAK;
      default:
        throw new CborError(`reserved additional information ${ai} in major type 7`);
    }
  }
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });
function utf8(b: Buffer): string {
  try {
    return textDecoder.decode(b);
  } catch {
    throw new CborError('text string is not valid UTF-8');
  }
}

function keyIdentity(k: CborValue): string {
  if (typeof k === 'number' || typeof k === 'bigint') return `n:${k}`;
  if (typeof k === 'string') return `s:${JSON.stringify(k)}`;
  if (Buffer.isBuffer(k)) return `b:${k.toString('hex')}`;
  if (k === null || k === undefined || typeof k === 'boolean') return `v:${String(k)}`;
  // Arrays, maps and tags as keys are allowed but compared by their encoding.
  return `e:${encode(k).toString('hex')}`;
}

/** IEEE 754 binary16 → number (RFC 8949 Appendix D). */
function decodeHalf(h: number): number {
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  let v: number;
  if (exp === 0) v = mant * 2 ** -24;
  else if (exp !== 31) v = (mant + 1024) * 2 ** (exp - 25);
  else v = mant === 0 ? Number.POSITIVE_INFINITY : Number.NaN;
  return h & 0x8000 ? -v : v;
}

/** number → binary16 bits if the conversion is exact, else null. */
function encodeHalf(v: number): number | null {
  if (Number.isNaN(v)) return 0x7e00;
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Number.POSITIVE_INFINITY) return sign | 0x7c00;
  if (a === 0) return sign;
  // Subnormals: multiples of 2^-24 below 2^-14.
  if (a < 2 ** -14) {
    const m = a / 2 ** -24;
    return Number.isInteger(m) ? sign | m : null;
  }
  const exp = Math.floor(Math.log2(a));
  if (exp > 15) return null;
  const mant = a / 2 ** exp - 1;
  const m = mant * 1024;
  if (!Number.isInteger(m) || m >= 1024) return null;
  if (decodeHalf(sign | ((exp + 15) << 10) | m) !== v) return null;
  return sign | ((exp + 15) << 10) | m;
}

/** Decodes exactly one CBOR data item that fills `buf`. */
export function decode(buf: Buffer, opts: DecodeOptions = {}): CborValue {
  const d = new Decoder(buf, opts.maxDepth ?? 32, opts.maxItems ?? 65_536);
  const v = d.value(0);
  if (!d.done()) throw new CborError(`${buf.length - d.offset} trailing bytes after the data item`);
  return v;
}

class Encoder {
  private parts: Buffer[] = [];
  private depth = 0;

  result(): Buffer {
    return Buffer.concat(this.parts);
  }

  private head(major: number, arg: number | bigint): void {
    const m = major << 5;
    if (typeof arg === 'bigint') {
      if (arg < 0n || arg > 0xffff_ffff_ffff_ffffn) throw new CborError(`argument ${arg} does not fit in 64 bits`);
      if (arg <= BigInt(Number.MAX_SAFE_INTEGER)) {
        this.head(major, Number(arg));
        return;
      }
      const b = Buffer.alloc(9);
      b[0] = m | 27;
      b.writeBigUInt64BE(arg, 1);
      this.parts.push(b);
      return;
    }
    if (arg < 24) this.parts.push(Buffer.from([m | arg]));
    else if (arg <= 0xff) this.parts.push(Buffer.from([m | 24, arg]));
    else if (arg <= 0xffff) {
      const b = Buffer.alloc(3);
      b[0] = m | 25;
      b.writeUInt16BE(arg, 1);
      this.parts.push(b);
    } else if (arg <= 0xffff_ffff) {
      const b = Buffer.alloc(5);
      b[0] = m | 26;
      b.writeUInt32BE(arg, 1);
      this.parts.push(b);
    } else {
      const b = Buffer.alloc(9);
      b[0] = m | 27;
      b.writeBigUInt64BE(BigInt(arg), 1);
      this.parts.push(b);
    }
  }

  value(v: CborValue): void {
    if (v === false) this.parts.push(Buffer.from([0xf4]));
    else if (v === true) this.parts.push(Buffer.from([0xf5]));
    else if (v === null) this.parts.push(Buffer.from([0xf6]));
    else if (v === undefined) this.parts.push(Buffer.from([0xf7]));
    else if (typeof v === 'number') this.number(v);
    else if (typeof v === 'bigint') {
      if (v >= 0n) this.head(0, v);
      else this.head(1, -1n - v);
    } else if (typeof v === 'string') {
      const b = Buffer.from(v, 'utf8');
      this.head(3, b.length);
      this.parts.push(b);
    } else if (Buffer.isBuffer(v)) {
      this.head(2, v.length);
      this.parts.push(v);
    } else if (v instanceof CborSimple) {
      if (v.value < 24) this.parts.push(Buffer.from([0xe0 | v.value]));
      else this.parts.push(Buffer.from([0xf8, v.value]));
    } else {
      if (++this.depth > 512) throw new CborError('value nested too deeply to encode');
      if (v instanceof CborTag) {
        this.head(6, v.tag);
        this.value(v.value);
      } else if (Array.isArray(v)) {
        this.head(4, v.length);
        for (const x of v) this.value(x);
      } else if (v instanceof Map) {
        this.head(5, v.size);
        for (const [k, x] of v) {
          this.value(k);
          this.value(x);
        }
      } else {
        const entries = Object.entries(v);
        this.head(5, entries.length);
        for (const [k, x] of entries) {
          this.value(k);
          this.value(x);
        }
      }
      this.depth--;
    }
  }

  private number(v: number): void {
    if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER && !Object.is(v, -0)) {
      if (v >= 0) this.head(0, v);
      else this.head(1, -1 - v);
      return;
    }
    // Preferred serialization of floats (§4.1): the shortest form that round-trips.
    const h = encodeHalf(v);
    if (h !== null) {
      const b = Buffer.alloc(3);
      b[0] = 0xf9;
      b.writeUInt16BE(h, 1);
      this.parts.push(b);
      return;
    }
    if (Math.fround(v) === v) {
      const b = Buffer.alloc(5);
      b[0] = 0xfa;
      b.writeFloatBE(v, 1);
      this.parts.push(b);
      return;
    }
    const b = Buffer.alloc(9);
    b[0] = 0xfb;
    b.writeDoubleBE(v, 1);
    this.parts.push(b);
  }
}

/** Encodes a value with preferred serialization (RFC 8949 §4.1). Plain objects encode as maps with text keys. */
export function encode(v: CborValue): Buffer {
  const e = new Encoder();
  e.value(v);
  return e.result();
}

/** One item of a CBOR sequence with the bytes it was decoded from. */
export interface SequenceItem {
  readonly value: CborValue;
  /** The item's own encoding, as it stood in the input (a view, not a copy). */
  readonly bytes: Buffer;
}

export interface SequenceOptions extends DecodeOptions {
  /** Maximum number of top-level items. Default 64. */
  maxSequenceItems?: number;
}

/**
 * Decodes a CBOR sequence (RFC 8742): zero or more data items back to back, with no framing.
 * Every item is checked as strictly as {@link decode} checks one; the raw bytes of each item are
 * returned beside its value so that a protocol can hash or re-check exactly what was received.
 */
export function decodeSequence(buf: Buffer, opts: SequenceOptions = {}): SequenceItem[] {
  const d = new Decoder(buf, opts.maxDepth ?? 32, opts.maxItems ?? 65_536);
  const max = opts.maxSequenceItems ?? 64;
  const out: SequenceItem[] = [];
  while (!d.done()) {
    if (out.length >= max) throw new CborError(`more than ${max} items in a CBOR sequence`);
    const start = d.offset;
    const value = d.value(0);
    out.push({ value, bytes: buf.subarray(start, d.offset) });
  }
  return out;
}

/** Encodes values as a CBOR sequence (RFC 8742): their encodings concatenated. */
export function encodeSequence(values: readonly CborValue[]): Buffer {
  return Buffer.concat(values.map((v) => encode(v)));
}

/**
 * Bounds-checked reading and writing of TLS presentation-language structures (RFC 5246 §4).
 * Every length read from the wire goes through `Reader`, which throws `DtlsDecodeError` instead of
 * reading past the end: no codec indexes a Buffer directly with a wire-supplied length.
 */
import { DtlsDecodeError } from '../errors.ts';

export class Reader {
  private off = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what = 'structure',
  ) {}

  get offset(): number {
    return this.off;
  }
  get remaining(): number {
    return this.buf.length - this.off;
  }
  private need(n: number, field: string): void {
    if (n < 0 || this.off + n > this.buf.length) {
      throw new DtlsDecodeError(`${this.what}: ${field} needs ${n} bytes, ${this.remaining} left`);
    }
  }
  u8(field = 'uint8'): number {
    this.need(1, field);
    return this.buf[this.off++];
  }
  u16(field = 'uint16'): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  u24(field = 'uint24'): number {
    this.need(3, field);
    const v = this.buf.readUIntBE(this.off, 3);
    this.off += 3;
    return v;
  }
  u48(field = 'uint48'): number {
    this.need(6, field);
    const v = this.buf.readUIntBE(this.off, 6);
    this.off += 6;
    return v;
  }
  bytes(n: number, field = 'bytes'): Buffer {
    this.need(n, field);
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }
  /** opaque<0..2^8-1> */
  vec8(field = 'vector', min = 0, max = 0xff): Buffer {
    const n = this.u8(`${field} length`);
    return this.checked(this.bytes(n, field), field, min, max);
  }
  /** opaque<0..2^16-1> */
  vec16(field = 'vector', min = 0, max = 0xffff): Buffer {
    const n = this.u16(`${field} length`);
    return this.checked(this.bytes(n, field), field, min, max);
  }
  /** opaque<0..2^24-1> */
  vec24(field = 'vector', min = 0, max = 0xffffff): Buffer {
    const n = this.u24(`${field} length`);
    return this.checked(this.bytes(n, field), field, min, max);
  }
  rest(): Buffer {
    const v = this.buf.subarray(this.off);
    this.off = this.buf.length;
    return v;
  }
  /** Throws unless every byte was consumed (trailing garbage is a decode_error). */
  end(): void {
    if (this.remaining !== 0) throw new DtlsDecodeError(`${this.what}: ${this.remaining} trailing bytes`);
  }
  private checked(v: Buffer, field: string, min: number, max: number): Buffer {
    if (v.length < min || v.length > max) {
      throw new DtlsDecodeError(`${this.what}: ${field} length ${v.length} outside ${min}..${max}`);
    }
    return v;
  }
}

/**
 * Builds a structure in one growing buffer: each field is written in place (no small buffer per
 * field and no concatenation at the end), and `finish()` returns the bytes written.
 */
export class Writer {
  private buf: Buffer;
  private len = 0;

  constructor(initialCapacity = 128) {
    this.buf = Buffer.allocUnsafe(initialCapacity);
  }

  get length(): number {
    return this.len;
  }
  /** Room for `n` more bytes; returns the offset to write them at. */
  private reserve(n: number): number {
    const off = this.len;
    if (off + n > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, off + n));
      this.buf.copy(grown, 0, 0, off);
      this.buf = grown;
    }
    this.len = off + n;
    return off;
  }
  u8(v: number): this {
    const off = this.reserve(1);
    this.buf[off] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    const off = this.reserve(2);
    this.buf.writeUInt16BE(v, off);
    return this;
  }
  u24(v: number): this {
    const off = this.reserve(3);
    this.buf.writeUIntBE(v, off, 3);
    return this;
  }
  u48(v: number): this {
    const off = this.reserve(6);
    this.buf.writeUIntBE(v, off, 6);
    return this;
  }
  bytes(b: Buffer | Uint8Array): this {
    const off = this.reserve(b.byteLength);
    this.buf.set(b, off);
    return this;
  }
  vec8(b: Buffer): this {
    if (b.length > 0xff) throw new RangeError('vec8 too long');
    return this.u8(b.length).bytes(b);
  }
  vec16(b: Buffer): this {
    if (b.length > 0xffff) throw new RangeError('vec16 too long');
    return this.u16(b.length).bytes(b);
  }
  vec24(b: Buffer): this {
    if (b.length > 0xffffff) throw new RangeError('vec24 too long');
    return this.u24(b.length).bytes(b);
  }
  /** The bytes written (a view of the writer's buffer: do not write to the Writer after this). */
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/**
 * A copy with its own memory. Node's small Buffers (Buffer.from, concat, allocUnsafe) are slices
 * of shared 8 KiB pools: a long-lived slice keeps its whole pool alive. State that outlives a
 * handshake (session IDs, randoms, a kept flight) is copied out with this.
 */
export function ownCopy(b: Buffer): Buffer {
  const c = Buffer.allocUnsafeSlow(b.length);
  b.copy(c);
  return c;
}

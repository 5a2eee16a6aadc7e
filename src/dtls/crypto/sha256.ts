/**
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) for the short inputs of the TLS PRF. A PRF call
 * makes 2–4 HMACs per 32 output bytes over inputs of under two blocks; through node:crypto each
 * is a native object with its own key set-up (~2 µs, a fifth of a PSK handshake's CPU on both
 * sides). Here the key's inner and outer pads are compressed once per PRF call and each HMAC is
 * then 2–3 compressions in plain integer arithmetic. SHA-256 uses only additions, rotations and
 * bitwise operations, no secret-dependent table lookups or branches, so it runs in constant time
 * for a given length, as in C.
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const IV = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);
const BLOCK = 64;
export const SHA256_LENGTH = 32;

/** Scratch: the message schedule, the running state, and the last one or two blocks with their padding. */
const W = new Int32Array(64);
const STATE = new Int32Array(8);
const TAIL = new Uint8Array(2 * BLOCK);

/** Compresses the 64-byte block at `off` of `data` into `state`. */
function compress(state: Int32Array, data: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const j = off + 4 * i;
    W[i] = (data[j] << 24) | (data[j + 1] << 16) | (data[j + 2] << 8) | data[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15];
    const w2 = W[i - 2];
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = state[0];
  let b = state[1];
  let c = state[2];
  let d = state[3];
  let e = state[4];
  let f = state[5];
  let g = state[6];
  let h = state[7];
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + s1 + ch + K[i] + W[i]) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + s0 + maj) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0;
  state[5] = (state[5] + f) | 0;
  state[6] = (state[6] + g) | 0;
  state[7] = (state[7] + h) | 0;
}

/**
 * Hashes `msg[from, to)` on from `start` (a state after `prefix` bytes, a multiple of 64, were
 * compressed) and writes the 32-byte digest at `outOff` of `out`. A range rather than a view: the
 * PRF and the transcript call this a dozen times per handshake, and each `subarray` was a new
 * typed-array object (~10 % of the bytes a PSK handshake allocated).
 */
function finish(
  start: Int32Array,
  prefix: number,
  msg: Uint8Array,
  from: number,
  to: number,
  out: Uint8Array,
  outOff: number,
): void {
  const state = STATE;
  state.set(start);
  const n = to - from;
  let off = from;
  for (; off + BLOCK <= to; off += BLOCK) compress(state, msg, off);
  const rest = to - off;
  const tailLength = rest + 9 <= BLOCK ? BLOCK : 2 * BLOCK;
  for (let i = 0; i < rest; i++) TAIL[i] = msg[off + i];
  for (let i = rest; i < tailLength; i++) TAIL[i] = 0;
  TAIL[rest] = 0x80;
  // Message length in bits, big-endian in the last 8 bytes (lengths here stay far below 2^32 bytes).
  const bits = (prefix + n) * 8;
  const hi = Math.floor(bits / 0x1_0000_0000);
  TAIL[tailLength - 8] = hi >>> 24;
  TAIL[tailLength - 7] = (hi >>> 16) & 0xff;
  TAIL[tailLength - 6] = (hi >>> 8) & 0xff;
  TAIL[tailLength - 5] = hi & 0xff;
  TAIL[tailLength - 4] = (bits >>> 24) & 0xff;
  TAIL[tailLength - 3] = (bits >>> 16) & 0xff;
  TAIL[tailLength - 2] = (bits >>> 8) & 0xff;
  TAIL[tailLength - 1] = bits & 0xff;
  compress(state, TAIL, 0);
  if (tailLength > BLOCK) compress(state, TAIL, BLOCK);
  for (let i = 0; i < 8; i++) {
    const w = state[i];
    const o = outOff + 4 * i;
    out[o] = w >>> 24;
    out[o + 1] = (w >>> 16) & 0xff;
    out[o + 2] = (w >>> 8) & 0xff;
    out[o + 3] = w & 0xff;
  }
}

/** SHA-256 of `msg`. */
export function sha256(msg: Uint8Array): Buffer {
  const out = Buffer.alloc(SHA256_LENGTH);
  finish(IV, 0, msg, 0, msg.length, out, 0);
  return out;
}

/** Scratch for a key's padded block (compressed at once, then overwritten). */
const PAD = new Uint8Array(BLOCK);

/** HMAC-SHA256 under one key, its padded key blocks compressed once. */
export class HmacSha256 {
  private readonly inner = new Int32Array(8);
  private readonly outer = new Int32Array(8);
  /** The inner hash, fed to the outer one. */
  private readonly innerDigest = new Uint8Array(SHA256_LENGTH);

  constructor(key: Uint8Array) {
    this.rekey(key);
  }

  /** Starts over under `key` (one instance can serve one PRF call after another without allocating). */
  rekey(key: Uint8Array): void {
    // RFC 2104 §2: a key longer than the block is hashed first.
    const k = key.length > BLOCK ? sha256(key) : key;
    const pad = PAD;
    pad.fill(0x36);
    for (let i = 0; i < k.length; i++) pad[i] ^= k[i];
    this.inner.set(IV);
    compress(this.inner, pad, 0);
    pad.fill(0x5c);
    for (let i = 0; i < k.length; i++) pad[i] ^= k[i];
    this.outer.set(IV);
    compress(this.outer, pad, 0);
    pad.fill(0);
  }

  /** HMAC of `msg`, written at `outOff` of `out` (32 bytes). */
  macInto(msg: Uint8Array, out: Uint8Array, outOff: number): void {
    this.macRangeInto(msg, 0, msg.length, out, outOff);
  }

  /** HMAC of `msg[from, to)`, written at `outOff` of `out` (32 bytes). */
  macRangeInto(msg: Uint8Array, from: number, to: number, out: Uint8Array, outOff: number): void {
    finish(this.inner, BLOCK, msg, from, to, this.innerDigest, 0);
    finish(this.outer, BLOCK, this.innerDigest, 0, SHA256_LENGTH, out, outOff);
  }

  /** Overwrites the key-dependent state and the shared scratch (the PRF call is over). */
  wipe(): void {
    this.inner.fill(0);
    this.outer.fill(0);
    this.innerDigest.fill(0);
    W.fill(0);
    STATE.fill(0);
    TAIL.fill(0);
  }
}

/**
 * Incremental SHA-256 for the handshake transcript: a few hundred bytes hashed in pieces, with a
 * digest taken two or three times along the way. node:crypto's Hash costs a native object per
 * transcript and per digest copy plus a JS→C++ call per update; here a digest finishes a copy of
 * eight words and at most two blocks.
 */
export class Sha256 {
  private readonly state = new Int32Array(IV);
  /** Bytes not yet compressed (less than one block). */
  private readonly pending = new Uint8Array(BLOCK);
  private pendingLength = 0;
  /** Bytes compressed into `state` (a multiple of 64). */
  private compressed = 0;

  /** Hashes `data`, then `more` when given. */
  update(data: Uint8Array, more?: Uint8Array): void {
    this.absorb(data);
    if (more) this.absorb(more);
  }

  private absorb(data: Uint8Array): void {
    const n = data.length;
    let off = 0;
    if (this.pendingLength > 0) {
      const take = Math.min(BLOCK - this.pendingLength, n);
      for (let i = 0; i < take; i++) this.pending[this.pendingLength + i] = data[i];
      this.pendingLength += take;
      off = take;
      if (this.pendingLength < BLOCK) return;
      compress(this.state, this.pending, 0);
      this.compressed += BLOCK;
      this.pendingLength = 0;
    }
    for (; off + BLOCK <= n; off += BLOCK) {
      compress(this.state, data, off);
      this.compressed += BLOCK;
    }
    for (let i = off; i < n; i++) this.pending[i - off] = data[i];
    this.pendingLength = n - off;
  }

  /** The digest of everything so far; hashing may go on afterwards. */
  digest(): Buffer {
    const out = Buffer.alloc(SHA256_LENGTH);
    this.digestInto(out, 0);
    return out;
  }

  /** The digest of everything so far, written at `off` of `out`; hashing may go on afterwards. */
  digestInto(out: Uint8Array, off: number): void {
    finish(this.state, this.compressed, this.pending, 0, this.pendingLength, out, off);
  }
}

/**
 * The SHA-256 of the handshake transcript and the HMAC of the cookie: OpenSSL's (native/prf.c),
 * with the state in a small array of its own, where the module is built; else our TypeScript
 * implementation (sha256.ts). Both give the same bytes (test/dtls/crypto/hash.test.ts).
 *
 * A PSK handshake hashes ~400 bytes of transcript in a dozen pieces and two cookies; in TypeScript
 * that was ~4.4 % of the server's time (docs/benchmarks.md, round 8). Natively a piece is one call
 * (a message's header and body together).
 */
import { type NativePrf, nativePrf } from './native-prf.ts';
import { HmacSha256, Sha256 } from './sha256.ts';

/** A running SHA-256: a digest may be taken at any point and hashing goes on. */
export interface RunningSha256 {
  /** Hashes `a`, then `b` when given. */
  update(a: Uint8Array, b?: Uint8Array): void;
  digestInto(out: Uint8Array, off: number): void;
}

/** HMAC-SHA256 under one key. */
export interface KeyedHmac {
  /** HMAC of msg[from, to), written at out[outOff, outOff + 32). */
  macRangeInto(msg: Uint8Array, from: number, to: number, out: Uint8Array, outOff: number): void;
}

const NOTHING = new Uint8Array(0);

function nativeHashes(n: NativePrf): { sha256(): RunningSha256; hmac(key: Uint8Array): KeyedHmac } {
  class NativeSha256 implements RunningSha256 {
    // A slice of Node's shared pool: a transcript lives for one handshake, and a buffer of its own
    // (allocUnsafeSlow) cost more than hashing a whole PSK handshake's transcript natively.
    private readonly state = Buffer.allocUnsafe(n.sha256StateLength);
    constructor() {
      n.sha256Init(this.state);
    }
    update(a: Uint8Array, b: Uint8Array = NOTHING): void {
      n.sha256Update(this.state, a, b);
    }
    digestInto(out: Uint8Array, off: number): void {
      n.sha256DigestInto(this.state, out, off);
    }
  }
  class NativeHmac implements KeyedHmac {
    // Its own memory: the cookie key lives as long as the endpoint and should not pin a pool slab.
    private readonly state = Buffer.allocUnsafeSlow(n.hmacStateLength);
    constructor(key: Uint8Array) {
      n.hmacSha256Key(this.state, key);
    }
    macRangeInto(msg: Uint8Array, from: number, to: number, out: Uint8Array, outOff: number): void {
      n.hmacSha256Into(this.state, msg, from, to, out, outOff);
    }
  }
  return { sha256: () => new NativeSha256(), hmac: (key) => new NativeHmac(key) };
}

// A module built before these functions were added (a stale dist/) has only pSha256.
const native = nativePrf && typeof nativePrf.sha256Init === 'function' ? nativeHashes(nativePrf) : undefined;

/** A fresh running SHA-256. */
export const newSha256: () => RunningSha256 = native ? native.sha256 : () => new Sha256();
/** HMAC-SHA256 under `key`; the key's pads are computed here, once (the caller may then wipe `key`). */
export const newHmacSha256: (key: Uint8Array) => KeyedHmac = native ? native.hmac : (key) => new HmacSha256(key);

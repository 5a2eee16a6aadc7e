/**
 * The TLS 1.2 PRF's P_SHA256 in one native call (native/prf.c: HMAC over the SHA-256 of the
 * OpenSSL Node links), where scripts/build-native.mjs built it; undefined otherwise, and prf.ts
 * computes it with its TypeScript HMAC. ~3.5 µs a 48-byte PRF call against ~20 µs. The same module
 * runs the transcript's SHA-256 and the cookie's HMAC (crypto/hash.ts).
 * `SECURESENSE_PRF=js` turns it all off.
 */
import { loadNative } from '../../util/native.ts';

export interface NativePrf {
  /** Fills `out` with P_SHA256(secret, label ‖ seed ‖ seed2); true (throws on arguments that are not byte arrays). */
  pSha256(secret: Uint8Array, label: Uint8Array, seed: Uint8Array, seed2: Uint8Array, out: Buffer): boolean;
  /** Bytes of a running SHA-256's state. */
  readonly sha256StateLength: number;
  /** A fresh SHA-256 in `state` (at least sha256StateLength bytes; RangeError if shorter). */
  sha256Init(state: Uint8Array): boolean;
  /** Hashes `a`, then `b`. */
  sha256Update(state: Uint8Array, a: Uint8Array, b: Uint8Array): boolean;
  /** The digest so far at out[off, off + 32); hashing may go on. */
  sha256DigestInto(state: Uint8Array, out: Uint8Array, off: number): boolean;
  /** Bytes of an HMAC key's state (its two compressed pads). */
  readonly hmacStateLength: number;
  /** The HMAC-SHA256 key's pads, compressed, in `state`. */
  hmacSha256Key(state: Uint8Array, key: Uint8Array): boolean;
  /** HMAC of msg[from, to) at out[off, off + 32) (RangeError outside either). */
  hmacSha256Into(state: Uint8Array, msg: Uint8Array, from: number, to: number, out: Uint8Array, off: number): boolean;
}

export const nativePrf = loadNative<NativePrf>('prf', 'SECURESENSE_PRF', 'js');

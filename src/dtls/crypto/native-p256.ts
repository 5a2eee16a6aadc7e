/**
 * Ephemeral ECDH on P-256 in native calls (native/p256.c: the point arithmetic of the OpenSSL Node
 * links, the curve's group kept per thread), where scripts/build-native.mjs built it; undefined
 * otherwise, and ecc.ts uses node:crypto's createECDH. ~13 µs a key pair and ~41 µs an agreement
 * against ~45 and ~90 µs. `SECURESENSE_P256=js` turns it off.
 */
import { loadNative } from '../../util/native.ts';

export interface NativeP256 {
  /** A random scalar in [1, n) into `priv` (32 bytes) and its uncompressed public point into `pub` (65 bytes); true. */
  p256Keygen(priv: Uint8Array, pub: Uint8Array): boolean;
  /**
   * The X coordinate of priv · peer into `out` (32 bytes): true; false (out untouched) when `peer`
   * — 65 bytes (0x04 ‖ X ‖ Y) or 33 (0x02 or 0x03 ‖ X, the form EDHOC's X-only keys take) — is not
   * a point of P-256, or `priv` is not in [1, n). Wrong lengths are RangeErrors.
   */
  p256Agree(priv: Uint8Array, peer: Uint8Array, out: Uint8Array): boolean;
}

export const nativeP256 = loadNative<NativeP256>('p256', 'SECURESENSE_P256', 'js');

/**
 * The TLS 1.2 PRF's P_SHA256 in one native call (native/prf.c: HMAC over the SHA-256 of the
 * OpenSSL Node links), where scripts/build-native.mjs built it; undefined otherwise, and prf.ts
 * computes it with its TypeScript HMAC. ~3.5 µs a 48-byte PRF call against ~20 µs.
 * `SECURESENSE_PRF=js` turns it off.
 */
import { loadNative } from '../../util/native.ts';

export interface NativePrf {
  /** Fills `out` with P_SHA256(secret, label ‖ seed ‖ seed2); true (throws on arguments that are not byte arrays). */
  pSha256(secret: Uint8Array, label: Uint8Array, seed: Uint8Array, seed2: Uint8Array, out: Buffer): boolean;
}

export const nativePrf = loadNative<NativePrf>('prf', 'SECURESENSE_PRF', 'js');

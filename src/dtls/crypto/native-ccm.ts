/**
 * AES-128-CCM-8 records in one native call (native/ccm.c: OpenSSL as Node links it, two cipher
 * contexts reused), where scripts/build-native.mjs built it; undefined otherwise, and the record
 * layer uses node:crypto ({@link sealBody}/{@link openBody} in ccm.ts). Per record ~0.8 µs against
 * ~9 µs for node:crypto's one-shot cipher (five JS-to-native calls, a Cipheriv and new Buffers).
 * `SECURESENSE_CCM=js` turns it off.
 */
import { loadNative } from '../../util/native.ts';

export interface NativeCcm {
  /** Writes ciphertext ‖ tag of `plaintext` at `out[at]`; the key is `keys[keyAt, keyAt + 16)`. */
  seal(keys: Buffer, keyAt: number, nonce: Buffer, aad: Buffer, plaintext: Buffer, out: Buffer, at: number): boolean;
  /** Opens `fragment[from, from + length + 8)` (ciphertext ‖ tag) into `out`; false when the tag does not verify. */
  open(
    keys: Buffer,
    keyAt: number,
    nonce: Buffer,
    aad: Buffer,
    fragment: Buffer,
    from: number,
    length: number,
    out: Buffer,
  ): boolean;
}

export const nativeCcm = loadNative<NativeCcm>('ccm', 'SECURESENSE_CCM', 'js');

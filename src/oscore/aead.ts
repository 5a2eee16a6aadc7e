/**
 * The COSE_Encrypt0 AEAD of OSCORE (RFC 8613 §5.3, §5.4): AES-CCM-16-64-128 (13-byte nonce,
 * 8-byte tag, RFC 9053 §4.2) over the plaintext, with the `Enc_structure` built from the
 * `external_aad` array as associated data. Pure functions.
 */
import { ccm8Decrypt, ccm8Encrypt } from '../dtls/crypto/ccm.ts';
import { encode } from '../util/cbor.ts';
import { AES_CCM_16_64_128, TAG_LENGTH } from './derive.ts';
import { OscoreError } from './errors.ts';

const EMPTY = Buffer.alloc(0);

/** `aad_array` (§5.4): [oscore_version 1, [alg_aead], request_kid, request_piv, options]. */
export function aadArray(requestKid: Buffer, requestPiv: Buffer, classIOptions: Buffer = EMPTY): Buffer {
  return encode([1, [AES_CCM_16_64_128], requestKid, requestPiv, classIOptions]);
}

/** The associated data: Enc_structure ["Encrypt0", h'', external_aad] (RFC 9052 §5.3, §5.4 here). */
export function aadOf(requestKid: Buffer, requestPiv: Buffer, classIOptions: Buffer = EMPTY): Buffer {
  return encode(['Encrypt0', EMPTY, aadArray(requestKid, requestPiv, classIOptions)]);
}

/** Ciphertext ‖ tag: the DTLS record layer's CCM-8 primitive, here with OSCORE's 13-byte nonce. */
export const seal: (key: Buffer, nonce: Buffer, aad: Buffer, plaintext: Buffer) => Buffer = ccm8Encrypt;

/** The plaintext, or {@link OscoreError} `decrypt` when the tag does not verify. */
export function open(key: Buffer, nonce: Buffer, aad: Buffer, sealed: Buffer): Buffer {
  if (sealed.length < TAG_LENGTH) throw new OscoreError('decrypt', `ciphertext of ${sealed.length} bytes has no tag`);
  const out = ccm8Decrypt(key, nonce, aad, sealed);
  if (!out) throw new OscoreError('decrypt', 'Decryption failed');
  return out;
}

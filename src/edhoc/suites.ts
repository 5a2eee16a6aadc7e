/**
 * EDHOC cipher suites (RFC 9528 §3.6, IANA "EDHOC Cipher Suites"): the ones we implement over
 * node:crypto. Both use AES-CCM-16-64-128 (COSE alg 10: 16-byte key, 13-byte nonce, 8-byte tag)
 * and SHA-256; suite 0 pairs them with X25519 and EdDSA (Ed25519), suite 2 with P-256 and ES256.
 */

export type EdhocCurve = 'X25519' | 'P-256';
export type EdhocSignature = 'EdDSA' | 'ES256';

export interface EdhocSuite {
  readonly id: number;
  /** COSE algorithm of the EDHOC AEAD (and, per RFC 9528 Appendix A.1, the default OSCORE AEAD). */
  readonly aeadAlg: number;
  /** COSE algorithm of the EDHOC hash. */
  readonly hashAlg: number;
  /** COSE algorithm of the application (OSCORE) HKDF: HKDF-SHA-256 (-10). */
  readonly hkdfAlg: number;
  readonly macLength: number;
  readonly curve: EdhocCurve;
  readonly signature: EdhocSignature;
  readonly keyLength: number;
  readonly ivLength: number;
  readonly tagLength: number;
  readonly hashLength: number;
  /** Length of an ECDH public key on the wire: the x-coordinate (P-256) or the u-coordinate (X25519). */
  readonly publicKeyLength: number;
}

const common = {
  aeadAlg: 10,
  hashAlg: -16,
  hkdfAlg: -10,
  macLength: 8,
  keyLength: 16,
  ivLength: 13,
  tagLength: 8,
  hashLength: 32,
  publicKeyLength: 32,
} as const;

export const SUITE_0: EdhocSuite = { id: 0, curve: 'X25519', signature: 'EdDSA', ...common };
export const SUITE_2: EdhocSuite = { id: 2, curve: 'P-256', signature: 'ES256', ...common };

export const SUPPORTED_SUITES: readonly EdhocSuite[] = [SUITE_0, SUITE_2];

export function suiteById(id: number): EdhocSuite | undefined {
  return SUPPORTED_SUITES.find((s) => s.id === id);
}

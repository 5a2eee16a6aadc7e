/**
 * The cipher-suite table. Each row says how the keys are exchanged and how records are protected;
 * the handshake reads the row, never a suite code. Adding a suite is adding a row.
 */
import type { KeyExchange } from '../handshake/key-exchange.ts';
import { ECDHE_ECDSA_KEY_EXCHANGE } from '../handshake/kx-ecdhe.ts';
import { PSK_KEY_EXCHANGE } from '../handshake/kx-psk.ts';

export interface CipherSuite {
  /** IANA code. */
  code: number;
  /** IANA name. */
  name: string;
  /** The key exchange (handshake/key-exchange.ts): the handshake asks it, never which one it is. */
  kx: KeyExchange;
  /** Record protection: AES-128-CCM with an 8-byte tag (RFC 6655 §3). */
  protection: 'aes_128_ccm_8';
  macKeyLength: number;
  encKeyLength: number;
  /** Implicit part of the nonce ("salt"), RFC 6655 §3: 4 bytes. */
  fixedIvLength: number;
  /** Per-record explicit nonce bytes. */
  recordIvLength: number;
  tagLength: number;
}

export const TLS_PSK_WITH_AES_128_CCM_8: CipherSuite = {
  code: 0xc0a8,
  name: 'TLS_PSK_WITH_AES_128_CCM_8',
  kx: PSK_KEY_EXCHANGE,
  protection: 'aes_128_ccm_8',
  macKeyLength: 0,
  encKeyLength: 16,
  fixedIvLength: 4,
  recordIvLength: 8,
  tagLength: 8,
};

export const TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8: CipherSuite = {
  ...TLS_PSK_WITH_AES_128_CCM_8,
  code: 0xc0ae,
  name: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8',
  kx: ECDHE_ECDSA_KEY_EXCHANGE,
};

/** Every suite the engine implements, in our order of preference. */
export const CIPHER_SUITES: readonly CipherSuite[] = [TLS_PSK_WITH_AES_128_CCM_8, TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8];

export function suiteByCode(code: number): CipherSuite | undefined {
  return CIPHER_SUITES.find((s) => s.code === code);
}

/** TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3): the cipher-suite form of an empty renegotiation_info. */
export const TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff;

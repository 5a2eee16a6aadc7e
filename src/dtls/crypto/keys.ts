/**
 * Master secret and key block (RFC 5246 §6.3, §8.1; RFC 7627 §4 for the extended master secret).
 * For the CCM suites the MAC keys are empty and each side has a 16-byte key and a 4-byte implicit IV.
 */
import { prf, prfTwoSeeds } from './prf.ts';

export const MASTER_SECRET_LENGTH = 48;

/**
 * master_secret = PRF(pre_master_secret, "master secret", ClientHello.random + ServerHello.random)
 * (RFC 5246 §8.1).
 */
export function masterSecret(premaster: Buffer, clientRandom: Buffer, serverRandom: Buffer): Buffer {
  return prfTwoSeeds(premaster, 'master secret', clientRandom, serverRandom, MASTER_SECRET_LENGTH);
}

/** RFC 7627 §4: master_secret = PRF(pre_master_secret, "extended master secret", session_hash). */
export function extendedMasterSecret(premaster: Buffer, sessionHash: Buffer): Buffer {
  return prf(premaster, 'extended master secret', sessionHash, MASTER_SECRET_LENGTH);
}

/** What the key block needs of a cipher suite (suites.ts's rows have it): its key and IV lengths. */
export interface SuiteKeyLengths {
  macKeyLength: number;
  encKeyLength: number;
  fixedIvLength: number;
}

export interface KeyBlock {
  clientWriteKey: Buffer;
  serverWriteKey: Buffer;
  clientWriteIv: Buffer;
  serverWriteIv: Buffer;
}

/**
 * key_block = PRF(master_secret, "key expansion", server_random + client_random) (RFC 5246 §6.3).
 */
export function keyBlock(suite: SuiteKeyLengths, master: Buffer, clientRandom: Buffer, serverRandom: Buffer): KeyBlock {
  const k = suite.encKeyLength;
  const iv = suite.fixedIvLength;
  const m = suite.macKeyLength;
  const block = prfTwoSeeds(master, 'key expansion', serverRandom, clientRandom, 2 * (m + k + iv));
  let o = 2 * m;
  const take = (n: number) => {
    const b = block.subarray(o, o + n);
    o += n;
    return b;
  };
  const clientWriteKey = take(k);
  const serverWriteKey = take(k);
  const clientWriteIv = take(iv);
  const serverWriteIv = take(iv);
  return { clientWriteKey, serverWriteKey, clientWriteIv, serverWriteIv };
}

/** verify_data = PRF(master_secret, finished_label, Hash(handshake_messages))[0..11] (RFC 5246 §7.4.9). */
export function verifyData(master: Buffer, label: 'client finished' | 'server finished', hash: Buffer): Buffer {
  return prf(master, label, hash, 12);
}

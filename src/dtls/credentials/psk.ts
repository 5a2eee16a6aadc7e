/**
 * Pre-shared keys held in memory (RFC 4279): an identity and its key, and a server-side lookup over a
 * fixed list of them that compares identities in constant time.
 */
import { timingSafeEqual } from 'node:crypto';
import type { PeerAddress } from '../handshake/types.ts';

/** Server-side PSK lookup: identity → key, or undefined when the identity is unknown. May be async. */
export type PskLookup = (identity: string, peer: PeerAddress) => Buffer | undefined | Promise<Buffer | undefined>;

export interface PskCredential {
  identity: string;
  key: Buffer;
}

/** A server-side PSK lookup over a fixed list, comparing identities in constant time. */
export function pskLookup(psks: readonly PskCredential[]): PskLookup {
  const have = psks.map((p) => ({ id: Buffer.from(p.identity, 'utf8'), key: p.key }));
  return (identity) => {
    const want = Buffer.from(identity, 'utf8');
    let found: Buffer | undefined;
    // Every entry is compared, so the time taken does not tell which identities exist.
    for (const p of have) {
      if (p.id.length === want.length && timingSafeEqual(p.id, want)) found = p.key;
    }
    return found;
  };
}

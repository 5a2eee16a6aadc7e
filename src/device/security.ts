/**
 * The agent's security flags, the same as `securesense coap`'s: `--psk ID:HEX` (repeatable: the
 * first is the client's identity for `--push coaps://`, all of them are accepted by `--serve-dtls`),
 * `--cert/--key/--ca` (X.509) and `--rpk-key/--trust-rpk` (RFC 7250 raw public keys).
 *
 * The CoAP CLI's own parser (src/cli/coap.ts) keeps its `security()` private and lives under cli/,
 * which nothing may import (DESIGN.md), hence this small one until the two are merged into a shared
 * module. Public-key files are loaded and checked with the engine's own loader
 * (`loadCredentialFiles`); the engine's `connect`/`DtlsServer.listen` accept them once the
 * ECDHE_ECDSA handshake lands (issue 3) — until then a coaps:// connection needs a PSK.
 */
import { timingSafeEqual } from 'node:crypto';
import type { CoapsSecurity } from '../coap/transport-dtls.ts';
import { loadCredentialFiles, type PublicKeyCredentials } from '../dtls/credentials/index.ts';
import type { PskLookup } from '../dtls/index.ts';

export interface PskCredential {
  identity: string;
  key: Buffer;
}

/** The raw values of the security flags, as `node:util` parseArgs returns them. */
export interface SecurityFlags {
  psk?: string[];
  cert?: string;
  key?: string;
  ca?: string[];
  'rpk-key'?: string;
  'trust-rpk'?: string[];
}

/** parseArgs option specs for {@link SecurityFlags}. */
export const SECURITY_FLAGS = {
  psk: { type: 'string', multiple: true },
  cert: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string', multiple: true },
  'rpk-key': { type: 'string' },
  'trust-rpk': { type: 'string', multiple: true },
} as const;

/** What the agent needs on each side. */
export interface DeviceSecurity {
  /** Credentials for `coaps://` pushes (undefined: none given). */
  client?: CoapsSecurity;
  /** Every PSK given, for the DTLS server of serve mode. */
  psks: PskCredential[];
  /** Public-key credentials, when files were given. */
  publicKey?: PublicKeyCredentials;
}

/**
 * Parses `ID:HEX`. The identity may itself contain ':' (the key is after the last one); RFC 4279
 * §5.3 bounds the identity to 128 bytes of UTF-8 and §5.4 asks for keys of at least 64 bits in
 * practice; we reject empty identities and keys only, and keys over 64 bytes (RFC 4279 §2 allows
 * up to 2^16−1, but a hex typo that long is more likely than such a key).
 */
export function parsePskFlag(s: string): PskCredential {
  const i = s.lastIndexOf(':');
  if (i <= 0) throw new Error(`--psk wants ID:HEX, got '${s}'`);
  const identity = s.slice(0, i);
  const hex = s.slice(i + 1);
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new Error(`--psk key must be an even number of hex digits, got '${hex}'`);
  if (Buffer.byteLength(identity, 'utf8') > 128)
    throw new Error('--psk identity longer than 128 bytes (RFC 4279 §5.3)');
  const key = Buffer.from(hex, 'hex');
  if (key.length > 64) throw new Error('--psk key longer than 64 bytes');
  return { identity, key };
}

/** Turns the flags into the agent's credentials; throws a clear message for each bad value. */
export function parseSecurityFlags(f: SecurityFlags): DeviceSecurity {
  const psks = (f.psk ?? []).map(parsePskFlag);
  const ids = new Set<string>();
  for (const p of psks) {
    if (ids.has(p.identity)) throw new Error(`--psk identity '${p.identity}' given twice`);
    ids.add(p.identity);
  }
  let publicKey: PublicKeyCredentials | undefined;
  if (f.cert || f.key || f.ca?.length || f['rpk-key'] || f['trust-rpk']?.length) {
    publicKey = loadCredentialFiles({
      cert: f.cert,
      key: f.key,
      ca: f.ca,
      rpkKey: f['rpk-key'],
      trustRpk: f['trust-rpk'],
    });
  }
  let client: CoapsSecurity | undefined;
  if (psks.length > 0 || publicKey) {
    // The public-key fields are those the engine's options take with issue 3 (certificate, rpk,
    // trust); until then the engine uses the PSK and ignores them.
    const merged: CoapsSecurity = Object.assign({}, publicKey ?? {}, psks[0] ? { psk: psks[0] } : {});
    client = merged;
  }
  return { client, psks, publicKey };
}

/** A server-side PSK lookup over a fixed list, comparing identities in constant time. */
export function pskLookup(psks: readonly PskCredential[]): PskLookup {
  return (identity) => {
    const want = Buffer.from(identity, 'utf8');
    let found: Buffer | undefined;
    for (const p of psks) {
      const have = Buffer.from(p.identity, 'utf8');
      if (have.length === want.length && timingSafeEqual(have, want)) found = p.key;
    }
    return found;
  };
}

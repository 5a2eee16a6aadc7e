/**
 * The agent's security flags, the same as `securesense coap`'s: `--psk ID:HEX` (repeatable: the
 * first is the client's identity for `--push coaps://`, all of them are accepted by `--serve-dtls`),
 * `--cert/--key/--ca` (X.509), `--rpk-key/--trust-rpk` (RFC 7250 raw public keys),
 * `--no-verify-name` (client) and `--client-auth none|want|need` (server).
 *
 * The CoAP CLI's own parser (src/cli/coap.ts) keeps its `security()` private and lives under cli/,
 * which nothing may import (DESIGN.md), hence this small one until the two are merged into a shared
 * module. Public-key files are loaded and checked with the engine's own loader
 * (`loadCredentialFiles`), whose result the engine's `connect`/`DtlsServer.listen` take as they are.
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
  /** Client: do not check the server certificate's name against the host connected to. */
  'no-verify-name'?: boolean;
  /** Server (--serve-dtls): ask clients for a certificate or raw public key (none|want|need). */
  'client-auth'?: string;
}

/** parseArgs option specs for {@link SecurityFlags}. */
export const SECURITY_FLAGS = {
  psk: { type: 'string', multiple: true },
  cert: { type: 'string' },
  key: { type: 'string' },
  ca: { type: 'string', multiple: true },
  'rpk-key': { type: 'string' },
  'trust-rpk': { type: 'string', multiple: true },
  'no-verify-name': { type: 'boolean' },
  'client-auth': { type: 'string' },
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
  const clientAuth = f['client-auth'];
  if (clientAuth !== undefined && clientAuth !== 'none' && clientAuth !== 'want' && clientAuth !== 'need')
    throw new Error(`--client-auth is none, want or need, got '${clientAuth}'`);
  let publicKey: PublicKeyCredentials | undefined;
  if (f.cert || f.key || f.ca?.length || f['rpk-key'] || f['trust-rpk']?.length) {
    publicKey = loadCredentialFiles({
      cert: f.cert,
      key: f.key,
      ca: f.ca,
      rpkKey: f['rpk-key'],
      trustRpk: f['trust-rpk'],
      clientAuth,
      verifyName: f['no-verify-name'] ? false : undefined,
    });
  } else if (clientAuth || f['no-verify-name']) {
    throw new Error('--client-auth/--no-verify-name go with --cert/--key, --ca, --rpk-key or --trust-rpk');
  }
  let client: CoapsSecurity | undefined;
  if (psks.length > 0 || publicKey) {
    // The engine's client options take the public-key fields as loadCredentialFiles returns them
    // (certificate, rpk, trust); the server-only clientAuth stays out.
    const { clientAuth: _serverOnly, ...pk } = publicKey ?? {};
    client = psks[0] ? { ...pk, psk: psks[0] } : pk;
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

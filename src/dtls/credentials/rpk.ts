/**
 * Raw public keys (RFC 7250): the peer sends only its SubjectPublicKeyInfo, so trust is a decision
 * about that key alone — a set of pinned keys, or a lookup function (e.g. a device registry in the
 * platform's database, hence possibly async).
 *
 * Alerts: RFC 7250 defines none of its own. A well-formed key we do not trust gets
 * `bad_certificate`: gnutls-cli 3.7 sends exactly that when it cannot verify a server's raw key
 * (seen in test/pki/gnutls-libcoap.test.ts), and OpenSSL 3.2+ maps an untrusted raw key there
 * too. (gnutls-serv answers any client credential its callback rejects with `access_denied`, an
 * application choice rather than the library's.) A key on another curve or of another type gets
 * `unsupported_certificate`; an SPKI that does not parse gets `bad_certificate`; a lookup that
 * throws (database down) gets `internal_error` — the peer is not at fault.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { loadPrivateKey, loadPublicKey, type ParsedSpki, parseSpki, sha256Hex, spkiDer } from '../crypto/ecc.ts';
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import { ownCopy } from '../wire/buffer.ts';
import type { PeerIdentity } from './identity.ts';

export type RpkIdentity = Extract<PeerIdentity, { mode: 'rpk' }>;

/**
 * Decides whether a raw public key is trusted. `fingerprint` is the lower-case hex SHA-256 of
 * `spki` (DER). Return true to accept; false or undefined to refuse.
 */
export type RpkLookup = (spki: Buffer, fingerprint: string) => boolean | undefined | Promise<boolean | undefined>;

/**
 * A set of trusted raw public keys, keyed by the SHA-256 of their SPKI. Keys pinned as key
 * material (not as a bare fingerprint) are also kept parsed, by their canonical DER: a peer that
 * sends exactly that encoding — every well-behaved one — needs no parsing at all.
 */
export class PinnedKeys {
  private readonly fingerprints = new Set<string>();
  private readonly parsed = new Map<string, ParsedSpki>();

  /** Each entry: SPKI DER, PEM ("PUBLIC KEY" or a private key, whose public half is pinned), or a 64-hex SHA-256 fingerprint. */
  constructor(entries: Iterable<Buffer | string> = []) {
    for (const e of entries) this.add(e);
  }

  add(entry: Buffer | string): this {
    const key = pinnedKey(entry);
    if (typeof key === 'string') {
      this.fingerprints.add(key);
    } else {
      this.fingerprints.add(key.fingerprint);
      this.parsed.set(key.spki.toString('latin1'), key);
    }
    return this;
  }

  has(fingerprint: string): boolean {
    return this.fingerprints.has(fingerprint.toLowerCase());
  }

  /** The parsed key whose canonical SPKI is exactly `spki`, when one was pinned as key material. */
  parsedKey(spki: Buffer): ParsedSpki | undefined {
    return this.parsed.get(spki.toString('latin1'));
  }

  get size(): number {
    return this.fingerprints.size;
  }
}

const HEX_FINGERPRINT = /^(?:sha256:)?([0-9a-fA-F]{64})$|^((?:[0-9a-fA-F]{2}:){31}[0-9a-fA-F]{2})$/;

/** The SHA-256 fingerprint an entry pins (see {@link PinnedKeys}). Throws a plain Error for input that is no key. */
export function pinFingerprint(entry: Buffer | string): string {
  const key = pinnedKey(entry);
  return typeof key === 'string' ? key : key.fingerprint;
}

/** An entry of {@link PinnedKeys}: a bare fingerprint (lower-case hex), or the parsed public key. */
function pinnedKey(entry: Buffer | string): string | ParsedSpki {
  if (typeof entry === 'string') {
    const t = entry.trim();
    const m = HEX_FINGERPRINT.exec(t);
    if (m) return (m[1] ?? m[2].replace(/:/g, '')).toLowerCase();
  }
  try {
    // A private key pins its public half (loadPrivateKey refuses non-P-256 keys).
    const pub =
      typeof entry === 'string' && entry.includes('PRIVATE KEY-----')
        ? createPublicKey(loadPrivateKey(entry.trim()))
        : loadPublicKey(entry);
    const spki = spkiDer(pub);
    return { key: pub, spki, fingerprint: sha256Hex(spki) };
  } catch (err) {
    throw new Error(`not a P-256 public key, PEM key or SHA-256 fingerprint: ${(err as Error).message}`);
  }
}

export interface RpkTrust {
  pinnedKeys?: PinnedKeys;
  rpkLookup?: RpkLookup;
}

export interface VerifiedRawPublicKey {
  identity: RpkIdentity;
  /** Verifies the peer's CertificateVerify / ServerKeyExchange signatures. */
  publicKey: KeyObject;
}

/**
 * Checks a raw public key the peer sent (the SPKI from its Certificate message, RFC 7250 §3):
 * it must parse, be P-256, and be pinned or accepted by the lookup.
 */
export async function verifyRawPublicKey(spki: Buffer, trust: RpkTrust): Promise<VerifiedRawPublicKey> {
  if (spki.length === 0) {
    throw new DtlsAlertError(AlertDescription.handshake_failure, 'the peer sent no raw public key');
  }
  // Parsed keys are reused (pinned ones, and a bounded cache of those seen lately); the trust
  // decision below is taken afresh every time. Fingerprint the canonical re-encoding, so that a
  // non-minimal encoding of a pinned key still matches.
  const parsed = trust.pinnedKeys?.parsedKey(spki) ?? parseSpki(spki); // bad_certificate / unsupported_certificate
  const { key: publicKey, fingerprint } = parsed;
  const identity = identityOf(parsed);
  let trusted = trust.pinnedKeys?.has(fingerprint) ?? false;
  if (!trusted && trust.rpkLookup) {
    try {
      trusted = (await trust.rpkLookup(identity.spki, fingerprint)) === true;
    } catch (err) {
      throw new DtlsAlertError(
        AlertDescription.internal_error,
        `raw public key lookup failed: ${(err as Error).message}`,
      );
    }
  }
  if (!trusted) {
    throw new DtlsAlertError(AlertDescription.bad_certificate, `raw public key sha256:${fingerprint} is not trusted`);
  }
  return { identity, publicKey };
}

/**
 * The identity of a parsed key, made once and shared by that peer's sessions (credentials/
 * identity.ts), frozen: each full handshake caches a session, and a copy of the key and its
 * fingerprint in each (~300 bytes) grew an RPK server's heap with every handshake of a device that
 * reconnects. The SPKI is the identity's own copy, never the parse cache's, with memory of its own: a
 * 91-byte slice of Node's 8 KiB Buffer pool would keep the whole pool alive. Parsed keys are the
 * pinned ones and those of ecc.ts's bounded cache, so this map holds no more than they do.
 */
const IDENTITIES = new WeakMap<ParsedSpki, RpkIdentity>();
function identityOf(parsed: ParsedSpki): RpkIdentity {
  let identity = IDENTITIES.get(parsed);
  if (!identity) {
    identity = Object.freeze({ mode: 'rpk', spki: ownCopy(parsed.spki), fingerprint: parsed.fingerprint });
    IDENTITIES.set(parsed, identity);
  }
  return identity;
}

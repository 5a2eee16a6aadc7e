/**
 * Device identity: which resource a DTLS peer acts as. A resource can be bound to any
 * number of device credentials, one DTLS mode each:
 *
 * - `psk`: an identity and its key (RFC 4279). The DTLS server asks {@link DeviceDirectory.pskKey}
 *   for the key during the handshake, so a credential added through the API works at once.
 * - `rpk`: the SHA-256 fingerprint of the device's SubjectPublicKeyInfo (RFC 7250).
 * - `x509`: a pinned leaf certificate fingerprint, or a subject/SAN name under a trusted CA
 *   (RFC 5280 path validation against that one CA; RFC 7925 §4.4.2 for the names).
 *
 * A request over coaps:// is allowed on exactly what its PeerIdentity is bound to: the CoAP API
 * asks {@link DeviceDirectory.callerFor} and gets a `resource` caller (`via: 'device'`) or nothing.
 * Keys are never returned after creation; only the PSK identity and fingerprints are shown.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  certificatesFromPem,
  loadTrustAnchors,
  type ParsedCertificate,
  type PeerIdentity,
  type PeerTrust,
  parseCertificateDer,
  pinFingerprint,
  verifyCertificateChain,
} from '../dtls/credentials/index.ts';
import type { SessionState } from '../dtls/handshake/types.ts';
import { MemorySessionCache, type SessionCache } from '../dtls/index.ts';
import type { Logger } from '../util/log.ts';
import { Invalid } from './errors.ts';
import type { Caller, DeviceCredential, DeviceCredentialRecord, DeviceMode } from './model.ts';
import type { NewDeviceCredential, Store } from './store/index.ts';

/** What a client asks to bind (HTTP body `{ mode, psk_identity, psk_key, … }` after renaming). */
export interface DeviceCredentialInput {
  mode: DeviceMode;
  label?: string | null;
  pskIdentity?: string;
  /** Hex (or `0x…`); absent → 16 random bytes, returned once. */
  pskKey?: string;
  /** A printable key instead (16–64 ASCII characters, no spaces): its bytes are the key. */
  pskKeyText?: string;
  /** The generated key: random bytes (`hex`, default) or printable characters (`text`, for libcoap's `-k`). */
  pskKeyFormat?: 'hex' | 'text';
  /** Hex SHA-256 of the SPKI, or the SPKI itself as PEM. */
  rpkFingerprint?: string;
  rpk?: string;
  /** Pinned leaf: hex SHA-256 of its DER, or the certificate as PEM. */
  x509Fingerprint?: string;
  x509Certificate?: string;
  /** Subject ("CN=dev1, O=Acme") or SAN ("DNS:dev1.example", "IP:10.0.0.7") the leaf must carry… */
  x509Name?: string;
  /** …issued under this CA (PEM). */
  x509Ca?: string;
}

/**
 * A key people and libcoap can type (libcoap 4.3's `coap-client -k KEY` takes the key as text):
 * printable ASCII without spaces, 16–64 characters, so at least as long as our 16-byte keys.
 */
const PSK_TEXT = /^[\x21-\x7e]{16,64}$/;

/** Characters of a generated text key: 24 base64url characters carry 144 random bits. */
const PSK_TEXT_BYTES = 18;

/** RFC 4279 §5.1: identities up to 2^16-1 bytes; we keep them short and printable. */
const PSK_IDENTITY = /^[\x21-\x7e]{1,128}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

function hexKey(s: string): Buffer {
  const h = s.replace(/^0x/i, '').replace(/[:\s]/g, '').toLowerCase();
  // RFC 4279 §5.3: PSKs up to 64 octets; fewer than 16 would be too weak to accept.
  if (!/^[0-9a-f]*$/.test(h) || h.length % 2 !== 0 || h.length < 32 || h.length > 128) {
    throw new Invalid('psk_key must be 16–64 bytes as hex');
  }
  return Buffer.from(h, 'hex');
}

function fingerprint(name: string, s: string): string {
  const f = s.replace(/:/g, '').toLowerCase();
  if (!HEX_SHA256.test(f)) throw new Invalid(`${name} must be a hex SHA-256 (64 hex digits)`);
  return f;
}

/**
 * Checks a binding request and turns it into a row. Returns the generated PSK (hex) when the
 * client did not give one, for the one-time answer.
 */
export function prepareDeviceCredential(
  resourceId: number,
  input: DeviceCredentialInput,
  now: number,
): { row: NewDeviceCredential; generatedKey?: string; generatedText?: string } {
  const label = input.label ?? null;
  if (label !== null && label.length > 200) throw new Invalid('label must be at most 200 characters');
  const base = { resourceId, mode: input.mode, label, createdAt: now };
  switch (input.mode) {
    case 'psk': {
      if (!input.pskIdentity || !PSK_IDENTITY.test(input.pskIdentity))
        throw new Invalid('psk_identity must be 1–128 printable ASCII characters');
      if (input.pskKey !== undefined && input.pskKeyText !== undefined)
        throw new Invalid('give psk_key or psk_key_text, not both');
      if (input.pskKeyText !== undefined) {
        if (!PSK_TEXT.test(input.pskKeyText))
          throw new Invalid('psk_key_text must be 16–64 printable ASCII characters without spaces');
        return { row: { ...base, pskIdentity: input.pskIdentity, pskKey: Buffer.from(input.pskKeyText, 'ascii') } };
      }
      if (input.pskKey !== undefined) {
        return { row: { ...base, pskIdentity: input.pskIdentity, pskKey: hexKey(input.pskKey) } };
      }
      const text = input.pskKeyFormat === 'text' ? randomBytes(PSK_TEXT_BYTES).toString('base64url') : undefined;
      const generated = text !== undefined ? Buffer.from(text, 'ascii') : randomBytes(16);
      return {
        row: { ...base, pskIdentity: input.pskIdentity, pskKey: generated },
        generatedKey: generated.toString('hex'),
        generatedText: text,
      };
    }
    case 'rpk': {
      let fp: string;
      if (input.rpk !== undefined) {
        try {
          fp = pinFingerprint(input.rpk);
        } catch (err) {
          throw new Invalid(`rpk: ${(err as Error).message}`);
        }
      } else if (input.rpkFingerprint !== undefined) fp = fingerprint('rpk_fingerprint', input.rpkFingerprint);
      else throw new Invalid('mode rpk needs rpk_fingerprint or rpk (PEM SubjectPublicKeyInfo)');
      return { row: { ...base, rpkFingerprint: fp } };
    }
    case 'x509': {
      if (input.x509Certificate !== undefined || input.x509Fingerprint !== undefined) {
        if (input.x509Certificate !== undefined) {
          let der: Buffer;
          try {
            der = certificatesFromPem(input.x509Certificate)[0];
            parseCertificateDer(der);
          } catch (err) {
            throw new Invalid(`x509_certificate: ${(err as Error).message}`);
          }
          if (!der) throw new Invalid('x509_certificate holds no PEM certificate');
          const pem = `-----BEGIN CERTIFICATE-----\n${der
            .toString('base64')
            .replace(/(.{64})/g, '$1\n')
            .replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
          // The certificate itself is kept so that the DTLS server can trust it as it is (self-signed devices).
          return {
            row: { ...base, x509Fingerprint: createHash('sha256').update(der).digest('hex'), x509Certificate: pem },
          };
        }
        return { row: { ...base, x509Fingerprint: fingerprint('x509_fingerprint', input.x509Fingerprint as string) } };
      }
      if (!input.x509Name || !input.x509Ca)
        throw new Invalid('mode x509 needs x509_fingerprint (or x509_certificate), or x509_name with x509_ca');
      if (input.x509Name.length > 512) throw new Invalid('x509_name is too long');
      let anchors: number;
      try {
        anchors = loadTrustAnchors(input.x509Ca).certificates.length;
      } catch (err) {
        throw new Invalid(`x509_ca is not a PEM CA certificate: ${(err as Error).message}`);
      }
      if (anchors === 0) throw new Invalid('x509_ca is not a PEM CA certificate: no certificate');
      return { row: { ...base, x509Name: input.x509Name, x509Ca: input.x509Ca } };
    }
    default:
      throw new Invalid('mode must be psk, rpk or x509');
  }
}

/** The public view of a credential: never the key. */
export function publicCredential(r: DeviceCredentialRecord): DeviceCredential {
  const { pskKey: _k, ...rest } = r;
  return rest;
}

/**
 * Maps DTLS identities to resources, reading the store on every handshake and request so that
 * additions and removals take effect at once. Small positive caches would be the next step if
 * the lookups ever show in a profile; a removal must then flush them.
 *
 * The X.509 trust anchors are the one thing held in memory: chain validation is synchronous in
 * the engine, so {@link refresh} reloads every bound CA and pinned certificate after each change
 * (the service awaits it before answering the request that made the change).
 */
export class DeviceDirectory {
  private anchors: ParsedCertificate[] = [];
  /**
   * The DTLS server's trust for devices in the public-key modes: the bound CAs and pinned
   * certificates as X.509 anchors (read per handshake), and raw public keys looked up in the store.
   */
  readonly trust: PeerTrust;

  constructor(
    private readonly store: Store,
    private readonly log?: Logger,
  ) {
    const self = this;
    this.trust = {
      anchors: {
        get certificates() {
          return self.anchors;
        },
      },
      // RFC 7250: a raw public key is trusted when some resource is bound to its fingerprint.
      rpkLookup: (_spki, fingerprint) => this.knowsRpk(fingerprint),
    };
  }

  /** Reloads the X.509 anchors from the store. */
  async refresh(): Promise<void> {
    const seen = new Set<string>();
    const out: ParsedCertificate[] = [];
    for (const pem of await this.store.listX509TrustMaterial()) {
      try {
        for (const c of loadTrustAnchors(pem).certificates) {
          const key = c.der.toString('base64');
          if (!seen.has(key)) {
            seen.add(key);
            out.push(c);
          }
        }
      } catch (err) {
        this.log?.warn({ err }, 'a bound CA or pinned certificate does not parse; skipped');
      }
    }
    this.anchors = out;
  }

  /**
   * A session cache for the DTLS server that resumes only sessions whose identity is still bound
   * (RFC 5246 §7.4.1.2 lets the server refuse any resumption): an unbound device then has to do
   * a full handshake, which its credentials no longer pass.
   */
  sessionCache(inner: SessionCache = new MemorySessionCache()): SessionCache {
    return {
      get: async (id: Buffer): Promise<SessionState | undefined> => {
        // A store that fails here costs the device a full handshake, never the handshake itself.
        try {
          const s = await inner.get(id);
          if (!s) return undefined;
          if ((await this.resourceFor(s.identity)) !== undefined) return s;
          await inner.delete(id);
        } catch (err) {
          this.log?.warn({ err }, 'session lookup failed; a full handshake instead');
        }
        return undefined;
      },
      set: (session) => inner.set(session),
      delete: (id) => inner.delete(id),
      get evictions() {
        return inner.evictions;
      },
    };
  }

  /** X.509 anchors in use. */
  get anchorCount(): number {
    return this.anchors.length;
  }

  /** The DTLS server's PSK lookup (RFC 4279 §2): the key for `identity`, or undefined (→ unknown_psk_identity). */
  async pskKey(identity: string): Promise<Buffer | undefined> {
    const c = await this.store.findPskCredential(identity);
    return c?.pskKey ?? undefined;
  }

  /** For the DTLS server's raw-public-key check: is this fingerprint bound to any resource? */
  async knowsRpk(fingerprint: string): Promise<boolean> {
    return (await this.store.findRpkCredential(fingerprint)) !== undefined;
  }

  /** The resource a handshake's identity is bound to, or undefined. */
  async resourceFor(identity: PeerIdentity): Promise<number | undefined> {
    switch (identity.mode) {
      case 'psk':
        return (await this.store.findPskCredential(identity.identity))?.resourceId;
      case 'rpk':
        return (await this.store.findRpkCredential(identity.fingerprint))?.resourceId;
      case 'x509': {
        const names = [identity.subject, ...identity.sans];
        for (const c of await this.store.findX509Credentials(identity.fingerprint, names)) {
          if (x509BindingMatches(identity, c, 'client', this.log)) return c.resourceId;
        }
        return undefined;
      }
    }
  }

  /** The caller of a request whose DTLS handshake proved `identity`, or undefined when it is bound to nothing. */
  async callerFor(identity: PeerIdentity): Promise<Caller | undefined> {
    const rid = await this.resourceFor(identity);
    return rid === undefined ? undefined : { kind: 'resource', resourceId: rid, via: 'device' };
  }
}

/**
 * Whether a certificate identity satisfies one X.509 binding: its leaf is the pinned certificate
 * (by fingerprint), or its subject or one of its subjectAltNames is the bound name and its chain
 * validates against the bound CA alone (RFC 5280 §6) — with several bindings under several CAs,
 * passing the handshake against the union of anchors does not say which CA issued it.
 * `peerRole` is the device's role in the handshake (RFC 5280 §4.2.1.12: clientAuth when it
 * connected to us, serverAuth when the poller connected to it).
 */
export function x509BindingMatches(
  identity: Extract<PeerIdentity, { mode: 'x509' }>,
  binding: Pick<DeviceCredential, 'x509Fingerprint' | 'x509Name' | 'x509Ca'>,
  peerRole: 'client' | 'server',
  log?: Logger,
): boolean {
  if (binding.x509Fingerprint !== null && binding.x509Fingerprint === identity.fingerprint) return true;
  if (!binding.x509Name || !binding.x509Ca) return false;
  if (binding.x509Name !== identity.subject && !identity.sans.includes(binding.x509Name)) return false;
  try {
    verifyCertificateChain(identity.chain, { anchors: loadTrustAnchors(binding.x509Ca), peerRole, verifyName: false });
    return true;
  } catch (err) {
    log?.debug({ err, subject: identity.subject }, 'x509 device not issued under the bound CA');
    return false;
  }
}

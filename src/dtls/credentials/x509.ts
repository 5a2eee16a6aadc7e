/**
 * X.509 trust for the certificate mode (RFC 5246 §7.4.2, RFC 5280 §6, RFC 7925 §4.4.2): trust
 * anchors from PEM, and verification of the chain a peer sent — path building from the sent
 * certificates in any order (leaf first, as RFC 5246 §7.4.2 requires of the sender), signatures,
 * validity periods, basicConstraints/pathLenConstraint and keyUsage on issuers, keyUsage and
 * extendedKeyUsage on the leaf, unknown critical extensions, a P-256 leaf key, and on the client
 * the server name (DNS or IP subjectAltName).
 *
 * Signatures and host checks use node:crypto's X509Certificate; the few fields it does not expose
 * (issuer/subject DER, keyUsage bits, pathLenConstraint, extension criticality) come from a small
 * DER walker below that reads, never builds, ASN.1.
 *
 * Every refusal is a DtlsAlertError with the alert OpenSSL 3.0 sends for the same fault
 * (RFC 5246 §7.2.2 names them; checked against `openssl s_client -verify_return_error`):
 *   no issuer found / self-signed root not trusted / issuer not a CA / chain too long → unknown_ca
 *   a signature that does not verify                                                  → decrypt_error
 *   expired                                                                            → certificate_expired
 *   not yet valid, unparsable, issuer without keyCertSign, path length exceeded,
 *   server name mismatch                                                               → bad_certificate
 *   wrong purpose (keyUsage/extendedKeyUsage), non-P-256 leaf key, unhandled critical
 *   extension                                                                          → unsupported_certificate
 */
import { createHash, type KeyObject, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { isP256 } from '../crypto/ecc.ts';
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import { LruCache } from '../lru.ts';
import type { DtlsMeter } from '../meter.ts';
import { ownCopy } from '../wire/buffer.ts';
import type { PeerIdentity } from './identity.ts';

export type X509Identity = Extract<PeerIdentity, { mode: 'x509' }>;

/** A parsed certificate: Node's view plus the fields we read from the DER. */
export interface ParsedCertificate {
  readonly der: Buffer;
  readonly x509: X509Certificate;
  readonly subjectDer: Buffer;
  readonly issuerDer: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Extensions by dotted OID. */
  readonly extensions: ReadonlyMap<string, { critical: boolean; value: Buffer }>;
}

/** The configured trust anchors (RFC 5280 §6.1.1 (d)). */
export interface TrustAnchors {
  readonly certificates: readonly ParsedCertificate[];
}

export interface VerifyChainOptions {
  anchors: TrustAnchors;
  /** Which role the PEER plays: 'server' needs serverAuth, 'client' needs clientAuth (when EKU is present). */
  peerRole: 'server' | 'client';
  /** The name the client wanted (DNS name or IP literal); checked against the leaf unless verifyName is false. */
  serverName?: string;
  /** Default true: check serverName when given. */
  verifyName?: boolean;
  /** Default: now. */
  now?: Date;
  /** Most certificates in a path, anchor included (default 10). */
  maxPathLength?: number;
  /** Told of each certificate signature checked (`ecdsa_verify`, context `certificate`, for the device model). */
  meter?: DtlsMeter;
}

export interface VerifiedChain {
  identity: X509Identity;
  /** The leaf's public key: verifies CertificateVerify / ServerKeyExchange signatures. */
  publicKey: KeyObject;
  /** The path built: leaf, intermediates, then the anchor. */
  path: ParsedCertificate[];
}

const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const OID_EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const OID_EKU_ANY = '2.5.29.37.0';
/** Extensions we either enforce or that carry no constraint; a critical one of any other kind is refused (RFC 5280 §4.2). */
const HANDLED_EXTENSIONS = new Set([
  OID_BASIC_CONSTRAINTS,
  OID_KEY_USAGE,
  OID_EXT_KEY_USAGE,
  OID_SUBJECT_ALT_NAME,
  '2.5.29.14', // subjectKeyIdentifier
  '2.5.29.35', // authorityKeyIdentifier
]);
/** keyUsage bits (RFC 5280 §4.2.1.3), as bit numbers from the most significant bit of the first byte. */
const KU_DIGITAL_SIGNATURE = 0;
const KU_KEY_CERT_SIGN = 5;

const fail = (d: AlertDescription, msg: string) => new DtlsAlertError(d, msg);

// ---------------------------------------------------------------------------------------------
// A minimal DER reader (X.690 §8.1): tag, definite length, contents. Reads only what we need.

interface Tlv {
  tag: number;
  /** Offset of the contents. */
  start: number;
  /** Offset just past the contents. */
  end: number;
  /** Offset of the tag (the TLV's first byte). */
  head: number;
}

function readTlv(buf: Buffer, off: number, limit = buf.length): Tlv {
  if (off + 2 > limit) throw new Error('DER: truncated header');
  const tag = buf[off];
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: high tag numbers unsupported');
  let len = buf[off + 1];
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) throw new Error('DER: bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > limit) throw new Error('DER: length past the end');
  return { tag, start: p, end: p + len, head: off };
}

function childrenOf(buf: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let off = t.start; off < t.end; ) {
    const c = readTlv(buf, off, t.end);
    out.push(c);
    off = c.end;
  }
  return out;
}

function decodeOid(b: Buffer): string {
  const parts: number[] = [];
  let v = 0;
  for (const byte of b) {
    v = v * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

function decodeTime(buf: Buffer, t: Tlv): Date {
  const s = buf.toString('latin1', t.start, t.end);
  // UTCTime YYMMDDHHMMSSZ (years 1950–2049, RFC 5280 §4.1.2.5.1) or GeneralizedTime YYYYMMDDHHMMSSZ.
  const m =
    t.tag === 0x17
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) throw new Error(`DER: bad time ${s}`);
  let year = Number(m[1]);
  if (t.tag === 0x17) year += year >= 50 ? 1900 : 2000;
  return new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

/**
 * Certificates parsed lately, by their exact DER bytes. Parsing (node:crypto's X509Certificate and
 * our DER walk) was a quarter of an X.509 handshake's CPU time, and a peer sends the same chain at
 * every handshake. A parse is a pure function of the bytes, so a hit cannot differ from a fresh
 * parse; everything that decides trust — signatures, validity at this moment, purposes, names —
 * is checked afresh on every handshake. Bounded, oldest use dropped first.
 */
export const CERTIFICATE_CACHE_SIZE = 256;
const CERTIFICATE_CACHE = new LruCache<string, ParsedCertificate>(CERTIFICATE_CACHE_SIZE);

/**
 * Parses a DER certificate; throws `bad_certificate` when it cannot be read (RFC 5246 §7.2.2:
 * "corrupt"). The result is shared (cached, see above) and must not be modified; it keeps its own
 * copy of the bytes, never the caller's buffer (a datagram's, say).
 */
export function parseCertificateDer(der: Buffer): ParsedCertificate {
  const cacheKey = der.toString('latin1');
  const hit = CERTIFICATE_CACHE.get(cacheKey);
  if (hit) return hit;
  const parsed = parseCertificateBytes(Buffer.from(der));
  CERTIFICATE_CACHE.set(cacheKey, parsed);
  return parsed;
}

function parseCertificateBytes(der: Buffer): ParsedCertificate {
  try {
    const x509 = new X509Certificate(der);
    const cert = readTlv(der, 0);
    if (cert.end !== der.length) throw new Error('trailing bytes after the certificate');
    const [tbsTlv] = childrenOf(der, cert);
    const tbs = childrenOf(der, tbsTlv);
    let i = tbs[0]?.tag === 0xa0 ? 1 : 0; // [0] version
    i += 2; // serialNumber, signature
    const issuer = tbs[i++];
    const validity = tbs[i++];
    const subject = tbs[i++];
    i++; // subjectPublicKeyInfo
    const [nb, na] = childrenOf(der, validity);
    const extensions = new Map<string, { critical: boolean; value: Buffer }>();
    for (; i < tbs.length; i++) {
      if (tbs[i].tag !== 0xa3) continue; // [1] issuerUniqueID, [2] subjectUniqueID
      const [extSeq] = childrenOf(der, tbs[i]);
      for (const ext of childrenOf(der, extSeq)) {
        const f = childrenOf(der, ext);
        const oid = decodeOid(der.subarray(f[0].start, f[0].end));
        const critical = f.length === 3 && f[1].tag === 0x01 && der[f[1].start] !== 0;
        const octets = f[f.length - 1];
        extensions.set(oid, { critical, value: der.subarray(octets.start, octets.end) });
      }
    }
    const parsed: ParsedCertificate = {
      der,
      x509,
      issuerDer: der.subarray(issuer.head, issuer.end),
      subjectDer: der.subarray(subject.head, subject.end),
      notBefore: decodeTime(der, nb),
      notAfter: decodeTime(der, na),
      extensions,
    };
    // Read the extensions we enforce now, so that a malformed one is bad_certificate here and the
    // checks below never meet a DER error.
    basicConstraints(parsed);
    keyUsageHas(parsed, 0);
    extendedKeyUsage(parsed);
    subjectAltNames(parsed);
    // Node builds the certificate without looking into its SubjectPublicKeyInfo; an algorithm or
    // curve OpenSSL cannot load (a damaged OID) only fails when the key is read. Read it now, so
    // that such a certificate is bad_certificate here instead of an internal error at the leaf check.
    certificateKey(parsed);
    return parsed;
  } catch (err) {
    if (err instanceof DtlsAlertError) throw err;
    throw fail(AlertDescription.bad_certificate, `cannot parse certificate: ${(err as Error).message}`);
  }
}

/** basicConstraints (RFC 5280 §4.2.1.9): { ca, pathLen } or undefined when absent. */
function basicConstraints(c: ParsedCertificate): { ca: boolean; pathLen?: number } | undefined {
  const e = c.extensions.get(OID_BASIC_CONSTRAINTS);
  if (!e) return undefined;
  const seq = readTlv(e.value, 0);
  let ca = false;
  let pathLen: number | undefined;
  for (const f of childrenOf(e.value, seq)) {
    if (f.tag === 0x01) ca = e.value[f.start] !== 0;
    else if (f.tag === 0x02) pathLen = e.value.readUIntBE(f.start, Math.min(f.end - f.start, 6));
  }
  return { ca, pathLen };
}

/** keyUsage bits (RFC 5280 §4.2.1.3), or undefined when absent. */
function keyUsageHas(c: ParsedCertificate, bit: number): boolean | undefined {
  const e = c.extensions.get(OID_KEY_USAGE);
  if (!e) return undefined;
  const bs = readTlv(e.value, 0);
  const byte = e.value[bs.start + 1 + (bit >> 3)];
  return byte !== undefined && (byte & (0x80 >> (bit & 7))) !== 0;
}

function extendedKeyUsage(c: ParsedCertificate): string[] | undefined {
  const e = c.extensions.get(OID_EXT_KEY_USAGE);
  if (!e) return undefined;
  return childrenOf(e.value, readTlv(e.value, 0)).map((t) => decodeOid(e.value.subarray(t.start, t.end)));
}

/** subjectAltName entries as "DNS:…", "IP:…", "email:…", "URI:…" (RFC 5280 §4.2.1.6). */
export function subjectAltNames(c: ParsedCertificate): string[] {
  const e = c.extensions.get(OID_SUBJECT_ALT_NAME);
  if (!e) return [];
  const out: string[] = [];
  for (const n of childrenOf(e.value, readTlv(e.value, 0))) {
    const v = e.value.subarray(n.start, n.end);
    switch (n.tag) {
      case 0x82:
        out.push(`DNS:${v.toString('latin1')}`);
        break;
      case 0x87:
        out.push(`IP:${formatIp(v)}`);
        break;
      case 0x81:
        out.push(`email:${v.toString('latin1')}`);
        break;
      case 0x86:
        out.push(`URI:${v.toString('latin1')}`);
        break;
    }
  }
  return out;
}

function formatIp(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length !== 16) return b.toString('hex');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // The URL parser gives the canonical compressed form (RFC 5952).
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

// ---------------------------------------------------------------------------------------------

const PEM_CERT = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;

/** DER certificates from PEM text (any number of CERTIFICATE blocks) or from one DER blob. */
export function certificatesFromPem(input: string | Buffer): Buffer[] {
  const text = typeof input === 'string' ? input : input.toString('latin1');
  if (!text.includes('-----BEGIN')) {
    if (typeof input !== 'string' && input[0] === 0x30) return [input];
    throw new Error('no certificate found (expected PEM CERTIFICATE blocks or DER)');
  }
  const out = [...text.matchAll(PEM_CERT)].map((m) => Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
  if (out.length === 0) throw new Error('no CERTIFICATE block in the PEM input');
  return out;
}

/**
 * Trust anchors from PEM bundles or DER certificates (one or many each). A certificate that cannot
 * be parsed is a configuration error (plain Error naming it).
 */
export function loadTrustAnchors(inputs: string | Buffer | ReadonlyArray<string | Buffer>): TrustAnchors {
  const list = Array.isArray(inputs) ? (inputs as ReadonlyArray<string | Buffer>) : [inputs as string | Buffer];
  const certificates: ParsedCertificate[] = [];
  for (const input of list) {
    for (const der of certificatesFromPem(input)) {
      try {
        certificates.push(parseCertificateDer(der));
      } catch (err) {
        throw new Error(`trust anchor ${certificates.length + 1}: ${(err as Error).message}`);
      }
    }
  }
  return { certificates };
}

/** The DER subject names of the anchors: CertificateRequest.certificate_authorities (RFC 5246 §7.4.4). */
export function trustAnchorNames(anchors: TrustAnchors): Buffer[] {
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (const a of anchors.certificates) {
    const k = a.subjectDer.toString('hex');
    if (!seen.has(k)) {
      seen.add(k);
      out.push(a.subjectDer);
    }
  }
  return out;
}

/**
 * Whether `issuer`'s key verifies the signature on `c` (RFC 5280 §6.1.3 (a)(1)). Every check is one
 * signature verification on a device, whether it succeeds or not, so each is reported.
 */
function signedBy(c: ParsedCertificate, issuer: ParsedCertificate, meter: DtlsMeter | undefined): boolean {
  meter?.crypto('ecdsa_verify', 1, 'certificate', 'certificate_chain');
  try {
    return c.x509.verify(certificateKey(issuer));
  } catch {
    return false;
  }
}

/** The certificate's public key, made once per parsed certificate (X509Certificate.publicKey builds a new KeyObject at each read). */
const CERTIFICATE_KEYS = new WeakMap<ParsedCertificate, KeyObject>();
function certificateKey(c: ParsedCertificate): KeyObject {
  let key = CERTIFICATE_KEYS.get(c);
  if (!key) {
    key = c.x509.publicKey;
    CERTIFICATE_KEYS.set(c, key);
  }
  return key;
}

/**
 * The identity a chain proves, made once per leaf and shared by every session of that peer. A
 * device that handshakes again and again (each full handshake caches a new session, ~50 000 a
 * minute at full speed) would otherwise leave a copy of its chain, subject and fingerprint in every
 * cached session: ~1 KB each, and the X.509 server's RSS more than doubled in 60 s of mutual
 * handshakes. The identity and its arrays are frozen; its DER copies are its own (never the
 * certificate cache's, which trust decisions read), so an application that wrote into them could
 * only confuse itself. A chain that differs behind the same leaf gets an identity of its own.
 */
const IDENTITIES = new WeakMap<ParsedCertificate, X509Identity>();
function identityOf(sent: readonly ParsedCertificate[]): X509Identity {
  const leaf = sent[0];
  const known = IDENTITIES.get(leaf);
  if (known && known.chain.length === sent.length && known.chain.every((der, i) => der.equals(sent[i].der)))
    return known;
  const identity: X509Identity = Object.freeze({
    mode: 'x509',
    subject: leaf.x509.subject.split('\n').join(', '),
    sans: Object.freeze(subjectAltNames(leaf)),
    fingerprint: createHash('sha256').update(leaf.der).digest('hex'),
    chain: Object.freeze(sent.map((c) => ownCopy(c.der))),
  });
  IDENTITIES.set(leaf, identity);
  return identity;
}

function describe(c: ParsedCertificate): string {
  return `"${c.x509.subject.replace(/\n/g, ', ')}"`;
}

/**
 * Verifies the chain a peer sent (DER, leaf first, the rest in any order). Returns the peer's
 * identity and leaf key, or throws DtlsAlertError with the alert to send.
 */
export function verifyCertificateChain(chain: readonly Buffer[], opts: VerifyChainOptions): VerifiedChain {
  if (chain.length === 0) {
    // RFC 5246 §7.4.6: a peer that sends no certificate when one is required gets handshake_failure.
    throw fail(AlertDescription.handshake_failure, 'the peer sent no certificate');
  }
  const now = opts.now ?? new Date();
  const maxPath = opts.maxPathLength ?? 10;
  const sent = chain.map((der) => parseCertificateDer(der));
  const anchors = opts.anchors.certificates;
  const isAnchor = (c: ParsedCertificate) => anchors.some((a) => a.der.equals(c.der));

  // Path building (RFC 5280 §6.1, RFC 4158 in its simplest form): from the leaf, find an issuer
  // by name whose key verifies the signature, among the anchors first, then among what was sent.
  const path: ParsedCertificate[] = [sent[0]];
  const used = new Set<number>([0]);
  let current = sent[0];
  while (!isAnchor(current)) {
    const fromAnchors = anchors.filter((a) => a.subjectDer.equals(current.issuerDer));
    const anchor = fromAnchors.find((a) => signedBy(current, a, opts.meter));
    if (anchor) {
      path.push(anchor);
      break;
    }
    const candidates = sent
      .map((c, i) => ({ c, i }))
      .filter(({ c, i }) => !used.has(i) && c.subjectDer.equals(current.issuerDer));
    const next = candidates.find(({ c }) => signedBy(current, c, opts.meter));
    if (!next) {
      if (fromAnchors.length + candidates.length > 0) {
        throw fail(AlertDescription.decrypt_error, `the signature on ${describe(current)} does not verify`);
      }
      const selfIssued = current.subjectDer.equals(current.issuerDer);
      throw fail(
        AlertDescription.unknown_ca,
        selfIssued
          ? `self-signed ${describe(current)} is not a trust anchor`
          : `no trusted issuer for ${describe(current)} (issuer "${current.x509.issuer.replace(/\n/g, ', ')}")`,
      );
    }
    used.add(next.i);
    path.push(next.c);
    current = next.c;
    if (path.length > maxPath) throw fail(AlertDescription.unknown_ca, `certificate chain longer than ${maxPath}`);
  }

  // Extensions: any critical one we do not understand makes the certificate unusable (RFC 5280 §4.2).
  for (const c of path) {
    for (const [oid, e] of c.extensions) {
      if (e.critical && !HANDLED_EXTENSIONS.has(oid)) {
        throw fail(
          AlertDescription.unsupported_certificate,
          `${describe(c)} has an unhandled critical extension ${oid}`,
        );
      }
    }
  }

  // Issuers: CA:TRUE (RFC 5280 §4.2.1.9), keyCertSign when keyUsage is present (§4.2.1.3), and
  // pathLenConstraint counted in intermediates below them (§6.1.4 (m)).
  for (let i = 1; i < path.length; i++) {
    const c = path[i];
    const bc = basicConstraints(c);
    if (!bc?.ca)
      throw fail(AlertDescription.unknown_ca, `issuer ${describe(c)} is not a CA (basicConstraints CA:TRUE missing)`);
    if (keyUsageHas(c, KU_KEY_CERT_SIGN) === false) {
      throw fail(AlertDescription.bad_certificate, `issuer ${describe(c)} lacks keyUsage keyCertSign`);
    }
    if (bc.pathLen !== undefined && i - 1 > bc.pathLen) {
      throw fail(AlertDescription.bad_certificate, `path length constraint ${bc.pathLen} of ${describe(c)} exceeded`);
    }
  }

  // The leaf: a P-256 key (the only one TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 on P-256 can use,
  // RFC 7251, RFC 8422 §5.3), digitalSignature and the right purpose when restricted.
  const leaf = path[0];
  const publicKey = certificateKey(leaf);
  if (!isP256(publicKey)) {
    throw fail(AlertDescription.unsupported_certificate, `${describe(leaf)} does not carry a P-256 ECDSA key`);
  }
  if (!isAnchor(leaf)) {
    if (keyUsageHas(leaf, KU_DIGITAL_SIGNATURE) === false) {
      throw fail(AlertDescription.unsupported_certificate, `${describe(leaf)} keyUsage lacks digitalSignature`);
    }
    const eku = extendedKeyUsage(leaf);
    const need = opts.peerRole === 'server' ? OID_EKU_SERVER_AUTH : OID_EKU_CLIENT_AUTH;
    if (eku && !eku.includes(need) && !eku.includes(OID_EKU_ANY)) {
      throw fail(
        AlertDescription.unsupported_certificate,
        `${describe(leaf)} extendedKeyUsage does not allow ${opts.peerRole === 'server' ? 'serverAuth' : 'clientAuth'}`,
      );
    }
  }

  // Validity periods of every certificate on the path, the anchor included (as OpenSSL does).
  for (const c of path) {
    if (now > c.notAfter) {
      throw fail(AlertDescription.certificate_expired, `${describe(c)} expired on ${c.notAfter.toISOString()}`);
    }
    if (now < c.notBefore) {
      throw fail(AlertDescription.bad_certificate, `${describe(c)} is not valid before ${c.notBefore.toISOString()}`);
    }
  }

  // The server name (RFC 6125 §6; RFC 7925 §4.4.1): DNS names against dNSName SANs (the CN only
  // when there are none), IP literals against iPAddress SANs.
  if (opts.serverName && opts.verifyName !== false) {
    const name = opts.serverName.replace(/^\[|\]$/g, '');
    const ok = isIP(name)
      ? leaf.x509.checkIP(name) !== undefined
      : leaf.x509.checkHost(name, { partialWildcards: false, multiLabelWildcards: false }) !== undefined;
    if (!ok) {
      throw fail(AlertDescription.bad_certificate, `${describe(leaf)} is not valid for the name "${opts.serverName}"`);
    }
  }

  return {
    identity: identityOf(sent),
    publicKey,
    path,
  };
}

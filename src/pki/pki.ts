/**
 * The PKI toolbox behind `securesense pki`: P-256 keys, a CA (root or intermediate), device and
 * server certificates with SANs and a validity period, raw public keys (RFC 7250) and PSKs. The
 * certificates are made with @peculiar/x509 (no hand-written ASN.1) and come out as PEM that
 * OpenSSL, GnuTLS and libcoap read as they are.
 *
 * Profile (RFC 5280 §4.2, RFC 7925 §4.4.2 for IoT certificates):
 * - CA: basicConstraints CA:TRUE (critical; pathLenConstraint when given), keyUsage keyCertSign +
 *   cRLSign (critical), subjectKeyIdentifier, authorityKeyIdentifier on intermediates.
 * - end entity: basicConstraints CA:FALSE (critical), keyUsage digitalSignature (critical: ECDSA
 *   signs the handshake, RFC 8422 §5.3), extendedKeyUsage serverAuth and/or clientAuth,
 *   subjectAltName with the DNS names and IP addresses, SKI and AKI.
 * - ECDSA with SHA-256 on P-256, random 128-bit positive serial numbers.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { Extension } from '@peculiar/x509';
import { x509 } from './x509-lib.ts';

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

/** A certificate with its private key, both PEM (certificate, PKCS#8 key). */
export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

/** A CA as files hold it: its certificate and key, the intermediates above it and the root. */
export interface CaMaterial extends CertAndKey {
  /** Intermediate certificates from this CA up to (not including) the root; empty for a root. PEM, concatenated. */
  chainPem: string;
  /** The root (trust anchor) certificate PEM. */
  rootPem: string;
}

export interface Validity {
  /** Days from now; ignored when notAfter is given. */
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
}

export interface CreateCaOptions extends Validity {
  /** Common name, or a full distinguished name when it contains '=' (e.g. "CN=Acme CA, O=Acme"). */
  cn?: string;
  /** Sign with this CA instead of self-signing: makes an intermediate. */
  parent?: CaMaterial;
  /** basicConstraints pathLenConstraint. */
  pathLength?: number;
}

export interface IssueOptions extends Validity {
  ca: CaMaterial;
  /** Common name or full DN; with `csrPem` it may be left out to keep the request's subject. */
  cn?: string;
  dns?: string[];
  ip?: string[];
  /** Extended key usage: 'server' (serverAuth), 'client' (clientAuth) or 'both' (default). */
  usage?: 'server' | 'client' | 'both';
  /** Certify this existing private key (PEM) instead of generating one. */
  keyPem?: string;
  /** Certify the key of this PKCS#10 request (PEM or DER; its signature is checked). No key is returned then. */
  csrPem?: string | Buffer;
}

/** An issued certificate; `keyPem` is absent when the key came with a certificate request. */
export interface IssuedCertificate {
  certPem: string;
  keyPem?: string;
  /** The certificate followed by the issuing CA's intermediates. */
  chainPem: string;
}

/** A fresh P-256 private key, PKCS#8 PEM. */
export async function generateKeyPem(): Promise<string> {
  const pair = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  return toPkcs8Pem(pair.privateKey);
}

async function toPkcs8Pem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({
    type: 'pkcs8',
    format: 'pem',
  }) as string;
}

/** Imports a PEM private key (PKCS#8 or SEC1) as a WebCrypto signing key pair; P-256 only. */
async function importKeyPair(keyPem: string): Promise<CryptoKeyPair> {
  const priv = createPrivateKey(keyPem);
  if (priv.asymmetricKeyType !== 'ec' || priv.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('the key must be an EC key on P-256');
  }
  const pkcs8 = priv.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  // @peculiar/x509 is typed against the DOM's CryptoKey, whose usages lag Node 24's (no KEM usages).
  const privateKey = (await webcrypto.subtle.importKey('pkcs8', pkcs8, EC_P256, true, ['sign'])) as CryptoKey;
  const publicKey = (await webcrypto.subtle.importKey('spki', spki, EC_P256, true, ['verify'])) as CryptoKey;
  return { privateKey, publicKey };
}

function subjectName(cn: string): string | Array<Record<string, string[]>> {
  // A full DN is passed through in the library's string syntax; a bare CN goes in as JSON so that
  // commas or '+' inside it need no escaping.
  return cn.includes('=') ? cn : [{ CN: [cn] }];
}

function validity(v: Validity, defaultDays: number): { notBefore: Date; notAfter: Date } {
  // Back-date by a minute so a peer with a slightly slow clock accepts a certificate made just now.
  const notBefore = v.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = v.notAfter ?? new Date(notBefore.getTime() + (v.days ?? defaultDays) * DAY_MS);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) throw new Error('invalid date');
  if (notAfter <= notBefore) throw new Error('notAfter must be after notBefore');
  return { notBefore, notAfter };
}

function serialNumber(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f; // positive INTEGER (RFC 5280 §4.1.2.2)
  if (b[0] === 0) b[0] = 1;
  return b.toString('hex');
}

/** Creates a root CA, or an intermediate when `parent` is given. */
export async function createCa(opts: CreateCaOptions = {}): Promise<CaMaterial> {
  const lib = x509();
  const keys = (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as CryptoKeyPair;
  const { notBefore, notAfter } = validity(opts, 3650);
  const extensions: Extension[] = [
    new lib.BasicConstraintsExtension(true, opts.pathLength, true),
    new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
    await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  const name = subjectName(opts.cn ?? 'SecureSense CA');
  let cert: InstanceType<typeof lib.X509Certificate>;
  if (opts.parent) {
    const parentCert = new lib.X509Certificate(opts.parent.certPem);
    const parentKeys = await importKeyPair(opts.parent.keyPem);
    extensions.push(await lib.AuthorityKeyIdentifierExtension.create(parentKeys.publicKey));
    cert = await lib.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: name,
      issuer: parentCert.subjectName,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING,
      publicKey: keys.publicKey,
      signingKey: parentKeys.privateKey,
      extensions,
    });
  } else {
    cert = await lib.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING,
      keys,
      extensions,
    });
  }
  const certPem = normalizePem(cert.toString('pem'));
  const keyPem = await toPkcs8Pem(keys.privateKey);
  if (!opts.parent) return { certPem, keyPem, chainPem: '', rootPem: certPem };
  return { certPem, keyPem, chainPem: certPem + opts.parent.chainPem, rootPem: opts.parent.rootPem };
}

/**
 * An end-entity certificate (device or server) issued by `ca`: for a new key, for `keyPem`, or for
 * the key in a certificate request `csrPem` (RFC 2986).
 */
export async function issueCertificate(opts: IssueOptions): Promise<IssuedCertificate> {
  const lib = x509();
  for (const a of opts.ip ?? []) if (isIP(a) === 0) throw new Error(`not an IP address: ${a}`);
  let keyPem: string | undefined;
  let subjectPublicKey: CryptoKey | InstanceType<typeof lib.PublicKey>;
  let subject: ReturnType<typeof subjectName> | InstanceType<typeof lib.Name>;
  if (opts.csrPem) {
    if (opts.keyPem) throw new Error('give a key or a certificate request, not both');
    let csr: InstanceType<typeof lib.Pkcs10CertificateRequest>;
    try {
      csr = new lib.Pkcs10CertificateRequest(
        typeof opts.csrPem === 'string' ? opts.csrPem : new Uint8Array(opts.csrPem),
      );
    } catch (err) {
      throw new Error(`cannot read the certificate request: ${(err as Error).message}`);
    }
    // Proof of possession: the request must be signed by the key it asks to certify (RFC 2986 §3).
    if (!(await csr.verify())) throw new Error('the certificate request signature does not verify');
    const pub = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
    if (pub.asymmetricKeyType !== 'ec' || pub.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error('the certificate request is not for an EC key on P-256');
    }
    subjectPublicKey = csr.publicKey;
    subject = opts.cn ? subjectName(opts.cn) : csr.subjectName;
  } else {
    if (!opts.cn) throw new Error('a common name is required');
    keyPem = opts.keyPem ?? (await generateKeyPem());
    subjectPublicKey = (await importKeyPair(keyPem)).publicKey;
    subject = subjectName(opts.cn);
  }
  const caKeys = await importKeyPair(opts.ca.keyPem);
  const caCert = new lib.X509Certificate(opts.ca.certPem);
  const { notBefore, notAfter } = validity(opts, 365);
  const usage = opts.usage ?? 'both';
  const eku: string[] = [];
  if (usage !== 'client') eku.push(lib.ExtendedKeyUsage.serverAuth);
  if (usage !== 'server') eku.push(lib.ExtendedKeyUsage.clientAuth);
  const extensions: Extension[] = [
    new lib.BasicConstraintsExtension(false, undefined, true),
    new lib.KeyUsagesExtension(lib.KeyUsageFlags.digitalSignature, true),
    new lib.ExtendedKeyUsageExtension(eku, false),
    await lib.SubjectKeyIdentifierExtension.create(subjectPublicKey),
    await lib.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
  ];
  const sans = [
    ...(opts.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (sans.length > 0) extensions.push(new lib.SubjectAlternativeNameExtension(sans, false));
  const cert = await lib.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject,
    issuer: caCert.subjectName,
    notBefore,
    notAfter,
    signingAlgorithm: SIGNING,
    publicKey: subjectPublicKey,
    signingKey: caKeys.privateKey,
    extensions,
  });
  const certPem = normalizePem(cert.toString('pem'));
  return { certPem, keyPem, chainPem: certPem + opts.ca.chainPem };
}

/**
 * The raw public key (RFC 7250) of a PEM private key, public key or certificate: SPKI PEM and DER,
 * and its SHA-256.
 */
export function rawPublicKey(keyPem: string): { spkiPem: string; spkiDer: Buffer; fingerprint: string } {
  const pub = keyPem.includes('-----BEGIN CERTIFICATE-----')
    ? new X509Certificate(keyPem).publicKey
    : keyPem.includes('PRIVATE KEY')
      ? createPublicKey(createPrivateKey(keyPem))
      : createPublicKey(keyPem);
  if (pub.asymmetricKeyType !== 'ec' || pub.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('the key must be an EC key on P-256');
  }
  const spkiDer = pub.export({ type: 'spki', format: 'der' });
  return {
    spkiPem: pub.export({ type: 'spki', format: 'pem' }) as string,
    spkiDer,
    fingerprint: createHash('sha256').update(spkiDer).digest('hex'),
  };
}

/** A PSK identity and key (RFC 4279): random key of `bytes` bytes, shown as hex. */
export function generatePsk(opts: { identity?: string; bytes?: number } = {}): { identity: string; keyHex: string } {
  const bytes = opts.bytes ?? 16;
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > 64) throw new Error('--bytes must be 1..64');
  const identity = opts.identity ?? `device-${randomBytes(4).toString('hex')}`;
  // RFC 4279 §5.1: the identity is UTF-8 text of up to 128 bytes in practice; ':' would break ID:HEX.
  if (identity.length === 0 || Buffer.byteLength(identity) > 128 || identity.includes(':')) {
    throw new Error('the PSK identity must be 1..128 bytes and contain no ":"');
  }
  return { identity, keyHex: randomBytes(bytes).toString('hex') };
}

/** Subject, SANs and SHA-256 fingerprint of a certificate PEM (for the CLI's summary line). */
export function describeCertificate(certPem: string): { subject: string; sans: string[]; fingerprint: string } {
  const lib = x509();
  const cert = new lib.X509Certificate(certPem);
  const san = cert.getExtension(lib.SubjectAlternativeNameExtension);
  const sans = san
    ? san.names.items.map((n) => `${n.type === 'dns' ? 'DNS' : n.type === 'ip' ? 'IP' : n.type}:${n.value}`)
    : [];
  return {
    subject: cert.subject,
    sans,
    fingerprint: createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex'),
  };
}

function normalizePem(pem: string): string {
  const s = pem.replace(/\r\n/g, '\n').trim();
  return `${s}\n`;
}

/**
 * The credential configuration of the public-key modes, as the engine takes it: what this side
 * can present (an X.509 chain and/or a raw public key, each with its P-256 private key), what it
 * trusts (anchors for X.509, pinned keys or a lookup for RPK), the server's client-authentication
 * policy and the client's server-name check. Plus loaders from PEM files (the CLI's --cert, --key,
 * --ca, --rpk-key, --trust-rpk), the RFC 7250 §4 certificate-type lists each side offers, and one
 * `verifyPeerCertificate` for whatever Certificate message arrives.
 */

import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isP256, loadPrivateKey, spkiDer } from '../crypto/ecc.ts';
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import type { DtlsMeter } from '../meter.ts';
import type { CertificateMessage } from '../wire/certificate.ts';
import {
  CertificateType,
  clientCertificateTypeExtension,
  ecPointFormatsExtension,
  selectCertificateType,
  serverCertificateTypeExtension,
  signatureAlgorithmsExtension,
  supportedGroupsExtension,
} from '../wire/extensions-ecc.ts';
import type { PeerIdentity } from './identity.ts';
import { PinnedKeys, type RpkLookup, verifyRawPublicKey } from './rpk.ts';
import {
  certificatesFromPem,
  loadTrustAnchors,
  parseCertificateDer,
  type TrustAnchors,
  verifyCertificateChain,
} from './x509.ts';

/** Server policy for client certificates (RFC 5246 §7.4.4): never ask, ask, or ask and require. */
export type ClientAuth = 'none' | 'want' | 'need';

/** Our X.509 identity: the chain we send (DER, leaf first, intermediates after; RFC 5246 §7.4.2) and the leaf's key. */
export interface OwnCertificate {
  readonly key: KeyObject;
  readonly chain: readonly Buffer[];
}

/** Our raw public key (RFC 7250): the private key and the SPKI we send. */
export interface OwnRawPublicKey {
  readonly key: KeyObject;
  readonly spki: Buffer;
}

export interface PeerTrust {
  /** X.509 trust anchors; without them no certificate chain is accepted. */
  anchors?: TrustAnchors;
  /** Raw public keys accepted as they are. */
  pinnedKeys?: PinnedKeys;
  /** Asked about a raw public key that is not pinned. */
  rpkLookup?: RpkLookup;
  /** Client side: check the server's certificate against the name connected to (default true). */
  verifyName?: boolean;
}

/** Everything the public-key modes need on one side. PSK stays in the engine's own options. */
export interface PublicKeyCredentials {
  certificate?: OwnCertificate;
  rpk?: OwnRawPublicKey;
  trust?: PeerTrust;
  /** Server only; default 'none'. */
  clientAuth?: ClientAuth;
}

/** An OwnCertificate from a key and a chain (PEM text with the leaf first, or DER list); checks that they match. */
export function ownCertificate(
  key: KeyObject | string | Buffer,
  chain: string | Buffer | readonly Buffer[],
): OwnCertificate {
  const k = isKeyObject(key) ? key : loadPrivateKey(key);
  if (!isP256(k)) throw new Error('the private key must be an EC key on P-256');
  const ders = Array.isArray(chain) ? [...(chain as readonly Buffer[])] : certificatesFromPem(chain as string | Buffer);
  if (ders.length === 0) throw new Error('the certificate chain is empty');
  const leaf = parseCertificateDer(ders[0]);
  if (!spkiDer(leaf.x509.publicKey).equals(spkiDer(k))) {
    throw new Error('the private key does not match the first certificate of the chain');
  }
  return { key: k, chain: ders };
}

/** An OwnRawPublicKey from a P-256 private key (PEM or DER, PKCS#8 or SEC1); the SPKI is derived. */
export function ownRawPublicKey(key: KeyObject | string | Buffer): OwnRawPublicKey {
  const k = isKeyObject(key) ? key : loadPrivateKey(key);
  if (!isP256(k)) throw new Error('the private key must be an EC key on P-256');
  return { key: k, spki: spkiDer(k) };
}

function isKeyObject(k: unknown): k is KeyObject {
  return typeof k === 'object' && k !== null && 'asymmetricKeyType' in k && 'export' in k;
}

/** File paths as the `dtls server|client` tools take them. */
export interface CredentialFiles {
  /** --cert: PEM certificate, optionally followed by its intermediates (e.g. PREFIX-chain.pem). */
  cert?: string;
  /** --key: the certificate's private key PEM. */
  key?: string;
  /** --ca (repeatable): PEM trust anchors. */
  ca?: string[];
  /** --rpk-key: a P-256 private key PEM; its public key is our raw public key. */
  rpkKey?: string;
  /** --trust-rpk (repeatable): PEM public keys (several per file allowed), private keys, or files of SHA-256 fingerprints, one a line. */
  trustRpk?: string[];
  clientAuth?: ClientAuth;
  /** --no-verify-name sets this to false. */
  verifyName?: boolean;
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g;

/** The pins in one --trust-rpk file: every PEM key block, else every non-empty, non-# line as a fingerprint. */
export function pinsFromFile(text: string): string[] {
  const blocks = [...text.matchAll(PEM_BLOCK)].map((m) => m[0]);
  if (blocks.length > 0) return blocks;
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** Reads the files; throws an Error naming the file at fault. */
export function loadCredentialFiles(f: CredentialFiles): PublicKeyCredentials {
  const read = (p: string) => {
    try {
      return readFileSync(p, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${p}: ${(err as Error).message}`);
    }
  };
  const named = <T>(p: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw new Error(`${p}: ${(err as Error).message}`);
    }
  };
  const out: PublicKeyCredentials = {};
  if (f.cert || f.key) {
    if (!f.cert || !f.key) throw new Error('--cert and --key go together');
    const key = f.key;
    const cert = f.cert;
    out.certificate = named(`${cert} / ${key}`, () => ownCertificate(read(key), read(cert)));
  }
  if (f.rpkKey) {
    const p = f.rpkKey;
    out.rpk = named(p, () => ownRawPublicKey(read(p)));
  }
  const trust: PeerTrust = {};
  if (f.ca?.length) {
    const texts = f.ca.map((p) => {
      const text = read(p);
      named(p, () => loadTrustAnchors(text)); // names the file at fault
      return text;
    });
    trust.anchors = loadTrustAnchors(texts);
  }
  if (f.trustRpk?.length) {
    const pins = new PinnedKeys();
    for (const p of f.trustRpk) {
      const entries = pinsFromFile(read(p));
      named(p, () => {
        for (const e of entries) pins.add(e);
      });
    }
    trust.pinnedKeys = pins;
  }
  if (f.verifyName !== undefined) trust.verifyName = f.verifyName;
  if (Object.keys(trust).length > 0) out.trust = trust;
  if (f.clientAuth) out.clientAuth = f.clientAuth;
  return out;
}

/**
 * The certificate types this side can present, most preferred first (the ClientHello's
 * client_certificate_type list, or what a server may select for server_certificate_type). A raw
 * public key comes first when both are configured: it is the smaller message (RFC 7250 §1).
 */
export function presentableCertificateTypes(c: PublicKeyCredentials | undefined): CertificateType[] {
  const out: CertificateType[] = [];
  if (c?.rpk) out.push(CertificateType.RawPublicKey);
  if (c?.certificate) out.push(CertificateType.X509);
  return out;
}

/** The certificate types this side can verify (the ClientHello's server_certificate_type list, or a server's choice for client_certificate_type). */
export function verifiableCertificateTypes(t: PeerTrust | undefined): CertificateType[] {
  const out: CertificateType[] = [];
  if ((t?.pinnedKeys && t.pinnedKeys.size > 0) || t?.rpkLookup) out.push(CertificateType.RawPublicKey);
  if (t?.anchors && t.anchors.certificates.length > 0) out.push(CertificateType.X509);
  return out;
}

/** The Certificate message we send for the negotiated type, or an empty one when we have nothing of that type. */
export function ownCertificateMessage(c: PublicKeyCredentials | undefined, type: CertificateType): CertificateMessage {
  if (type === CertificateType.RawPublicKey) return { type: 'rpk', spki: c?.rpk?.spki ?? Buffer.alloc(0) };
  return { type: 'x509', certificateList: c?.certificate ? [...c.certificate.chain] : [] };
}

/** The private key that signs ServerKeyExchange / CertificateVerify for the negotiated type. */
export function signingKey(c: PublicKeyCredentials | undefined, type: CertificateType): KeyObject | undefined {
  return type === CertificateType.RawPublicKey ? c?.rpk?.key : c?.certificate?.key;
}

export interface PeerCertificateContext {
  /** The role of the PEER (whose certificate this is). */
  peerRole: 'server' | 'client';
  /** Client side: the host name or IP the client connected to. */
  serverName?: string;
  now?: Date;
  /** Told of each signature checked on the peer's certificate chain (the meter's `certificate` context, for the device model). */
  meter?: DtlsMeter;
}

/**
 * Verifies a peer's Certificate message against our trust; resolves to its identity and the key
 * that must verify its signatures, or rejects with the DtlsAlertError to send.
 */
export async function verifyPeerCertificate(
  msg: CertificateMessage,
  trust: PeerTrust | undefined,
  ctx: PeerCertificateContext,
): Promise<{ identity: PeerIdentity; publicKey: KeyObject }> {
  if (msg.type === 'rpk') {
    return verifyRawPublicKey(msg.spki, { pinnedKeys: trust?.pinnedKeys, rpkLookup: trust?.rpkLookup });
  }
  if (!trust?.anchors || trust.anchors.certificates.length === 0) {
    if (msg.certificateList.length === 0) {
      throw new DtlsAlertError(AlertDescription.handshake_failure, 'the peer sent no certificate');
    }
    throw new DtlsAlertError(AlertDescription.unknown_ca, 'no trust anchors configured for X.509 peers');
  }
  const v = verifyCertificateChain(msg.certificateList, {
    anchors: trust.anchors,
    peerRole: ctx.peerRole,
    serverName: ctx.serverName,
    verifyName: trust.verifyName,
    now: ctx.now,
    meter: ctx.meter,
  });
  return { identity: v.identity, publicKey: v.publicKey };
}

// ---------------------------------------------------------------------------------------------
// Certificate-type negotiation (RFC 7250 §4), both roles.

/** What the server decided for one handshake of the ECDHE_ECDSA suite. */
export interface ServerCertificateTypes {
  /** The type of the Certificate the server sends. */
  server: CertificateType;
  /** The type the client must send; undefined when the server sends no CertificateRequest. */
  client?: CertificateType;
  /** Extensions to add to the ServerHello (only answers to what the client sent, RFC 7250 §4). */
  serverHelloExtensions: Array<{ type: number; data: Buffer }>;
}

/**
 * The server's choice from the ClientHello's certificate-type lists (undefined when the client
 * did not send that extension, which means X.509 only). Throws `unsupported_certificate` when
 * the server has nothing of a type the client accepts, or when client authentication is 'need'
 * and the client can send nothing the server can verify (RFC 7250 §4). With 'want' and no
 * overlap the server simply asks for no certificate. A server that also serves PSK may prefer to
 * choose the PSK suite instead of calling this when the client offered it.
 */
export function chooseCertificateTypes(
  offer: { clientCertificateTypes?: readonly number[]; serverCertificateTypes?: readonly number[] },
  creds: PublicKeyCredentials | undefined,
): ServerCertificateTypes {
  const serverHelloExtensions: Array<{ type: number; data: Buffer }> = [];
  const server = selectCertificateType(offer.serverCertificateTypes, presentableCertificateTypes(creds));
  if (server === undefined) {
    throw new DtlsAlertError(
      AlertDescription.unsupported_certificate,
      `client accepts server certificate types [${(offer.serverCertificateTypes ?? [CertificateType.X509]).join(',')}], we have [${presentableCertificateTypes(creds).join(',')}]`,
    );
  }
  if (offer.serverCertificateTypes) serverHelloExtensions.push(serverCertificateTypeExtension('server', server));
  const auth = creds?.clientAuth ?? 'none';
  let client: CertificateType | undefined;
  if (auth !== 'none') {
    client = selectCertificateType(offer.clientCertificateTypes, verifiableCertificateTypes(creds?.trust));
    if (client === undefined && auth === 'need') {
      throw new DtlsAlertError(
        AlertDescription.unsupported_certificate,
        `client can send certificate types [${(offer.clientCertificateTypes ?? [CertificateType.X509]).join(',')}], we verify [${verifiableCertificateTypes(creds?.trust).join(',')}]`,
      );
    }
    // RFC 7250 §4: client_certificate_type goes in the ServerHello only with a CertificateRequest.
    if (client !== undefined && offer.clientCertificateTypes) {
      serverHelloExtensions.push(clientCertificateTypeExtension('server', client));
    }
  }
  return { server, client, serverHelloExtensions };
}

/**
 * The ClientHello extensions a client with these credentials sends for the ECDHE_ECDSA suite:
 * supported_groups (secp256r1), ec_point_formats (uncompressed), signature_algorithms
 * (ecdsa_secp256r1_sha256), and the RFC 7250 lists — server_certificate_type when we can verify a
 * raw key (omitted when X.509 is all we verify: absence means X.509), client_certificate_type when
 * we hold a raw key.
 */
export function clientHelloEccExtensions(
  creds: PublicKeyCredentials | undefined,
): Array<{ type: number; data: Buffer }> {
  const out = [supportedGroupsExtension(), ecPointFormatsExtension(), signatureAlgorithmsExtension()];
  const verify = verifiableCertificateTypes(creds?.trust);
  if (verify.includes(CertificateType.RawPublicKey)) out.push(serverCertificateTypeExtension('client', verify));
  const present = presentableCertificateTypes(creds);
  if (present.includes(CertificateType.RawPublicKey)) out.push(clientCertificateTypeExtension('client', present));
  return out;
}

/**
 * The client's reading of the ServerHello's certificate-type answers. An answer to an extension
 * we did not send is `unsupported_extension` (RFC 5246 §7.4.1.4); a type we did not offer is
 * `illegal_parameter`. Absent answers mean X.509 (RFC 7250 §4).
 */
export function acceptServerCertificateTypes(
  sent: { clientCertificateTypes?: readonly number[]; serverCertificateTypes?: readonly number[] },
  answered: { clientCertificateType?: number; serverCertificateType?: number },
): { server: CertificateType; client: CertificateType } {
  const check = (name: string, list: readonly number[] | undefined, v: number | undefined): CertificateType => {
    if (v === undefined) return CertificateType.X509;
    if (!list)
      throw new DtlsAlertError(AlertDescription.unsupported_extension, `server answered ${name} we did not send`);
    if (!list.includes(v))
      throw new DtlsAlertError(AlertDescription.illegal_parameter, `server chose ${name} ${v}, not offered`);
    return v as CertificateType;
  };
  return {
    server: check('server_certificate_type', sent.serverCertificateTypes, answered.serverCertificateType),
    client: check('client_certificate_type', sent.clientCertificateTypes, answered.clientCertificateType),
  };
}

/**
 * EDHOC authentication credentials (RFC 9528 §3.5): CRED_x, the credential as it enters the
 * transcript and MACs — a CWT Claims Set (CCS, RFC 8392) holding a COSE_Key for raw public keys,
 * or an X.509 certificate as a CBOR byte string — and ID_CRED_x, how a message refers to it: by
 * `kid` (4), by certificate hash `x5t` (34, RFC 9360) or by value `x5chain` (33).
 *
 * Our raw public keys (the DTLS RPK identities, P-256 SubjectPublicKeyInfo) map onto CCS
 * credentials referenced by kid, or sent by value as `kccs` (14) to a peer that holds only their
 * fingerprint (the platform, which pins device keys as DTLS does); our X.509 certificates
 * (src/pki) map onto x5t or x5chain.
 */
import { createHash, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { type CborValue, decode, encode } from '../util/cbor.ts';
import { ed25519PublicKey, p256PublicKey } from './crypto.ts';
import { EdhocError, ErrCode } from './errors.ts';

/** COSE header parameters used as ID_CRED_x. */
export const KID = 4;
export const X5CHAIN = 33;
export const X5T = 34;
/** A CWT Claims Set by value (RFC 9528 §3.5.3: the CCS itself in ID_CRED_x). */
export const KCCS = 14;
/** COSE algorithms of x5t hashes: SHA-256/64 and SHA-256 (RFC 9054). */
export const SHA256_64 = -15;
export const SHA256 = -16;

export type IdCred =
  | { readonly kind: 'kid'; readonly kid: Buffer }
  | { readonly kind: 'x5t'; readonly alg: number; readonly hash: Buffer }
  | { readonly kind: 'x5chain'; readonly certificates: readonly Buffer[] }
  /** `ccs`: the CCS's exact CBOR bytes, which are also CRED_x. */
  | { readonly kind: 'kccs'; readonly ccs: Buffer };

/** The public key a credential authenticates: P-256 (ES256 or static DH), X25519 (static DH), Ed25519. */
export type AuthPublicKey =
  | { readonly kind: 'P-256'; readonly x: Buffer; readonly y?: Buffer }
  | { readonly kind: 'X25519'; readonly u: Buffer }
  | { readonly kind: 'Ed25519'; readonly raw: Buffer };

export interface EdhocCredential {
  readonly idCred: IdCred;
  /** CRED_x: the exact CBOR bytes that enter TH_3/TH_4 and the MACs. */
  readonly cred: Buffer;
  readonly publicKey: AuthPublicKey;
}

/** ID_CRED_x as the COSE header map, the form the MAC and signature inputs use. */
export function encodeIdCred(id: IdCred): Buffer {
  // { 14: CCS } with the CCS bytes as they are: they were hashed into CRED_x and must not be re-encoded.
  if (id.kind === 'kccs') return Buffer.concat([Buffer.of(0xa1, KCCS), id.ccs]);
  return encode(idCredMap(id));
}

function idCredMap(id: Exclude<IdCred, { kind: 'kccs' }>): Map<CborValue, CborValue> {
  switch (id.kind) {
    case 'kid':
      return new Map([[KID, id.kid]]);
    case 'x5t':
      return new Map([[X5T, [id.alg, id.hash]]]);
    case 'x5chain':
      return new Map([[X5CHAIN, id.certificates.length === 1 ? id.certificates[0] : [...id.certificates]]]);
  }
}

/** True when one byte is the whole CBOR encoding of an integer in −24..23 (RFC 9528 §3.3.2). */
export function isOneByteInt(b: Buffer): boolean {
  return b.length === 1 && (b[0] <= 0x17 || (b[0] >= 0x20 && b[0] <= 0x37));
}

/**
 * ID_CRED_x in PLAINTEXT_2/3 (RFC 9528 §3.5.3.2): a map holding only kid is sent as the kid
 * alone — as the integer its single byte encodes when it is one, otherwise as a byte string.
 */
export function encodeIdCredCompact(id: IdCred): Buffer {
  if (id.kind !== 'kid') return encodeIdCred(id);
  return isOneByteInt(id.kid) ? Buffer.from(id.kid) : encode(id.kid);
}

function bad(what: string): never {
  throw new EdhocError(`malformed ID_CRED: ${what}`);
}

/** The ID_CRED_x of a received plaintext: a compact kid (int or bstr) or a header map. */
export function idCredFromWire(value: CborValue, bytes: Buffer): IdCred {
  if (typeof value === 'number') {
    if (value < -24 || value > 23) bad(`integer kid ${value} is not one byte`);
    return { kind: 'kid', kid: Buffer.from(bytes) };
  }
  if (Buffer.isBuffer(value)) {
    // A one-byte kid that is an integer encoding must be sent as that integer.
    if (isOneByteInt(value)) bad('one-byte kid sent as a byte string instead of an integer');
    return { kind: 'kid', kid: value };
  }
  if (!(value instanceof Map)) bad('neither a kid nor a map');
  if (value.size !== 1) bad(`map has ${value.size} entries; we accept exactly one of kid, x5t, x5chain`);
  const [[label, v]] = [...value.entries()];
  if (label === KID) {
    if (!Buffer.isBuffer(v)) bad('kid is not a byte string');
    return { kind: 'kid', kid: v };
  }
  if (label === X5T) {
    if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'number' || !Buffer.isBuffer(v[1])) {
      bad('x5t is not [alg, hash]');
    }
    return { kind: 'x5t', alg: v[0], hash: v[1] };
  }
  if (label === X5CHAIN) {
    const certs = Buffer.isBuffer(v) ? [v] : Array.isArray(v) && v.length >= 2 ? v : bad('x5chain');
    if (!certs.every((c) => Buffer.isBuffer(c) && c.length > 0)) bad('x5chain holds a non-certificate');
    return { kind: 'x5chain', certificates: certs as Buffer[] };
  }
  if (label === KCCS) {
    // A one-entry map with the one-byte key 14 is the two bytes a1 0e, then the CCS as sent.
    if (!(v instanceof Map) || bytes[0] !== 0xa1 || bytes[1] !== KCCS) bad('kccs is not a CWT Claims Set map');
    return { kind: 'kccs', ccs: Buffer.from(bytes.subarray(2)) };
  }
  return bad(`unsupported header label ${String(label)}`);
}

export function describeIdCred(id: IdCred): string {
  if (id.kind === 'kid') return `kid ${id.kid.toString('hex')}`;
  if (id.kind === 'x5t') return `x5t ${id.hash.toString('hex')}`;
  if (id.kind === 'kccs') return `kccs of ${id.ccs.length} bytes`;
  return `x5chain of ${id.certificates.length}`;
}

/** The x5t hash of a DER certificate (RFC 9360 §2). */
export function certificateHash(der: Buffer, alg: number): Buffer {
  const h = createHash('sha256').update(der).digest();
  if (alg === SHA256) return h;
  if (alg === SHA256_64) return h.subarray(0, 8);
  throw new EdhocError(`unsupported x5t hash algorithm ${alg}`, ErrCode.unknownCredential);
}

/** The authentication key of a node:crypto public or private key. */
export function authKeyOf(key: KeyObject): AuthPublicKey {
  const j = key.export({ format: 'jwk' });
  const x = typeof j.x === 'string' ? Buffer.from(j.x, 'base64url') : undefined;
  if (j.kty === 'EC' && j.crv === 'P-256' && x && typeof j.y === 'string') {
    return { kind: 'P-256', x, y: Buffer.from(j.y, 'base64url') };
  }
  if (j.kty === 'OKP' && j.crv === 'Ed25519' && x) return { kind: 'Ed25519', raw: x };
  if (j.kty === 'OKP' && j.crv === 'X25519' && x) return { kind: 'X25519', u: x };
  throw new EdhocError(`unsupported credential key ${j.kty}/${j.crv}`);
}

/** A CCS credential for a raw public key (RFC 9528 §3.5.2): { 2: subject, 8: { 1: COSE_Key } }. */
export function ccsCredential(opts: { kid: Buffer; subject?: string; publicKey: AuthPublicKey }): EdhocCredential {
  const k = opts.publicKey;
  const coseKey = new Map<CborValue, CborValue>();
  if (k.kind === 'P-256') {
    coseKey.set(1, 2).set(2, opts.kid).set(-1, 1).set(-2, k.x);
    if (k.y) coseKey.set(-3, k.y);
  } else {
    coseKey
      .set(1, 1)
      .set(2, opts.kid)
      .set(-1, k.kind === 'X25519' ? 4 : 6)
      .set(-2, k.kind === 'X25519' ? k.u : k.raw);
  }
  const ccs = new Map<CborValue, CborValue>();
  if (opts.subject !== undefined) ccs.set(2, opts.subject);
  ccs.set(8, new Map([[1, coseKey]]));
  return { idCred: { kind: 'kid', kid: opts.kid }, cred: encode(ccs), publicKey: k };
}

/**
 * A DTLS raw public key (RFC 7250 SubjectPublicKeyInfo, PEM or DER — what `securesense pki rpk`
 * exports and DTLS pins) as an EDHOC CCS credential. The kid defaults to the first 4 bytes of the
 * key's SHA-256 fingerprint, the value DTLS pins by.
 */
export function rpkCredential(spki: Buffer | string, opts: { kid?: Buffer; subject?: string } = {}): EdhocCredential {
  let key: KeyObject;
  try {
    key =
      typeof spki === 'string' ? createPublicKey(spki) : createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (e) {
    throw new EdhocError(`not a public key: ${(e as Error).message}`);
  }
  const der = key.export({ format: 'der', type: 'spki' });
  const kid = opts.kid ?? createHash('sha256').update(der).digest().subarray(0, 4);
  return ccsCredential({ kid, subject: opts.subject, publicKey: authKeyOf(key) });
}

/** The public key inside a CCS credential's COSE_Key. */
export function keyFromCcs(cred: Buffer): AuthPublicKey {
  let v: CborValue;
  try {
    v = decode(cred);
  } catch (e) {
    throw new EdhocError(`CCS credential is not CBOR: ${(e as Error).message}`);
  }
  const cnf = v instanceof Map ? v.get(8) : undefined;
  const key = cnf instanceof Map ? cnf.get(1) : undefined;
  if (!(key instanceof Map)) throw new EdhocError('CCS credential has no cnf/COSE_Key');
  const x = key.get(-2);
  const y = key.get(-3);
  if (!Buffer.isBuffer(x) || x.length !== 32) throw new EdhocError('COSE_Key x is not 32 bytes');
  const kty = key.get(1);
  const crv = key.get(-1);
  if (kty === 2 && crv === 1) return { kind: 'P-256', x, y: Buffer.isBuffer(y) ? y : undefined };
  if (kty === 1 && crv === 4) return { kind: 'X25519', u: x };
  if (kty === 1 && crv === 6) return { kind: 'Ed25519', raw: x };
  throw new EdhocError(`unsupported COSE_Key kty ${String(kty)} crv ${String(crv)}`);
}

/** An X.509 credential: CRED_x is the DER certificate as a CBOR byte string (RFC 9528 §3.5.2). */
export function x509Credential(der: Buffer, ref: 'x5t' | 'x5chain' | { kid: Buffer } = 'x5t'): EdhocCredential {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch (e) {
    throw new EdhocError(`not an X.509 certificate: ${(e as Error).message}`);
  }
  const idCred: IdCred =
    ref === 'x5t'
      ? { kind: 'x5t', alg: SHA256_64, hash: certificateHash(der, SHA256_64) }
      : ref === 'x5chain'
        ? { kind: 'x5chain', certificates: [der] }
        : { kind: 'kid', kid: ref.kid };
  return { idCred, cred: encode(der), publicKey: authKeyOf(cert.publicKey) };
}

/**
 * Our certificate chain (DER, leaf first) sent by value: ID_CRED_x = x5chain with every certificate
 * we hold, so a peer that trusts our root can build the path; CRED_x is the leaf (RFC 9528 §3.5.2).
 */
export function x5chainCredential(chain: readonly Buffer[]): EdhocCredential {
  if (chain.length === 0) throw new EdhocError('an x5chain needs at least one certificate');
  const leaf = x509Credential(chain[0], 'x5chain');
  return { ...leaf, idCred: { kind: 'x5chain', certificates: [...chain] } };
}

/** The verification key object of a credential's public key (signature methods). */
export function verificationKey(k: AuthPublicKey): KeyObject {
  if (k.kind === 'Ed25519') return ed25519PublicKey(k.raw);
  if (k.kind === 'P-256' && k.y) return p256PublicKey(k.x, k.y);
  throw new EdhocError(`a ${k.kind} credential without y cannot verify signatures`);
}

/** The 32-byte DH public key of a credential (static DH methods). */
export function dhPublicKey(k: AuthPublicKey): Buffer {
  if (k.kind === 'P-256') return k.x;
  if (k.kind === 'X25519') return k.u;
  throw new EdhocError('an Ed25519 credential cannot be used for static DH');
}

/** Does `cred` answer to the reference `id`? */
export function matchesIdCred(cred: EdhocCredential, id: IdCred): boolean {
  const own = cred.idCred;
  if (id.kind === 'kid') return own.kind === 'kid' && own.kid.equals(id.kid);
  if (id.kind === 'kccs') return cred.cred.equals(id.ccs);
  const der = derOf(cred);
  if (!der) return false;
  if (id.kind === 'x5t') {
    try {
      return certificateHash(der, id.alg).equals(id.hash);
    } catch {
      return false;
    }
  }
  return id.certificates[0].equals(der);
}

function derOf(cred: EdhocCredential): Buffer | undefined {
  try {
    const v = decode(cred.cred);
    return Buffer.isBuffer(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The same CCS credential sent by value (ID_CRED_x = { 14: CCS }) instead of by kid. */
export function byValue(cred: EdhocCredential): EdhocCredential {
  return { ...cred, idCred: { kind: 'kccs', ccs: cred.cred } };
}

/** The DER SubjectPublicKeyInfo of a P-256 credential key: what DTLS pins raw public keys by. */
export function spkiOf(k: AuthPublicKey): Buffer {
  if (k.kind !== 'P-256' || !k.y) throw new EdhocError(`a ${k.kind} key without y has no DTLS SubjectPublicKeyInfo`);
  return p256PublicKey(k.x, k.y).export({ format: 'der', type: 'spki' });
}

/**
 * A resolver for P-256 CCS credentials sent by value: the credential is what the peer sent, and
 * `trusted(spki, fingerprint)` decides — synchronously — whether its key is one we accept. A peer
 * whose trust takes a store lookup accepts structurally here and decides after the exchange
 * (`EdhocResource`'s `accept`), before answering message_3.
 */
export function rpkByValue(trusted: (spki: Buffer, fingerprint: string) => boolean): CredentialResolver {
  return (id) => {
    if (id.kind !== 'kccs') return undefined;
    let publicKey: AuthPublicKey;
    let spki: Buffer;
    try {
      publicKey = keyFromCcs(id.ccs);
      spki = spkiOf(publicKey);
    } catch {
      return undefined;
    }
    const fingerprint = createHash('sha256').update(spki).digest('hex');
    return trusted(spki, fingerprint) ? { idCred: id, cred: id.ccs, publicKey } : undefined;
  };
}

/** Finds the peer's credential for a received ID_CRED_x; undefined refuses it (ERR_CODE 3). */
export type CredentialResolver = (id: IdCred) => EdhocCredential | undefined;

/** A resolver over a fixed list of known peer credentials (pinned RPKs and certificates). */
export function knownCredentials(list: readonly EdhocCredential[]): CredentialResolver {
  return (id) => list.find((c) => matchesIdCred(c, id));
}

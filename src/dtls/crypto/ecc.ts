/**
 * Elliptic-curve crypto for `TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8` (RFC 7251) on secp256r1 (P-256),
 * over node:crypto:
 * - ephemeral ECDH (RFC 8422 §5.4, §5.10): the public value travels as an uncompressed point
 *   (0x04 ‖ X ‖ Y, 65 bytes, RFC 8422 §5.4.1 — the only format RFC 8422 §5.1.2 leaves in use), the
 *   premaster secret is the X coordinate of the shared point (32 bytes);
 * - ECDSA with SHA-256 whose signatures are DER `Ecdsa-Sig-Value` SEQUENCE{r,s} (RFC 8422 §5.4),
 *   the form TLS puts on the wire;
 * - loading keys: PEM or DER, PKCS#8 or SEC1 ("EC PRIVATE KEY", RFC 5915) private keys and
 *   SubjectPublicKeyInfo (RFC 5480) public keys, each checked to be on P-256.
 *
 * The primitives do the work only; the message helpers at the end take the association's
 * HandshakeCrypto (crypto/provider.ts), whose metered form reports each operation to the meter.
 */
import {
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  type ECDH,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import { LruCache } from '../lru.ts';
import { encodeCertificateVerify, parseCertificateVerify } from '../wire/certificate-verify.ts';
import { encodeClientKeyExchangeEcdhe, parseClientKeyExchangeEcdhe } from '../wire/client-key-exchange-ecdhe.ts';
import { ECDSA_SHA256, isEcdsaSha256 } from '../wire/extensions-ecc.ts';
import {
  encodeServerECDHParams,
  encodeServerKeyExchangeEcdhe,
  parseServerKeyExchangeEcdhe,
  serverKeyExchangeSignedBlob,
} from '../wire/server-key-exchange-ecdhe.ts';
import { nativeP256 } from './native-p256.ts';

/** NamedCurve secp256r1 in the IANA "TLS Supported Groups" registry (RFC 8422 §5.1.1). */
export const NAMED_CURVE_SECP256R1 = 23;
/** OpenSSL's (and Node's) name for P-256. */
const NODE_CURVE = 'prime256v1';
/** Uncompressed P-256 point: 0x04 ‖ X(32) ‖ Y(32). */
export const P256_POINT_LENGTH = 65;
/** The ECDH premaster secret is the 32-byte X coordinate (RFC 8422 §5.10). */
export const P256_SECRET_LENGTH = 32;

/** An ephemeral ECDHE key pair; `publicPoint` is what goes into ServerKeyExchange/ClientKeyExchange. */
export interface EcdhKeyPair {
  /** Uncompressed point, 65 bytes. */
  readonly publicPoint: Buffer;
  /**
   * The X coordinate of the shared point with `peerPoint` (65 bytes, 0x04…), or undefined when
   * that is not a point of P-256. Use {@link ecdhSharedSecret}, which checks the form and alerts.
   */
  agree(peerPoint: Buffer): Buffer | undefined;
}

/**
 * A fresh P-256 scalar and its uncompressed point: native/p256.c where built (~13 µs against ~45 µs
 * for createECDH, whose every instance builds the curve's group afresh), else node:crypto. The
 * scalar has memory of its own, not a slice of Node's shared Buffer pool. EDHOC uses it too.
 */
export function p256KeyPair(): { scalar: Buffer; publicPoint: Buffer } {
  if (nativeP256) {
    const scalar = Buffer.allocUnsafeSlow(P256_SECRET_LENGTH);
    const publicPoint = Buffer.allocUnsafe(P256_POINT_LENGTH);
    nativeP256.p256Keygen(scalar, publicPoint);
    return { scalar, publicPoint };
  }
  const ecdh = createECDH(NODE_CURVE);
  const publicPoint = ecdh.generateKeys();
  return { scalar: ecdh.getPrivateKey(), publicPoint };
}

/**
 * The X coordinate of scalar · point, where `point` is uncompressed (65 bytes, 0x04…) or X alone
 * with a sign (33 bytes, 0x02 or 0x03: EDHOC's keys); undefined when it is not a point of P-256.
 * Native (~41 µs) where built, else createECDH (~90 µs plus setting the scalar).
 */
export function p256SharedX(scalar: Buffer, point: Buffer): Buffer | undefined {
  if (nativeP256) {
    const secret = Buffer.allocUnsafeSlow(P256_SECRET_LENGTH);
    return nativeP256.p256Agree(scalar, point, secret) ? secret : undefined;
  }
  try {
    const ecdh = createECDH(NODE_CURVE);
    ecdh.setPrivateKey(scalar);
    return ecdh.computeSecret(point);
  } catch {
    return undefined; // not on the curve
  }
}

/** A key pair held as its scalar: the native path's form. */
class ScalarKeyPair implements EcdhKeyPair {
  constructor(
    private readonly scalar: Buffer,
    readonly publicPoint: Buffer,
  ) {}

  agree(peerPoint: Buffer): Buffer | undefined {
    return p256SharedX(this.scalar, peerPoint);
  }
}

/**
 * A key pair held as node:crypto's ECDH object, where the native module is not built (or
 * SECURESENSE_P256=js): it agrees without setting its scalar again.
 */
class NodeEcdhKeyPair implements EcdhKeyPair {
  constructor(
    private readonly ecdh: ECDH,
    readonly publicPoint: Buffer,
  ) {}

  agree(peerPoint: Buffer): Buffer | undefined {
    try {
      return this.ecdh.computeSecret(peerPoint);
    } catch {
      return undefined; // not on the curve
    }
  }
}

/** A fresh ephemeral P-256 key pair (one `ecdh_keygen`). */
export function generateEcdhKeyPair(): EcdhKeyPair {
  if (nativeP256) {
    const { scalar, publicPoint } = p256KeyPair();
    return new ScalarKeyPair(scalar, publicPoint);
  }
  const ecdh = createECDH(NODE_CURVE);
  return new NodeEcdhKeyPair(ecdh, ecdh.generateKeys());
}

/**
 * An ECDH key pair from a known 32-byte private scalar: for test vectors and replayed transcripts,
 * never for live handshakes (those use {@link generateEcdhKeyPair}).
 */
export function ecdhKeyPairFromPrivate(d: Buffer): EcdhKeyPair {
  const ecdh = createECDH(NODE_CURVE);
  ecdh.setPrivateKey(d); // refuses a scalar outside [1, n)
  if (nativeP256) return new ScalarKeyPair(Buffer.from(d), ecdh.getPublicKey());
  return new NodeEcdhKeyPair(ecdh, ecdh.getPublicKey());
}

/**
 * The ECDH premaster secret with the peer's uncompressed point (one `ecdh_agree`). A point that is
 * not 65 bytes starting 0x04, or not on the curve, is refused with `illegal_parameter`
 * (RFC 8422 §5.4: compressed points are no longer used; RFC 5246 §7.2.2 for the alert).
 */
export function ecdhSharedSecret(own: EcdhKeyPair, peerPoint: Buffer): Buffer {
  if (peerPoint.length !== P256_POINT_LENGTH || peerPoint[0] !== 0x04) {
    throw new DtlsAlertError(
      AlertDescription.illegal_parameter,
      `peer ECDH point must be an uncompressed P-256 point (65 bytes, 0x04…), got ${peerPoint.length} bytes`,
    );
  }
  const secret = own.agree(peerPoint);
  if (!secret) throw new DtlsAlertError(AlertDescription.illegal_parameter, 'peer ECDH point is not on P-256');
  return secret;
}

/** ECDSA-SHA256 over `data`, DER-encoded signature (one `ecdsa_sign`). */
export function ecdsaSign(key: KeyObject, data: Buffer): Buffer {
  assertP256(key, 'signing key');
  // The KeyObject itself, not `{ key, dsaEncoding: 'der' }` (DER is the default): node:crypto
  // tries an options object as a KeyObject and as a CryptoKey first, each a caught exception,
  // which cost ~10 µs per signature on Node 24 (a third of the signature itself).
  return sign('sha256', data, key);
}

/**
 * Verifies a DER ECDSA-SHA256 signature (one `ecdsa_verify`). Returns false for a wrong or
 * malformed signature rather than throwing: the caller decides the alert (`decrypt_error` for
 * CertificateVerify and ServerKeyExchange, RFC 5246 §7.2.2).
 */
export function ecdsaVerify(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    // The KeyObject itself (DER is the default encoding): see ecdsaSign.
    return verify('sha256', data, key, signature);
  } catch {
    return false;
  }
}

/**
 * KeyObjects already found to be on P-256. A KeyObject is immutable, and reading
 * `asymmetricKeyDetails` builds a fresh object each time: signing keys are checked on every
 * signature, so the answer is remembered (weakly: the set keeps no key alive).
 */
const P256_KEYS = new WeakSet<KeyObject>();

/** True when `key` (public or private) is an EC key on P-256. */
export function isP256(key: KeyObject): boolean {
  if (P256_KEYS.has(key)) return true;
  const ok = key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === NODE_CURVE;
  if (ok) P256_KEYS.add(key);
  return ok;
}

/** Throws `unsupported_certificate` unless `key` is on P-256 (the only curve this suite set uses, RFC 7251). */
export function assertP256(key: KeyObject, what = 'key'): void {
  if (!isP256(key)) {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    throw new DtlsAlertError(
      AlertDescription.unsupported_certificate,
      `${what} is ${key.asymmetricKeyType}${curve ? ` on ${curve}` : ''}, need EC on P-256 (secp256r1)`,
    );
  }
}

function isPem(input: Buffer | string): boolean {
  const head = typeof input === 'string' ? input : input.subarray(0, 64).toString('latin1');
  return head.includes('-----BEGIN ');
}

/**
 * Loads a P-256 private key from PEM (PKCS#8 "PRIVATE KEY" or SEC1 "EC PRIVATE KEY") or DER
 * (PKCS#8 tried first, then SEC1). Throws a plain Error for unreadable input (a configuration
 * problem, not a peer's) and for keys not on P-256.
 */
export function loadPrivateKey(input: Buffer | string): KeyObject {
  let key: KeyObject | undefined;
  if (isPem(input)) {
    try {
      key = createPrivateKey({ key: input, format: 'pem' });
    } catch (err) {
      throw new Error(`cannot read PEM private key: ${(err as Error).message}`);
    }
  } else {
    const der = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
    for (const type of ['pkcs8', 'sec1'] as const) {
      try {
        key = createPrivateKey({ key: der, format: 'der', type });
        break;
      } catch {
        // try the next encoding
      }
    }
    if (!key) throw new Error('cannot read DER private key: neither PKCS#8 nor SEC1');
  }
  if (!isP256(key)) throw new Error(`private key is ${key.asymmetricKeyType}, need EC on P-256`);
  return key;
}

/**
 * Loads a public key from a SubjectPublicKeyInfo in DER or PEM ("PUBLIC KEY"). Throws
 * `bad_certificate` when it cannot be parsed (it may come from a peer's RPK Certificate message,
 * RFC 7250 §3) and `unsupported_certificate` when it is not P-256.
 */
export function loadPublicKey(input: Buffer | string): KeyObject {
  let key: KeyObject;
  try {
    key = isPem(input)
      ? createPublicKey({ key: input, format: 'pem' })
      : createPublicKey({
          key: typeof input === 'string' ? Buffer.from(input, 'latin1') : input,
          format: 'der',
          type: 'spki',
        });
  } catch (err) {
    throw new DtlsAlertError(
      AlertDescription.bad_certificate,
      `cannot parse SubjectPublicKeyInfo: ${(err as Error).message}`,
    );
  }
  assertP256(key, 'public key');
  return key;
}

/** SPKI encodings already made, per (immutable) KeyObject; weak, so no key is kept alive by it. */
const SPKI_OF = new WeakMap<KeyObject, Buffer>();

/**
 * The DER SubjectPublicKeyInfo of a public key, or of the public half of a private key. Encoded
 * once per KeyObject (our own key's, a pinned key's); the caller gets its own copy.
 */
export function spkiDer(key: KeyObject): Buffer {
  let der = SPKI_OF.get(key);
  if (!der) {
    const pub = key.type === 'private' ? createPublicKey(key) : key;
    der = pub.export({ type: 'spki', format: 'der' });
    SPKI_OF.set(key, der);
  }
  return Buffer.from(der);
}

/** A peer's raw public key, parsed: the key, its canonical DER re-encoding and that encoding's SHA-256. */
export interface ParsedSpki {
  readonly key: KeyObject;
  /** The canonical DER SubjectPublicKeyInfo (a non-minimal encoding of the same key maps to this). */
  readonly spki: Buffer;
  /** Lower-case hex SHA-256 of `spki`. */
  readonly fingerprint: string;
}

/**
 * Peers' raw public keys by the exact bytes they sent, most recently used kept. Parsing an SPKI
 * into a KeyObject and re-encoding it was about a third of an RPK handshake's CPU time, and a
 * device sends the same key at every handshake. Only the parse is cached — a pure function of the
 * bytes, so a hit cannot differ from a fresh parse; whether the key is trusted and whether its
 * signatures verify is decided afresh every handshake. Bounded, so a peer cycling through keys
 * costs at most SPKI_CACHE_SIZE entries.
 */
export const SPKI_CACHE_SIZE = 512;
const SPKI_CACHE = new LruCache<string, ParsedSpki>(SPKI_CACHE_SIZE);

/** {@link loadPublicKey} for DER SPKI bytes, with the canonical encoding and fingerprint; cached (see above). Errors are not cached. */
export function parseSpki(der: Buffer): ParsedSpki {
  const cacheKey = der.toString('latin1');
  const hit = SPKI_CACHE.get(cacheKey);
  if (hit) return hit;
  const key = loadPublicKey(der); // bad_certificate / unsupported_certificate
  const spki = key.export({ type: 'spki', format: 'der' });
  const parsed: ParsedSpki = { key, spki, fingerprint: sha256Hex(spki) };
  SPKI_OF.set(key, spki);
  SPKI_CACHE.set(cacheKey, parsed);
  return parsed;
}

/** Lower-case hex SHA-256 of a DER blob (SPKI or certificate): the fingerprints in PeerIdentity. */
export function sha256Hex(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// The ECDHE_ECDSA key exchange, message by message (RFC 8422 §5.4, §5.7, §5.10; RFC 5246 §7.4.8):
// each helper builds or checks one handshake body with the codecs of wire/, so that the handshake
// state machines only move bytes and state. `crypto` is the association's provider (metered when
// the association has a meter); without one the primitives run as they are.

/**
 * The handshake message an operation is charged to (the meter's `context`): the message being
 * prepared or processed when the operation runs.
 */
export type EccContext = 'server_hello' | 'server_key_exchange' | 'client_key_exchange' | 'certificate_verify';

/**
 * What the message helpers below need of the association's provider: the part of HandshakeCrypto
 * (crypto/provider.ts, which extends this) that does P-256 work. Declared here so that this module
 * does not import the provider, which imports it.
 */
export interface EcdheCrypto {
  /** A fresh ephemeral P-256 key pair. */
  ecdhKeygen(context: EccContext): EcdhKeyPair;
  /** The ECDH premaster secret with the peer's point (`illegal_parameter` for a bad point). */
  ecdhAgree(own: EcdhKeyPair, peerPoint: Buffer, context: EccContext): Buffer;
  ecdsaSign(key: KeyObject, data: Buffer, context: EccContext): Buffer;
  /** False for a wrong or malformed signature. */
  ecdsaVerify(key: KeyObject, data: Buffer, signature: Buffer, context: EccContext): boolean;
}

const keygen = (crypto: EcdheCrypto | undefined, context: EccContext) =>
  crypto ? crypto.ecdhKeygen(context) : generateEcdhKeyPair();
const agree = (crypto: EcdheCrypto | undefined, own: EcdhKeyPair, point: Buffer, context: EccContext) =>
  crypto ? crypto.ecdhAgree(own, point, context) : ecdhSharedSecret(own, point);
const signWith = (crypto: EcdheCrypto | undefined, key: KeyObject, data: Buffer, context: EccContext) =>
  crypto ? crypto.ecdsaSign(key, data, context) : ecdsaSign(key, data);
const verifyWith = (crypto: EcdheCrypto | undefined, key: KeyObject, data: Buffer, sig: Buffer, context: EccContext) =>
  crypto ? crypto.ecdsaVerify(key, data, sig, context) : ecdsaVerify(key, data, sig);

/** The server's ServerKeyExchange: a fresh ephemeral key on secp256r1 and its params signed with `signingKey`. */
export function makeServerKeyExchange(
  signingKey: KeyObject,
  clientRandom: Buffer,
  serverRandom: Buffer,
  crypto?: EcdheCrypto,
): { ephemeral: EcdhKeyPair; body: Buffer } {
  const ephemeral = keygen(crypto, 'server_key_exchange');
  const params = { namedCurve: NAMED_CURVE_SECP256R1, publicPoint: ephemeral.publicPoint };
  const blob = serverKeyExchangeSignedBlob(clientRandom, serverRandom, encodeServerECDHParams(params));
  const signature = signWith(crypto, signingKey, blob, 'server_key_exchange');
  return { ephemeral, body: encodeServerKeyExchangeEcdhe({ params, algorithm: ECDSA_SHA256, signature }) };
}

/**
 * The client's check of ServerKeyExchange against the key from the server's Certificate. Another
 * curve or signature algorithm than offered is `illegal_parameter` (RFC 8422 §5.4, RFC 5246
 * §7.4.3); a signature that does not verify is `decrypt_error` (RFC 5246 §7.2.2). Returns the
 * server's ephemeral point.
 */
export function checkServerKeyExchange(
  body: Buffer,
  serverPublicKey: KeyObject,
  clientRandom: Buffer,
  serverRandom: Buffer,
  crypto?: EcdheCrypto,
): { serverPoint: Buffer } {
  const m = parseServerKeyExchangeEcdhe(body);
  if (m.params.namedCurve !== NAMED_CURVE_SECP256R1) {
    throw new DtlsAlertError(
      AlertDescription.illegal_parameter,
      `server chose curve ${m.params.namedCurve}, we offered secp256r1 only`,
    );
  }
  if (!isEcdsaSha256(m.algorithm)) {
    throw new DtlsAlertError(
      AlertDescription.illegal_parameter,
      `ServerKeyExchange signed with ${m.algorithm.hash}/${m.algorithm.signature}, we offered ecdsa_secp256r1_sha256 only`,
    );
  }
  const blob = serverKeyExchangeSignedBlob(clientRandom, serverRandom, m.paramsBytes);
  if (!verifyWith(crypto, serverPublicKey, blob, m.signature, 'server_key_exchange')) {
    throw new DtlsAlertError(AlertDescription.decrypt_error, 'ServerKeyExchange signature does not verify');
  }
  return { serverPoint: m.params.publicPoint };
}

/** The client's ClientKeyExchange and premaster secret, from the server's ephemeral point. */
export function makeClientKeyExchange(
  serverPoint: Buffer,
  crypto?: EcdheCrypto,
): { body: Buffer; premasterSecret: Buffer } {
  const ephemeral = keygen(crypto, 'client_key_exchange');
  const premasterSecret = agree(crypto, ephemeral, serverPoint, 'client_key_exchange');
  return { body: encodeClientKeyExchangeEcdhe({ publicPoint: ephemeral.publicPoint }), premasterSecret };
}

/** The server's premaster secret from the client's ClientKeyExchange (`illegal_parameter` for a bad point). */
export function premasterFromClientKeyExchange(body: Buffer, ephemeral: EcdhKeyPair, crypto?: EcdheCrypto): Buffer {
  const { publicPoint } = parseClientKeyExchangeEcdhe(body);
  return agree(crypto, ephemeral, publicPoint, 'client_key_exchange');
}

/**
 * CertificateVerify over `handshakeMessages` — every handshake message from ClientHello up to,
 * not including, this one, concatenated as the transcript holds them (RFC 5246 §7.4.8).
 */
export function makeCertificateVerify(signingKey: KeyObject, handshakeMessages: Buffer, crypto?: EcdheCrypto): Buffer {
  const signature = signWith(crypto, signingKey, handshakeMessages, 'certificate_verify');
  return encodeCertificateVerify({ algorithm: ECDSA_SHA256, signature });
}

/** The server's check of CertificateVerify: `illegal_parameter` for another algorithm, `decrypt_error` for a bad signature. */
export function checkCertificateVerify(
  body: Buffer,
  clientPublicKey: KeyObject,
  handshakeMessages: Buffer,
  crypto?: EcdheCrypto,
): void {
  const m = parseCertificateVerify(body);
  if (!isEcdsaSha256(m.algorithm)) {
    throw new DtlsAlertError(
      AlertDescription.illegal_parameter,
      `CertificateVerify signed with ${m.algorithm.hash}/${m.algorithm.signature}, we asked for ecdsa_secp256r1_sha256`,
    );
  }
  if (!verifyWith(crypto, clientPublicKey, handshakeMessages, m.signature, 'certificate_verify')) {
    throw new DtlsAlertError(AlertDescription.decrypt_error, 'CertificateVerify signature does not verify');
  }
}

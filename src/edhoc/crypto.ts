/**
 * The primitives EDHOC needs, over node:crypto: ECDH on X25519 and P-256 with EDHOC's compact
 * public keys (RFC 9528 §3.7: the 32-byte u-coordinate, or the P-256 x-coordinate alone — the
 * shared secret does not depend on the sign of y), EdDSA and ES256 signatures (COSE form: raw
 * r ‖ s for ES256), AES-CCM-16-64-128, SHA-256 and HKDF (RFC 5869) Extract/Expand.
 */
import {
  createECDH,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { p256KeyPair, p256SharedX } from '../dtls/crypto/ecc.ts';
import { EdhocError } from './errors.ts';
import type { EdhocCurve, EdhocSignature } from './suites.ts';

const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const COMPRESSED_EVEN = Buffer.from([0x02]);

/** A Diffie-Hellman key pair: the private scalar and the compact public key EDHOC sends. */
export interface DhKeyPair {
  readonly curve: EdhocCurve;
  readonly privateKey: Buffer;
  readonly publicKey: Buffer;
}

function x25519Private(d: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8, d]), format: 'der', type: 'pkcs8' });
}

/** A key pair from its private scalar (how the RFC 9529 traces give their ephemeral and static keys). */
export function dhKeyPairFromPrivate(curve: EdhocCurve, privateKey: Buffer): DhKeyPair {
  if (privateKey.length !== 32) throw new EdhocError(`${curve} private key must be 32 bytes`);
  if (curve === 'P-256') {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(privateKey);
    return { curve, privateKey, publicKey: ecdh.getPublicKey().subarray(1, 33) };
  }
  const spki = createPublicKey(x25519Private(privateKey)).export({ format: 'der', type: 'spki' });
  return { curve, privateKey, publicKey: Buffer.from(spki.subarray(X25519_SPKI.length)) };
}

export function generateDhKeyPair(curve: EdhocCurve): DhKeyPair {
  if (curve === 'P-256') {
    // The DTLS handshakes' P-256 (native/p256.c where built): EDHOC sends the point's X alone.
    const { scalar, publicPoint } = p256KeyPair();
    return { curve, privateKey: scalar, publicKey: Buffer.from(publicPoint.subarray(1, 33)) };
  }
  const { privateKey } = generateKeyPairSync('x25519');
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  return dhKeyPairFromPrivate(curve, Buffer.from(pkcs8.subarray(X25519_PKCS8.length)));
}

/** ECDH: the shared secret (32 bytes) from our private scalar and the peer's compact public key. */
export function dh(curve: EdhocCurve, privateKey: Buffer, peerPublic: Buffer): Buffer {
  if (peerPublic.length !== 32) throw new EdhocError(`${curve} public key must be 32 bytes, got ${peerPublic.length}`);
  let secret: Buffer;
  try {
    if (curve === 'P-256') {
      // Compressed form with an arbitrary sign: the x-coordinate of the shared point is the same.
      const x = p256SharedX(privateKey, Buffer.concat([COMPRESSED_EVEN, peerPublic]));
      if (!x) throw new Error('not a point of P-256');
      secret = x;
    } else {
      const pub = createPublicKey({ key: Buffer.concat([X25519_SPKI, peerPublic]), format: 'der', type: 'spki' });
      secret = diffieHellman({ privateKey: x25519Private(privateKey), publicKey: pub });
    }
  } catch (e) {
    throw new EdhocError(`invalid ${curve} public key: ${(e as Error).message}`);
  }
  if (secret.every((b) => b === 0)) throw new EdhocError(`${curve} shared secret is all zero`);
  return secret;
}

/** An Ed25519 private key from its 32-byte seed (RFC 8032), as the traces give SK_I/SK_R. */
export function ed25519PrivateKey(seed: Buffer): KeyObject {
  if (seed.length !== 32) throw new EdhocError('Ed25519 seed must be 32 bytes');
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, seed]), format: 'der', type: 'pkcs8' });
}

export function ed25519PublicKey(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new EdhocError('Ed25519 public key must be 32 bytes');
  return createPublicKey({ key: Buffer.concat([ED25519_SPKI, raw]), format: 'der', type: 'spki' });
}

/** A P-256 private key from its scalar. */
export function p256PrivateKey(d: Buffer): KeyObject {
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const pub = ecdh.getPublicKey();
  const b64 = (b: Buffer) => b.toString('base64url');
  return createPrivateKey({
    key: { kty: 'EC', crv: 'P-256', d: b64(d), x: b64(pub.subarray(1, 33)), y: b64(pub.subarray(33)) },
    format: 'jwk',
  });
}

/** A P-256 public key from its coordinates. */
export function p256PublicKey(x: Buffer, y: Buffer): KeyObject {
  try {
    if (x.length !== 32 || y.length !== 32) throw new EdhocError('P-256 coordinates must be 32 bytes');
    return createPublicKey({ key: jwk(x, y), format: 'jwk' });
  } catch (e) {
    throw new EdhocError(`invalid P-256 public key: ${(e as Error).message}`);
  }
}
function jwk(x: Buffer, y: Buffer) {
  return { kty: 'EC', crv: 'P-256', x: x.toString('base64url'), y: y.toString('base64url') };
}

/** The private scalar of a P-256 or X25519 key (for static DH keys given as KeyObjects). */
export function privateScalar(key: KeyObject): Buffer {
  const j = key.export({ format: 'jwk' });
  if (typeof j.d !== 'string') throw new EdhocError('not a private key');
  return Buffer.from(j.d, 'base64url');
}

export function signWith(alg: EdhocSignature, key: KeyObject, data: Buffer): Buffer {
  if (alg === 'EdDSA') return sign(null, data, key);
  return sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
}

export function verifyWith(alg: EdhocSignature, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    if (alg === 'EdDSA') return signature.length === 64 && verify(null, data, key, signature);
    return signature.length === 64 && verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

export function hash(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** HKDF-Extract (RFC 5869 §2.2) with SHA-256. */
export function hkdfExtract(salt: Buffer, ikm: Buffer): Buffer {
  return createHmac('sha256', salt).update(ikm).digest();
}

/** HKDF-Expand (RFC 5869 §2.3) with SHA-256; the info is EDHOC's CBOR `info` structure. */
export function hkdfExpand(prk: Buffer, info: Buffer, length: number): Buffer {
  if (length > 255 * 32) throw new EdhocError(`HKDF-Expand length ${length} too large`);
  const out: Buffer[] = [];
  let t = Buffer.alloc(0);
  let total = 0;
  for (let i = 1; total < length; i++) {
    t = createHmac('sha256', prk)
      .update(Buffer.concat([t, info, Buffer.from([i])]))
      .digest();
    out.push(t);
    total += t.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/**
 * AES-CCM-16-64-128 (COSE alg 10): ciphertext ‖ 8-byte tag, under a 13-byte nonce. The DTLS
 * record layer's CCM-8 primitive is the same algorithm with any nonce length, so EDHOC uses it.
 */
export { ccm8Decrypt as aeadDecrypt, ccm8Encrypt as aeadEncrypt } from '../dtls/crypto/ccm.ts';

/**
 * The handshake's crypto, behind one object per association: the PRF calls (master secret, key
 * block, verify_data), the P-256 operations and the check of a peer's certificate chain. The
 * handshake asks it for what it needs by name; it never passes a meter, a message name for the
 * meter or a purpose down through the primitives.
 *
 * {@link PLAIN_CRYPTO} does the work and nothing else: one shared, stateless object, so an
 * association without a meter costs no allocation for it. {@link MeteredCrypto} decorates any
 * provider with the research meter (meter.ts): it reports each operation with the handshake
 * message it is charged to and its purpose, exactly as the primitives used to.
 */
import type { KeyObject } from 'node:crypto';
import type { PeerIdentity } from '../credentials/identity.ts';
import { type PeerCertificateContext, type PeerTrust, verifyPeerCertificate } from '../credentials/keys.ts';
import type { CryptoOp, CryptoPurpose, DtlsMeter } from '../meter.ts';
import type { CertificateMessage } from '../wire/certificate.ts';
import {
  type EccContext,
  type EcdheCrypto,
  type EcdhKeyPair,
  ecdhSharedSecret,
  ecdsaSign,
  ecdsaVerify,
  generateEcdhKeyPair,
} from './ecc.ts';
import {
  extendedMasterSecret,
  type KeyBlock,
  keyBlock,
  MASTER_SECRET_LENGTH,
  masterSecret,
  type SuiteKeyLengths,
  verifyData,
} from './keys.ts';
import { prfHmacCount } from './prf.ts';

/**
 * The handshake message an operation is charged to (the meter's `context`): the message being
 * prepared or processed when the operation runs.
 */
export type CryptoContext = EccContext;

export type FinishedLabel = 'client finished' | 'server finished';

export interface HandshakeCrypto extends EcdheCrypto {
  /** PRF(pre_master_secret, "master secret", randoms), RFC 5246 §8.1; charged to the ClientKeyExchange. */
  masterSecret(premaster: Buffer, clientRandom: Buffer, serverRandom: Buffer): Buffer;
  /** PRF(pre_master_secret, "extended master secret", session_hash), RFC 7627 §4; charged to the ClientKeyExchange. */
  extendedMasterSecret(premaster: Buffer, sessionHash: Buffer): Buffer;
  /** The key block (RFC 5246 §6.3), charged to the ClientKeyExchange, or the ServerHello on resumption. */
  keyBlock(
    suite: SuiteKeyLengths,
    master: Buffer,
    clientRandom: Buffer,
    serverRandom: Buffer,
    context: 'client_key_exchange' | 'server_hello',
  ): KeyBlock;
  /** verify_data of a Finished (RFC 5246 §7.4.9). */
  verifyData(master: Buffer, label: FinishedLabel, handshakeHash: Buffer): Buffer;
  /** A fresh ephemeral P-256 key pair. */
  ecdhKeygen(context: CryptoContext): EcdhKeyPair;
  /** The ECDH premaster secret with the peer's point (`illegal_parameter` for a bad point). */
  ecdhAgree(own: EcdhKeyPair, peerPoint: Buffer, context: CryptoContext): Buffer;
  ecdsaSign(key: KeyObject, data: Buffer, context: CryptoContext): Buffer;
  /** False for a wrong or malformed signature. */
  ecdsaVerify(key: KeyObject, data: Buffer, signature: Buffer, context: CryptoContext): boolean;
  /** The peer's Certificate message against our trust (the chain's signature checks are this provider's too). */
  verifyPeerCertificate(
    msg: CertificateMessage,
    trust: PeerTrust | undefined,
    ctx: Omit<PeerCertificateContext, 'meter'>,
  ): Promise<{ identity: PeerIdentity; publicKey: KeyObject }>;
}

/** The provider that does the work and reports nothing. */
export const PLAIN_CRYPTO: HandshakeCrypto = {
  masterSecret,
  extendedMasterSecret,
  keyBlock: (suite, master, clientRandom, serverRandom) => keyBlock(suite, master, clientRandom, serverRandom),
  verifyData,
  ecdhKeygen: () => generateEcdhKeyPair(),
  ecdhAgree: (own, peerPoint) => ecdhSharedSecret(own, peerPoint),
  ecdsaSign: (key, data) => ecdsaSign(key, data),
  ecdsaVerify: (key, data, signature) => ecdsaVerify(key, data, signature),
  verifyPeerCertificate: (msg, trust, ctx) => verifyPeerCertificate(msg, trust, ctx),
};

/**
 * {@link HandshakeCrypto} with every operation reported to a {@link DtlsMeter}: a PRF call as one
 * `prf` and its HMACs (two per 32 bytes of output, RFC 5246 §5), each P-256 operation once, each
 * signature of the peer's certificate chain (context `certificate`). The counts, contexts and
 * purposes are those the device model replays; an operation that throws is reported as the
 * primitives always did (a signature check before it runs, a key agreement only when it succeeds).
 */
export class MeteredCrypto implements HandshakeCrypto {
  constructor(
    private readonly meter: DtlsMeter,
    private readonly inner: HandshakeCrypto = PLAIN_CRYPTO,
  ) {}

  private prf(length: number, context: string, purpose: CryptoPurpose): void {
    this.meter.crypto('prf', 1, context, purpose);
    this.meter.crypto('hmac', prfHmacCount(length), context, purpose);
  }

  private op(op: CryptoOp, context: CryptoContext): void {
    this.meter.crypto(op, 1, context);
  }

  masterSecret(premaster: Buffer, clientRandom: Buffer, serverRandom: Buffer): Buffer {
    const ms = this.inner.masterSecret(premaster, clientRandom, serverRandom);
    this.prf(MASTER_SECRET_LENGTH, 'client_key_exchange', 'master_secret');
    return ms;
  }

  extendedMasterSecret(premaster: Buffer, sessionHash: Buffer): Buffer {
    const ms = this.inner.extendedMasterSecret(premaster, sessionHash);
    this.prf(MASTER_SECRET_LENGTH, 'client_key_exchange', 'master_secret');
    return ms;
  }

  keyBlock(
    suite: SuiteKeyLengths,
    master: Buffer,
    clientRandom: Buffer,
    serverRandom: Buffer,
    context: 'client_key_exchange' | 'server_hello',
  ): KeyBlock {
    const kb = this.inner.keyBlock(suite, master, clientRandom, serverRandom, context);
    this.prf(2 * (suite.macKeyLength + suite.encKeyLength + suite.fixedIvLength), context, 'key_block');
    return kb;
  }

  verifyData(master: Buffer, label: FinishedLabel, handshakeHash: Buffer): Buffer {
    const v = this.inner.verifyData(master, label, handshakeHash);
    this.prf(v.length, 'finished', 'finished');
    return v;
  }

  ecdhKeygen(context: CryptoContext): EcdhKeyPair {
    const pair = this.inner.ecdhKeygen(context);
    this.op('ecdh_keygen', context);
    return pair;
  }

  ecdhAgree(own: EcdhKeyPair, peerPoint: Buffer, context: CryptoContext): Buffer {
    const secret = this.inner.ecdhAgree(own, peerPoint, context);
    this.op('ecdh_agree', context);
    return secret;
  }

  ecdsaSign(key: KeyObject, data: Buffer, context: CryptoContext): Buffer {
    const sig = this.inner.ecdsaSign(key, data, context);
    this.op('ecdsa_sign', context);
    return sig;
  }

  ecdsaVerify(key: KeyObject, data: Buffer, signature: Buffer, context: CryptoContext): boolean {
    this.op('ecdsa_verify', context);
    return this.inner.ecdsaVerify(key, data, signature, context);
  }

  verifyPeerCertificate(
    msg: CertificateMessage,
    trust: PeerTrust | undefined,
    ctx: Omit<PeerCertificateContext, 'meter'>,
  ): Promise<{ identity: PeerIdentity; publicKey: KeyObject }> {
    // The chain's signatures are checked deep inside x509.ts; the meter rides along in its context.
    return verifyPeerCertificate(msg, trust, { ...ctx, meter: this.meter });
  }
}

/** The provider of one association: the plain one, or the plain one metered. */
export function handshakeCrypto(meter: DtlsMeter | undefined): HandshakeCrypto {
  return meter ? new MeteredCrypto(meter) : PLAIN_CRYPTO;
}

/**
 * The EDHOC Initiator as a state machine (RFC 9528 §5): start → (message_1 sent) wait-message-2 →
 * (message_3 sent) wait-message-4 or completed. Each step takes the peer's bytes and returns ours;
 * transport, retries and timeouts belong to the caller. Any failure moves to `failed` and throws an
 * EdhocError (ours) or EdhocPeerError (the Responder's error message).
 */

import { checkSignatureOrMac, initiatorSigns, makeSignatureOrMac, type OwnAuthKey, responderSigns } from './auth.ts';
import { type CredentialResolver, describeIdCred, dhPublicKey, type EdhocCredential } from './credentials.ts';
import { aeadDecrypt, aeadEncrypt, type DhKeyPair, dh, generateDhKeyPair } from './crypto.ts';
import { acceptEad } from './ead.ts';
import { EdhocError, EdhocPeerError, ErrCode } from './errors.ts';
import {
  aeadKeys,
  edhocKdf,
  encStructure,
  KdfLabel,
  nextTh,
  prk2e,
  prk3e2m,
  prk4e3m,
  prkOut,
  th2,
} from './key-schedule.ts';
import {
  type ConnectionId,
  decodeCiphertextMessage,
  decodeError,
  decodeMessage2,
  decodePlaintext2,
  decodePlaintext4,
  type EadItem,
  encodeCiphertextMessage,
  encodeConnectionId,
  encodeEad,
  encodeMessage1,
  encodePlaintext3,
  looksLikeError,
} from './messages.ts';
import { EdhocParty, xor } from './party.ts';
import { EdhocSession } from './session.ts';
import { type EdhocSuite, suiteById } from './suites.ts';

export interface InitiatorOptions {
  /** 0..3 (RFC 9528 §3.2); must fit our key (signature for 0/1, static DH for 2/3). */
  readonly method: number;
  /** SUITES_I in order of preference; the last is the selected one. */
  readonly suites: readonly number[];
  /** C_I: our connection identifier, which becomes our OSCORE Recipient ID. */
  readonly connectionId: ConnectionId;
  readonly credential: EdhocCredential;
  readonly authKey: OwnAuthKey;
  /** Resolves the Responder's ID_CRED_R to its credential. */
  readonly peers: CredentialResolver;
  readonly ead1?: readonly EadItem[];
  readonly ead3?: readonly EadItem[];
  /** EAD labels the application handles: a critical item with another label aborts (RFC 9528 §3.8). */
  readonly eadLabels?: readonly number[];
  /** Injected ephemeral key (test vectors only); otherwise a fresh one per session. */
  readonly ephemeral?: DhKeyPair;
  /** Keep intermediate values in `trace` (tests only). */
  readonly trace?: boolean;
}

export type InitiatorState = 'start' | 'wait-message-2' | 'wait-message-4' | 'completed' | 'failed';

export class EdhocInitiator extends EdhocParty<InitiatorState> {
  private readonly suite: EdhocSuite;
  private readonly eph: DhKeyPair;
  private message1Bytes: Buffer = Buffer.alloc(0);
  private th4Value?: Buffer;
  private prk4e3mValue?: Buffer;

  constructor(private readonly opts: InitiatorOptions) {
    super('Initiator', opts.trace === true);
    if (opts.method < 0 || opts.method > 3) throw new EdhocError(`unknown method ${opts.method}`);
    const selected = opts.suites.at(-1);
    const suite = selected === undefined ? undefined : suiteById(selected);
    if (!suite) throw new EdhocError(`selected cipher suite ${String(selected)} is not supported here`);
    this.suite = suite;
    const wantSig = initiatorSigns(opts.method);
    if (wantSig !== (opts.authKey.kind === 'signature')) {
      throw new EdhocError(
        `method ${opts.method} needs a ${wantSig ? 'signature' : 'static DH'} key for the Initiator`,
      );
    }
    this.eph = opts.ephemeral ?? generateDhKeyPair(suite.curve);
  }

  message1(): Buffer {
    this.expect('start');
    this.message1Bytes = encodeMessage1({
      method: this.opts.method,
      suites: this.opts.suites,
      gX: this.eph.publicKey,
      cI: this.opts.connectionId,
      ead: this.opts.ead1 ?? [],
    });
    this.stateValue = 'wait-message-2';
    return this.message1Bytes;
  }

  /** Processes message_2 (or an error message) and returns message_3. */
  handleMessage2(msg: Buffer): Buffer {
    this.expect('wait-message-2');
    return this.guard(() => {
      this.peerError(msg);
      const s = this.suite;
      const { gY, ciphertext2 } = decodeMessage2(msg, s.publicKeyLength);
      const th2Value = th2(gY, this.message1Bytes);
      const gXY = dh(s.curve, this.eph.privateKey, gY);
      const prk2eValue = prk2e(th2Value, gXY);
      const keystream = edhocKdf(prk2eValue, KdfLabel.keystream2, th2Value, ciphertext2.length);
      const plaintext2 = xor(ciphertext2, keystream);
      const p2 = decodePlaintext2(plaintext2);
      // Appendix A.1: C_R and C_I become the two OSCORE IDs, which must differ.
      if (p2.cR.equals(this.opts.connectionId)) throw new EdhocError('C_R equals our C_I');
      const peer = this.opts.peers(p2.idCredR);
      if (!peer)
        throw new EdhocError(`unknown Responder credential (${describeIdCred(p2.idCredR)})`, ErrCode.unknownCredential);
      const rSigns = responderSigns(this.opts.method);
      const gRX = rSigns ? undefined : dh(s.curve, this.eph.privateKey, dhPublicKey(peer.publicKey));
      const prk3e2mValue = prk3e2m(s, prk2eValue, th2Value, gRX);
      const ead2 = encodeEad(p2.ead);
      checkSignatureOrMac(
        s,
        {
          label: KdfLabel.mac2,
          prk: prk3e2mValue,
          cR: encodeConnectionId(p2.cR),
          credential: peer,
          th: th2Value,
          ead: ead2,
          signs: rSigns,
        },
        p2.signatureOrMac2,
        'Signature_or_MAC_2',
      );
      const th3Value = nextTh(th2Value, plaintext2, peer.cred);
      const iSigns = initiatorSigns(this.opts.method);
      const gIY =
        iSigns || this.opts.authKey.kind !== 'static-dh'
          ? undefined
          : dh(s.curve, this.opts.authKey.pair.privateKey, gY);
      const prk4e3mValue = prk4e3m(s, prk3e2mValue, th3Value, gIY);
      const ead3 = this.opts.ead3 ?? [];
      const sigOrMac3 = makeSignatureOrMac(
        s,
        {
          label: KdfLabel.mac3,
          prk: prk4e3mValue,
          cR: Buffer.alloc(0),
          credential: this.opts.credential,
          th: th3Value,
          ead: encodeEad(ead3),
          signs: iSigns,
        },
        this.opts.authKey,
      );
      const plaintext3 = encodePlaintext3({
        idCredI: this.opts.credential.idCred,
        signatureOrMac3: sigOrMac3,
        ead: ead3,
      });
      const k3 = aeadKeys(s, prk3e2mValue, th3Value, 3);
      const ciphertext3 = aeadEncrypt(k3.key, k3.iv, encStructure(th3Value), plaintext3);
      const th4Value = nextTh(th3Value, plaintext3, this.opts.credential.cred);
      this.record({
        th2: th2Value,
        gXY,
        prk2e: prk2eValue,
        keystream2: keystream,
        plaintext2,
        prk3e2m: prk3e2mValue,
        th3: th3Value,
        prk4e3m: prk4e3mValue,
        signatureOrMac3: sigOrMac3,
        plaintext3,
        k3: k3.key,
        iv3: k3.iv,
        ciphertext3,
        th4: th4Value,
      });
      this.th4Value = th4Value;
      this.prk4e3mValue = prk4e3mValue;
      this.sessionValue = new EdhocSession(
        'initiator',
        s,
        this.opts.method,
        prkOut(s, prk4e3mValue, th4Value),
        this.opts.connectionId,
        p2.cR,
        peer,
        acceptEad(p2.ead, this.opts.eadLabels, 'message_2'),
      );
      this.stateValue = 'wait-message-4';
      return encodeCiphertextMessage(ciphertext3);
    });
  }

  /** Processes message_4 (key confirmation); the session is then `completed`. */
  handleMessage4(msg: Buffer): EdhocSession {
    this.expect('wait-message-4');
    return this.guard(() => {
      this.peerError(msg);
      const s = this.suite;
      const th4Value = this.th4Value!;
      const ciphertext4 = decodeCiphertextMessage(msg, 'message_4', s.tagLength);
      const k4 = aeadKeys(s, this.prk4e3mValue!, th4Value, 4);
      const plaintext4 = aeadDecrypt(k4.key, k4.iv, encStructure(th4Value), ciphertext4);
      if (!plaintext4) throw new EdhocError('message_4 does not decrypt');
      const ead4 = acceptEad(decodePlaintext4(plaintext4), this.opts.eadLabels, 'message_4');
      const old = this.session;
      this.sessionValue = new EdhocSession('initiator', s, old.method, old.prkOut, old.cI, old.cR, old.peer, [
        ...old.peerEad,
        ...ead4,
      ]);
      this.stateValue = 'completed';
      return this.sessionValue;
    });
  }

  /** Without message_4 the session is complete once message_3 is sent (RFC 9528 §5.4.3). */
  complete(): EdhocSession {
    this.expect('wait-message-4');
    this.stateValue = 'completed';
    return this.session;
  }

  private peerError(msg: Buffer): void {
    if (!looksLikeError(msg)) return;
    const e = decodeError(msg);
    throw new EdhocPeerError(e.errCode, e.diagnostic, e.suitesR);
  }
}

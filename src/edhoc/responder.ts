/**
 * The EDHOC Responder as a state machine (RFC 9528 §5): start → (message_2 sent) wait-message-3 →
 * completed (message_4 returned when configured). Each step takes the Initiator's bytes and returns
 * ours; failures move to `failed` and throw an EdhocError that {@link errorMessageFor} turns into
 * the EDHOC error message to send (ERR_CODE 2 with SUITES_R for a wrong selected suite).
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
  decodeMessage1,
  decodePlaintext3,
  type EadItem,
  encodeCiphertextMessage,
  encodeConnectionId,
  encodeEad,
  encodeError,
  encodeMessage2,
  encodePlaintext2,
  looksLikeError,
  type Message1,
} from './messages.ts';
import { EdhocParty, xor } from './party.ts';
import { EdhocSession } from './session.ts';
import { type EdhocSuite, suiteById } from './suites.ts';

export interface ResponderOptions {
  /** The suites we support, in our order of preference (SUITES_R of an ERR_CODE 2). */
  readonly suites: readonly number[];
  /** C_R: our connection identifier, which becomes our OSCORE Recipient ID. */
  readonly connectionId: ConnectionId;
  readonly credential: EdhocCredential;
  /** A signature key serves methods 0 and 2, a static DH key methods 1 and 3. */
  readonly authKey: OwnAuthKey;
  readonly peers: CredentialResolver;
  readonly ead2?: readonly EadItem[];
  readonly ead4?: readonly EadItem[];
  /** EAD labels the application handles: a critical item with another label aborts (RFC 9528 §3.8). */
  readonly eadLabels?: readonly number[];
  /** Send message_4 after message_3 (key confirmation for the Initiator). Default false. */
  readonly sendMessage4?: boolean;
  /** Injected ephemeral key (test vectors only). */
  readonly ephemeral?: DhKeyPair;
  /** Keep intermediate values in `trace` (tests only). */
  readonly trace?: boolean;
}

export type ResponderState = 'start' | 'wait-message-3' | 'completed' | 'failed';

export class EdhocResponder extends EdhocParty<ResponderState> {
  private suite?: EdhocSuite;
  private m1?: Message1;
  private eph?: DhKeyPair;
  private ead1: EadItem[] = [];
  private th3Value: Buffer = Buffer.alloc(0);
  private prk3e2mValue: Buffer = Buffer.alloc(0);

  constructor(private readonly opts: ResponderOptions) {
    super('Responder', opts.trace === true);
  }

  /** C_I of the message_1 being answered (to key the exchange). */
  get peerConnectionId(): ConnectionId | undefined {
    return this.m1?.cI;
  }

  handleMessage1(msg: Buffer): Buffer {
    this.expect('start');
    return this.guard(() => {
      const m1 = decodeMessage1(msg);
      this.ead1 = acceptEad(m1.ead, this.opts.eadLabels, 'message_1');
      if (m1.method < 0 || m1.method > 3) throw new EdhocError(`unsupported method ${m1.method}`);
      const rSigns = responderSigns(m1.method);
      if (rSigns !== (this.opts.authKey.kind === 'signature')) {
        throw new EdhocError(`method ${m1.method} is not supported by this Responder's credential`);
      }
      const selected = m1.suites.at(-1)!;
      const suite = this.opts.suites.includes(selected) ? suiteById(selected) : undefined;
      // RFC 9528 §5.2.3: also refuse when a suite the Initiator prefers is one we support.
      const preferred = m1.suites.slice(0, -1).some((s) => this.opts.suites.includes(s) && suiteById(s));
      if (!suite || preferred) {
        throw new EdhocError(
          `selected cipher suite ${selected} refused`,
          ErrCode.wrongSelectedCipherSuite,
          this.opts.suites,
        );
      }
      if (m1.gX.length !== suite.publicKeyLength) throw new EdhocError(`G_X is ${m1.gX.length} bytes`);
      if (m1.cI.equals(this.opts.connectionId)) throw new EdhocError('C_I equals our C_R; retry with another C_I');
      this.suite = suite;
      this.m1 = m1;
      const eph = this.opts.ephemeral ?? generateDhKeyPair(suite.curve);
      this.eph = eph;
      const th2Value = th2(eph.publicKey, msg);
      const gXY = dh(suite.curve, eph.privateKey, m1.gX);
      const prk2eValue = prk2e(th2Value, gXY);
      const gRX =
        rSigns || this.opts.authKey.kind !== 'static-dh'
          ? undefined
          : dh(suite.curve, this.opts.authKey.pair.privateKey, m1.gX);
      const prk3e2mValue = prk3e2m(suite, prk2eValue, th2Value, gRX);
      const ead2 = this.opts.ead2 ?? [];
      const cR = this.opts.connectionId;
      const sigOrMac2 = makeSignatureOrMac(
        suite,
        {
          label: KdfLabel.mac2,
          prk: prk3e2mValue,
          cR: encodeConnectionId(cR),
          credential: this.opts.credential,
          th: th2Value,
          ead: encodeEad(ead2),
          signs: rSigns,
        },
        this.opts.authKey,
      );
      const plaintext2 = encodePlaintext2({
        cR,
        idCredR: this.opts.credential.idCred,
        signatureOrMac2: sigOrMac2,
        ead: ead2,
      });
      const keystream = edhocKdf(prk2eValue, KdfLabel.keystream2, th2Value, plaintext2.length);
      const ciphertext2 = xor(plaintext2, keystream);
      this.th3Value = nextTh(th2Value, plaintext2, this.opts.credential.cred);
      this.prk3e2mValue = prk3e2mValue;
      this.record({
        th2: th2Value,
        gXY,
        prk2e: prk2eValue,
        prk3e2m: prk3e2mValue,
        signatureOrMac2: sigOrMac2,
        plaintext2,
        keystream2: keystream,
        ciphertext2,
        th3: this.th3Value,
      });
      this.stateValue = 'wait-message-3';
      return encodeMessage2(eph.publicKey, ciphertext2);
    });
  }

  /** Processes message_3; returns message_4 when configured to send it, else undefined. */
  handleMessage3(msg: Buffer): Buffer | undefined {
    this.expect('wait-message-3');
    return this.guard(() => {
      if (looksLikeError(msg)) {
        const e = decodeError(msg);
        throw new EdhocPeerError(e.errCode, e.diagnostic, e.suitesR);
      }
      const s = this.suite!;
      const m1 = this.m1!;
      const th3Value = this.th3Value;
      const ciphertext3 = decodeCiphertextMessage(msg, 'message_3', s.tagLength);
      const k3 = aeadKeys(s, this.prk3e2mValue, th3Value, 3);
      const plaintext3 = aeadDecrypt(k3.key, k3.iv, encStructure(th3Value), ciphertext3);
      if (!plaintext3) throw new EdhocError('message_3 does not decrypt');
      const p3 = decodePlaintext3(plaintext3);
      const peer = this.opts.peers(p3.idCredI);
      if (!peer)
        throw new EdhocError(`unknown Initiator credential (${describeIdCred(p3.idCredI)})`, ErrCode.unknownCredential);
      const iSigns = initiatorSigns(m1.method);
      const gIY = iSigns ? undefined : dh(s.curve, this.eph!.privateKey, dhPublicKey(peer.publicKey));
      const prk4e3mValue = prk4e3m(s, this.prk3e2mValue, th3Value, gIY);
      checkSignatureOrMac(
        s,
        {
          label: KdfLabel.mac3,
          prk: prk4e3mValue,
          cR: Buffer.alloc(0),
          credential: peer,
          th: th3Value,
          ead: encodeEad(p3.ead),
          signs: iSigns,
        },
        p3.signatureOrMac3,
        'Signature_or_MAC_3',
      );
      const th4Value = nextTh(th3Value, plaintext3, peer.cred);
      this.record({ k3: k3.key, iv3: k3.iv, plaintext3, prk4e3m: prk4e3mValue, th4: th4Value });
      this.sessionValue = new EdhocSession(
        'responder',
        s,
        m1.method,
        prkOut(s, prk4e3mValue, th4Value),
        m1.cI,
        this.opts.connectionId,
        peer,
        [...this.ead1, ...acceptEad(p3.ead, this.opts.eadLabels, 'message_3')],
      );
      this.stateValue = 'completed';
      if (!this.opts.sendMessage4) return undefined;
      const k4 = aeadKeys(s, prk4e3mValue, th4Value, 4);
      const ciphertext4 = aeadEncrypt(k4.key, k4.iv, encStructure(th4Value), encodeEad(this.opts.ead4 ?? []));
      this.record({ k4: k4.key, iv4: k4.iv });
      return encodeCiphertextMessage(ciphertext4);
    });
  }
}

/** The EDHOC error message that answers a failure (RFC 9528 §6). */
export function errorMessageFor(e: unknown): Buffer {
  if (e instanceof EdhocError && e.errCode === ErrCode.wrongSelectedCipherSuite && e.suitesR?.length) {
    return encodeError({ errCode: ErrCode.wrongSelectedCipherSuite, suitesR: e.suitesR });
  }
  if (e instanceof EdhocError && e.errCode === ErrCode.unknownCredential) {
    return encodeError({ errCode: ErrCode.unknownCredential });
  }
  const diagnostic = e instanceof EdhocError ? e.message : 'internal error';
  return encodeError({ errCode: ErrCode.unspecified, diagnostic });
}

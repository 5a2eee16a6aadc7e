/**
 * The server side of the DTLS 1.2 handshake, after the stateless cookie exchange has been passed
 * (the endpoint answers flight 1 with a HelloVerifyRequest and creates the association only for a
 * ClientHello with a valid cookie, RFC 6347 §4.2.1):
 *   ClientHello+cookie → ServerHello [ServerKeyExchange(hint)] ServerHelloDone
 *   ClientKeyExchange CCS Finished → CCS Finished
 * Abbreviated (a cached session ID): ClientHello → ServerHello CCS Finished; CCS Finished.
 */
import type { KeyObject } from 'node:crypto';
import type { SessionCache } from '../cache.ts';
import type { PeerIdentity } from '../credentials/identity.ts';
import {
  chooseCertificateTypes,
  ownCertificateMessage,
  type PublicKeyCredentials,
  signingKey,
  verifyPeerCertificate,
} from '../credentials/keys.ts';
import { trustAnchorNames } from '../credentials/x509.ts';
import {
  checkCertificateVerify,
  type EcdhKeyPair,
  makeServerKeyExchange,
  premasterFromClientKeyExchange,
} from '../crypto/ecc.ts';
import { extendedMasterSecret, keyBlock, masterSecret } from '../crypto/keys.ts';
import { pskPremaster } from '../crypto/psk.ts';
import { randomOwnBytes } from '../crypto/random.ts';
import { CIPHER_SUITES, type CipherSuite, suiteByCode, TLS_EMPTY_RENEGOTIATION_INFO_SCSV } from '../crypto/suites.ts';
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import { ownCopy } from '../wire/buffer.ts';
import { encodeCertificate, isEmptyCertificate, parseCertificate } from '../wire/certificate.ts';
import { ecdsaCertificateRequest, encodeCertificateRequest } from '../wire/certificate-request.ts';
import type { ClientHello } from '../wire/client-hello.ts';
import { parseClientKeyExchangePsk } from '../wire/client-key-exchange.ts';
import { connectionIdExtension, parseConnectionIdExtension } from '../wire/connection-id.ts';
import {
  type Extension,
  ExtensionType,
  extendedMasterSecret as emsExtension,
  findExtension,
  isEmptyRenegotiationInfo,
  parseServerName,
  renegotiationInfo,
} from '../wire/extensions.ts';
import {
  CertificateType,
  ECPointFormat,
  EXT_CLIENT_CERTIFICATE_TYPE,
  EXT_EC_POINT_FORMATS,
  EXT_SERVER_CERTIFICATE_TYPE,
  EXT_SUPPORTED_GROUPS,
  ecPointFormatsExtension,
  NamedGroup,
  parseCertificateTypeList,
  parseEcPointFormats,
  parseSupportedGroups,
} from '../wire/extensions-ecc.ts';
import { HandshakeType } from '../wire/handshake.ts';
import { DTLS1_2 } from '../wire/record.ts';
import { encodeServerHello } from '../wire/server-hello.ts';
import { encodeServerHelloDone } from '../wire/server-hello-done.ts';
import { encodeServerKeyExchangePsk } from '../wire/server-key-exchange.ts';
import { changeCipherSpecAndFinished, checkPeerFinished, ownFinished } from './finished.ts';
import type { FlightItem } from './flight.ts';
import type { HandshakeMessage } from './reassembly.ts';
import type { HandshakeHost, HandshakeProfile, PeerAddress, RoleHandshake, SessionState } from './types.ts';

export type PskLookup = (identity: string, peer: PeerAddress) => Buffer | undefined | Promise<Buffer | undefined>;

export interface ServerConfig {
  psk?: PskLookup;
  /** Public-key credentials: our certificate and/or raw public key, trust for clients, clientAuth. */
  pki?: PublicKeyCredentials;
  pskIdentityHint?: string;
  sessionCache?: SessionCache;
  /**
   * Gives this handshake's association a Connection ID of its own (RFC 9146), registered with the
   * endpoint; called only when the client offers `connection_id`. Without it CIDs are not used.
   */
  allocateConnectionId?: () => Buffer;
  /** 'lean': fewest bytes on the air (see {@link HandshakeProfile}). Default 'default'. */
  profile?: HandshakeProfile;
}

/**
 * The lean profile's session ID: 8 random bytes still make a collision among the sessions of one
 * cache unlikely (2^-64 per pair) and resuming needs the master secret anyway; 24 bytes fewer.
 */
export const LEAN_SESSION_ID_LENGTH = 8;

type State =
  | 'client_certificate'
  | 'client_key_exchange'
  | 'certificate_verify'
  | 'finished'
  | 'finished_abbreviated'
  | 'done';

/** A lookup (PSK store, session cache) may answer at once or with a promise. */
const isPromiseLike = <T>(v: T | PromiseLike<T>): v is PromiseLike<T> =>
  typeof (v as PromiseLike<T> | undefined)?.then === 'function';

const unexpected = (m: HandshakeMessage, state: string) =>
  new DtlsAlertError(AlertDescription.unexpected_message, `unexpected handshake message ${m.msgType} in ${state}`);

export class ServerHandshake implements RoleHandshake {
  private state: State = 'client_key_exchange';
  private sendSeq = 0;
  private readonly serverRandom = randomOwnBytes(32);
  private clientRandom: Buffer = Buffer.alloc(0);
  private suite: CipherSuite | undefined;
  private sessionId: Buffer = Buffer.alloc(0);
  private ems = false;
  private master: Buffer = Buffer.alloc(0);
  private resumedSession: SessionState | undefined;
  private identity = '';
  private peerIdentity: PeerIdentity | undefined;
  private clientPublicKey: KeyObject | undefined;
  private ephemeral: EcdhKeyPair | undefined;
  /** The certificate type the client must send; undefined when we sent no CertificateRequest. */
  private clientType: number | undefined;
  private serverType: number = CertificateType.X509;
  /** ECC-capable client: the supported_groups / ec_point_formats it sent (undefined when absent). */
  private eccOffer: { groups?: number[]; formats?: number[] } = {};
  /** The server_name the client asked for, when it was a valid host name (RFC 6066 §3). */
  serverName: string | undefined;

  constructor(
    private readonly host: HandshakeHost,
    private readonly cfg: ServerConfig,
  ) {}

  get waitingFirst(): boolean {
    return false;
  }
  get awaitingFinished(): boolean {
    return this.state === 'finished' || this.state === 'finished_abbreviated';
  }

  /** Answers the ClientHello that carried a valid cookie (async only when the session cache is). */
  onClientHello(ch: ClientHello, m: HandshakeMessage): Promise<void> | void {
    // The server continues the message numbering of the client's ClientHello (RFC 6347 §4.2.2).
    this.sendSeq = m.messageSeq;
    this.host.setNextRecvSeq(m.messageSeq + 1);
    this.host.transcript.add(m.msgType, m.messageSeq, m.body);
    this.clientRandom = ownCopy(ch.random);
    // DTLS versions count down: 1.2 is 0xfefd, 1.0 0xfeff. A client that cannot do 1.2 is refused.
    // DTLS versions are 0xfeXX (RFC 6347 §4.1); anything else (TLS's 0x0303) is not DTLS at all.
    if (ch.clientVersion >> 8 !== 0xfe || ch.clientVersion > DTLS1_2) {
      throw new DtlsAlertError(AlertDescription.protocol_version, 'client does not offer DTLS 1.2');
    }
    if (!ch.compressionMethods.includes(0)) {
      throw new DtlsAlertError(AlertDescription.illegal_parameter, 'client does not offer the null compression method');
    }
    const groups = findExtension(ch.extensions, EXT_SUPPORTED_GROUPS);
    const formats = findExtension(ch.extensions, EXT_EC_POINT_FORMATS);
    this.eccOffer = {
      groups: groups ? parseSupportedGroups(groups.data) : undefined,
      formats: formats ? parseEcPointFormats(formats.data) : undefined,
    };
    const suite = CIPHER_SUITES.find((s) => ch.cipherSuites.includes(s.code) && this.canServe(s));
    if (!suite) throw new DtlsAlertError(AlertDescription.handshake_failure, 'no cipher suite in common');
    this.suite = suite;
    const ri = findExtension(ch.extensions, ExtensionType.renegotiation_info);
    if (ri && !isEmptyRenegotiationInfo(ri)) {
      throw new DtlsAlertError(
        AlertDescription.handshake_failure,
        'renegotiation_info not empty in an initial handshake',
      );
    }
    const secureRenegotiation = ri !== undefined || ch.cipherSuites.includes(TLS_EMPTY_RENEGOTIATION_INFO_SCSV);
    this.ems = findExtension(ch.extensions, ExtensionType.extended_master_secret) !== undefined;
    const sni = findExtension(ch.extensions, ExtensionType.server_name);
    if (sni) this.serverName = parseServerName(sni);

    const extensions: Extension[] = [];
    if (secureRenegotiation) extensions.push(renegotiationInfo());
    if (this.ems) extensions.push(emsExtension());
    // RFC 9146 §3: answer a client's connection_id with ours; its CID goes into the records we send.
    const cidOffer = findExtension(ch.extensions, ExtensionType.connection_id);
    if (cidOffer && this.cfg.allocateConnectionId) {
      const peerCid = ownCopy(parseConnectionIdExtension(cidOffer));
      const own = this.cfg.allocateConnectionId();
      this.host.records.setConnectionIds(own, peerCid);
      extensions.push(connectionIdExtension(own));
    }

    if (ch.sessionId.length > 0 && this.cfg.sessionCache) {
      const cached = this.cfg.sessionCache.get(ch.sessionId);
      if (isPromiseLike(cached)) {
        return Promise.resolve(cached).then((c) => this.answerClientHello(ch, m, suite, extensions, c));
      }
      return this.answerClientHello(ch, m, suite, extensions, cached);
    }
    return this.answerClientHello(ch, m, suite, extensions, undefined);
  }

  /** The server's flight: resumption of `cached` when it fits, else a full handshake. */
  private answerClientHello(
    ch: ClientHello,
    m: HandshakeMessage,
    suite: CipherSuite,
    extensions: Extension[],
    cached: SessionState | undefined,
  ): void {
    // RFC 7627 §5.3: resume only with the same EMS setting; otherwise fall back to a full handshake.
    if (
      cached &&
      cached.cipherSuite === suite.code &&
      cached.extendedMasterSecret === this.ems &&
      suiteByCode(cached.cipherSuite)
    ) {
      this.resume(cached, extensions);
      return;
    }
    const lean = this.cfg.profile === 'lean';
    this.sessionId = this.cfg.sessionCache ? randomOwnBytes(lean ? LEAN_SESSION_ID_LENGTH : 32) : Buffer.alloc(0);
    const items: FlightItem[] = [];
    const push = (msgType: number, body: Buffer) => {
      const messageSeq = this.sendSeq++;
      this.host.transcript.add(msgType, messageSeq, body);
      items.push({ kind: 'handshake', msgType, messageSeq, body, epoch: 0, pack: lean });
    };
    if (suite.keyExchange === 'ecdhe_ecdsa') {
      this.host.transcript.keepMessages();
      // The transcript so far holds the ClientHello; keepMessages starts empty, so add it again there.
      this.host.transcript.reset();
      this.host.transcript.add(m.msgType, m.messageSeq, m.body);
      const certTypes = (type: number) => {
        const e = findExtension(ch.extensions, type);
        return e ? parseCertificateTypeList(e.data) : undefined;
      };
      const choice = chooseCertificateTypes(
        {
          clientCertificateTypes: certTypes(EXT_CLIENT_CERTIFICATE_TYPE),
          serverCertificateTypes: certTypes(EXT_SERVER_CERTIFICATE_TYPE),
        },
        this.cfg.pki,
      );
      // RFC 8422 §5.2: answer ec_point_formats when the client sent it.
      if (this.eccOffer.formats) extensions.push(ecPointFormatsExtension());
      extensions.push(...choice.serverHelloExtensions);
      push(HandshakeType.server_hello, this.serverHello(this.sessionId, extensions));
      push(HandshakeType.certificate, encodeCertificate(ownCertificateMessage(this.cfg.pki, choice.server)));
      const ske = makeServerKeyExchange(
        signingKey(this.cfg.pki, choice.server)!,
        this.clientRandom,
        this.serverRandom,
        this.host.meter,
      );
      this.ephemeral = ske.ephemeral;
      push(HandshakeType.server_key_exchange, ske.body);
      this.clientType = choice.client;
      this.serverType = choice.server;
      if (choice.client !== undefined) {
        const anchors = this.cfg.pki?.trust?.anchors;
        const names = choice.client === CertificateType.X509 && anchors ? trustAnchorNames(anchors) : [];
        push(HandshakeType.certificate_request, encodeCertificateRequest(ecdsaCertificateRequest(names)));
      }
      push(HandshakeType.server_hello_done, encodeServerHelloDone());
      this.state = choice.client !== undefined ? 'client_certificate' : 'client_key_exchange';
      this.host.sendFlight(items, false);
      return;
    }
    push(HandshakeType.server_hello, this.serverHello(this.sessionId, extensions));
    // RFC 4279 §2: the ServerKeyExchange is sent only when there is an identity hint.
    if (this.cfg.pskIdentityHint !== undefined) {
      push(
        HandshakeType.server_key_exchange,
        encodeServerKeyExchangePsk({ identityHint: Buffer.from(this.cfg.pskIdentityHint, 'utf8') }),
      );
    }
    push(HandshakeType.server_hello_done, encodeServerHelloDone());
    this.state = 'client_key_exchange';
    this.host.sendFlight(items, false);
  }

  private canServe(s: CipherSuite): boolean {
    if (s.keyExchange === 'psk') return this.cfg.psk !== undefined;
    // ECDHE_ECDSA: we need a key to sign with, and the client must accept P-256 uncompressed
    // points (RFC 8422 §5.1: absent extensions mean "anything").
    const { groups, formats } = this.eccOffer;
    return (
      (this.cfg.pki?.certificate !== undefined || this.cfg.pki?.rpk !== undefined) &&
      (groups === undefined || groups.includes(NamedGroup.secp256r1)) &&
      (formats === undefined || formats.includes(ECPointFormat.uncompressed))
    );
  }

  private serverHello(sessionId: Buffer, extensions: Extension[]): Buffer {
    return encodeServerHello({
      serverVersion: DTLS1_2,
      random: this.serverRandom,
      sessionId,
      cipherSuite: this.suite!.code,
      compressionMethod: 0,
      extensions,
    });
  }

  /** `context`: the message the key block is charged to (ClientKeyExchange, or ServerHello on resumption). */
  private installKeys(context: 'client_key_exchange' | 'server_hello'): void {
    const kb = keyBlock(this.suite!, this.master, this.clientRandom, this.serverRandom, this.host.meter, context);
    this.host.records.installKeys(
      1,
      { key: kb.serverWriteKey, iv: kb.serverWriteIv },
      { key: kb.clientWriteKey, iv: kb.clientWriteIv },
    );
  }

  private resume(s: SessionState, extensions: Extension[]): void {
    this.resumedSession = s;
    this.sessionId = s.id;
    this.master = s.masterSecret;
    const t = this.host.transcript;
    const shSeq = this.sendSeq++;
    const sh = this.serverHello(s.id, extensions);
    t.add(HandshakeType.server_hello, shSeq, sh);
    this.installKeys('server_hello');
    const fin = ownFinished(this.master, 'server finished', this.host);
    const finSeq = this.sendSeq++;
    t.add(HandshakeType.finished, finSeq, fin);
    this.host.records.writeEpoch = 1;
    this.state = 'finished_abbreviated';
    this.host.sendFlight(
      [
        { kind: 'handshake', msgType: HandshakeType.server_hello, messageSeq: shSeq, body: sh, epoch: 0 },
        { kind: 'change_cipher_spec', epoch: 0 },
        { kind: 'handshake', msgType: HandshakeType.finished, messageSeq: finSeq, body: fin, epoch: 1 },
      ],
      false,
    );
  }

  onMessage(m: HandshakeMessage): Promise<void> | void {
    switch (this.state) {
      case 'client_certificate':
        if (m.msgType !== HandshakeType.certificate) throw unexpected(m, this.state);
        return this.onClientCertificate(m);
      case 'certificate_verify': {
        if (m.msgType !== HandshakeType.certificate_verify) throw unexpected(m, this.state);
        const t = this.host.transcript;
        checkCertificateVerify(m.body, this.clientPublicKey!, t.messages(), this.host.meter);
        t.add(m.msgType, m.messageSeq, m.body);
        this.state = 'finished';
        return;
      }
      case 'client_key_exchange':
        if (m.msgType !== HandshakeType.client_key_exchange) throw unexpected(m, this.state);
        return this.onClientKeyExchange(m);
      case 'finished':
      case 'finished_abbreviated':
        if (m.msgType !== HandshakeType.finished) throw unexpected(m, this.state);
        return this.onFinished(m);
      default:
        throw unexpected(m, this.state);
    }
  }

  private async onClientCertificate(m: HandshakeMessage): Promise<void> {
    this.host.transcript.add(m.msgType, m.messageSeq, m.body);
    const type = this.clientType!;
    const cert = parseCertificate(m.body, type);
    if (isEmptyCertificate(cert)) {
      // RFC 5246 §7.4.6: an empty Certificate; with 'need' that ends the handshake.
      if ((this.cfg.pki?.clientAuth ?? 'none') === 'need') {
        throw new DtlsAlertError(AlertDescription.handshake_failure, 'client authentication required, none sent');
      }
      // 'want': the client stays anonymous; its identity is the negotiated mode with nothing in it.
      this.peerIdentity =
        type === CertificateType.RawPublicKey
          ? { mode: 'rpk', spki: Buffer.alloc(0), fingerprint: '' }
          : { mode: 'x509', subject: '', sans: [], fingerprint: '', chain: [] };
      this.state = 'client_key_exchange';
      return;
    }
    const v = await verifyPeerCertificate(cert, this.cfg.pki?.trust, { peerRole: 'client', meter: this.host.meter });
    this.peerIdentity = v.identity;
    this.clientPublicKey = v.publicKey;
    this.state = 'client_key_exchange';
  }

  private onClientKeyExchange(m: HandshakeMessage): Promise<void> | void {
    if (this.suite!.keyExchange === 'ecdhe_ecdsa') {
      const pms = premasterFromClientKeyExchange(m.body, this.ephemeral!, this.host.meter);
      this.ephemeral = undefined;
      this.deriveFromPremaster(m, pms);
      // RFC 5246 §7.4.8: a client that sent a certificate proves it with CertificateVerify.
      this.state = this.clientPublicKey ? 'certificate_verify' : 'finished';
      if (!this.peerIdentity) {
        this.peerIdentity =
          this.chosenServerType() === CertificateType.RawPublicKey
            ? { mode: 'rpk', spki: Buffer.alloc(0), fingerprint: '' }
            : { mode: 'x509', subject: '', sans: [], fingerprint: '', chain: [] };
      }
      return;
    }
    const { identity } = parseClientKeyExchangePsk(m.body);
    this.identity = identity.toString('utf8');
    const key = this.cfg.psk!(this.identity, this.host.remote);
    if (isPromiseLike(key)) return Promise.resolve(key).then((k) => this.withPsk(m, k));
    this.withPsk(m, key);
  }

  private withPsk(m: HandshakeMessage, key: Buffer | undefined): void {
    // RFC 4279 §2: an unknown identity is refused with unknown_psk_identity.
    if (!key)
      throw new DtlsAlertError(AlertDescription.unknown_psk_identity, `unknown PSK identity '${this.identity}'`);
    this.peerIdentity = { mode: 'psk', identity: this.identity };
    this.deriveFromPremaster(m, pskPremaster(key));
    this.state = 'finished';
  }

  /** The mode of this handshake (our certificate type): an anonymous client gets an empty identity of that mode. */
  private chosenServerType(): number {
    return this.serverType;
  }

  private deriveFromPremaster(m: HandshakeMessage, pms: Buffer): void {
    const t = this.host.transcript;
    t.add(m.msgType, m.messageSeq, m.body);
    this.master = this.ems
      ? extendedMasterSecret(pms, t.digest('client_key_exchange', 'session_hash'), this.host.meter)
      : masterSecret(pms, this.clientRandom, this.serverRandom, this.host.meter);
    this.installKeys('client_key_exchange');
  }

  private onFinished(m: HandshakeMessage): void {
    checkPeerFinished(m, this.master, 'client finished', this.host);
    const t = this.host.transcript;
    if (this.state === 'finished_abbreviated') {
      // The session gets its own copy beside this association's keys (the cache's stays where it is).
      const s = this.host.records.keepWithKeys(this.resumedSession!);
      this.state = 'done';
      this.host.complete({ suite: this.suite!, identity: s.identity, resumed: true, session: s });
      return;
    }
    t.add(m.msgType, m.messageSeq, m.body);
    const fin = ownFinished(this.master, 'server finished', this.host);
    this.host.records.writeEpoch = 1;
    this.host.sendFlight(changeCipherSpecAndFinished(this.sendSeq++, fin), true);
    // Packed beside the record keys: the association and the in-memory cache share one buffer.
    const session = this.host.records.keepWithKeys({
      id: this.sessionId,
      masterSecret: this.master,
      cipherSuite: this.suite!.code,
      extendedMasterSecret: this.ems,
      identity: this.peerIdentity!,
      createdAt: Date.now(),
    });
    if (this.sessionId.length > 0 && this.cfg.sessionCache) {
      // A store that answers at once costs no promise; a failed asynchronous store only loses resumption.
      const stored = this.cfg.sessionCache.set(session);
      if (isPromiseLike(stored)) Promise.resolve(stored).catch(() => {});
    }
    this.state = 'done';
    this.host.complete({ suite: this.suite!, identity: session.identity, resumed: false, session });
  }
}

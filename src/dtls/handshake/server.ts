/**
 * The server side of the DTLS 1.2 handshake, after the stateless cookie exchange has been passed
 * (the endpoint answers flight 1 with a HelloVerifyRequest and creates the association only for a
 * ClientHello with a valid cookie, RFC 6347 §4.2.1):
 *   ClientHello+cookie → ServerHello [Certificate ServerKeyExchange [CertificateRequest]] ServerHelloDone
 *   [Certificate] ClientKeyExchange [CertificateVerify] CCS Finished → CCS Finished
 * Abbreviated (a cached session ID): ClientHello → ServerHello CCS Finished; CCS Finished.
 *
 * Each state is a class that holds what is known in it and names the one message it accepts
 * (rustls' `Expect*` states); what the key exchange contributes comes from the suite's strategy
 * (key-exchange.ts), and every crypto operation goes through the association's provider.
 */
import type { KeyObject } from 'node:crypto';
import type { SessionCache } from '../cache.ts';
import type { PeerIdentity } from '../credentials/identity.ts';
import type { PublicKeyCredentials } from '../credentials/keys.ts';
import { checkCertificateVerify } from '../crypto/ecc.ts';
import { type HandshakeCrypto, handshakeCrypto } from '../crypto/provider.ts';
import { randomOwnBytes } from '../crypto/random.ts';
import { CIPHER_SUITES, type CipherSuite, suiteByCode, TLS_EMPTY_RENEGOTIATION_INFO_SCSV } from '../crypto/suites.ts';
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import { ownCopy } from '../wire/buffer.ts';
import { isEmptyCertificate, parseCertificate } from '../wire/certificate.ts';
import type { ClientHello } from '../wire/client-hello.ts';
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
  EXT_EC_POINT_FORMATS,
  EXT_SUPPORTED_GROUPS,
  parseEcPointFormats,
  parseSupportedGroups,
} from '../wire/extensions-ecc.ts';
import { HandshakeType } from '../wire/handshake.ts';
import { DTLS1_2 } from '../wire/record.ts';
import { encodeServerHello } from '../wire/server-hello.ts';
import { encodeServerHelloDone } from '../wire/server-hello-done.ts';
import { changeCipherSpecAndFinished, checkPeerFinished, ownFinished } from './finished.ts';
import type { FlightItem } from './flight.ts';
import type { EccOffer, PskLookup, ServerAgreement, ServerKxResult } from './key-exchange.ts';
import { anonymousIdentity } from './kx-ecdhe.ts';
import type { HandshakeMessage } from './reassembly.ts';
import { Closed, type HandshakeState, isPromiseLike, unexpected } from './states.ts';
import type { HandshakeHost, HandshakeProfile, RoleHandshake, SessionState } from './types.ts';

export type { PskLookup } from './key-exchange.ts';

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

/** What every state of one server handshake shares. */
class Server {
  /** The next message_seq we send: the server continues the client's numbering (RFC 6347 §4.2.2). */
  sendSeq = 0;
  readonly serverRandom = randomOwnBytes(32);
  readonly crypto: HandshakeCrypto;
  constructor(
    readonly host: HandshakeHost,
    readonly cfg: ServerConfig,
  ) {
    this.crypto = handshakeCrypto(host.meter);
  }

  /** A handshake message of our flight, entered into the transcript. */
  message(msgType: number, body: Buffer, epoch = 0): FlightItem {
    const messageSeq = this.sendSeq++;
    this.host.transcript.add(msgType, messageSeq, body);
    return { kind: 'handshake', msgType, messageSeq, body, epoch, pack: this.cfg.profile === 'lean' };
  }

  /** `context`: the message the key block is charged to (ClientKeyExchange, or ServerHello on resumption). */
  installKeys(n: Negotiated, master: Buffer, context: 'client_key_exchange' | 'server_hello'): void {
    const kb = this.crypto.keyBlock(n.suite, master, n.clientRandom, this.serverRandom, context);
    this.host.records.installKeys(
      1,
      { key: kb.serverWriteKey, iv: kb.serverWriteIv },
      { key: kb.clientWriteKey, iv: kb.clientWriteIv },
    );
  }
}

/** What the ClientHello and our answer settled. */
interface Negotiated {
  readonly suite: CipherSuite;
  readonly clientRandom: Buffer;
  readonly sessionId: Buffer;
  readonly ems: boolean;
}

type ServerState = HandshakeState<ServerState>;

const EXPECT_CLIENT_HELLO = new Closed('client_hello');
const DONE = new Closed('done');

/** We sent a CertificateRequest: the client's Certificate (possibly empty) comes first (RFC 5246 §7.4.6). */
class ExpectClientCertificate implements ServerState {
  readonly name = 'client_certificate';
  readonly awaitingFinished = false;
  constructor(
    private readonly s: Server,
    private readonly n: Negotiated,
    private readonly kx: ServerAgreement,
    private readonly type: number,
  ) {}

  handle(m: HandshakeMessage): ServerState | Promise<ServerState> {
    if (m.msgType !== HandshakeType.certificate) throw unexpected(m, this.name);
    this.s.host.transcript.add(m.msgType, m.messageSeq, m.body);
    const cert = parseCertificate(m.body, this.type);
    if (isEmptyCertificate(cert)) {
      // RFC 5246 §7.4.6: an empty Certificate; with 'need' that ends the handshake.
      if ((this.s.cfg.pki?.clientAuth ?? 'none') === 'need') {
        throw new DtlsAlertError(AlertDescription.handshake_failure, 'client authentication required, none sent');
      }
      // 'want': the client stays anonymous; its identity is the negotiated mode with nothing in it.
      return new ExpectClientKeyExchange(this.s, this.n, this.kx, anonymousIdentity(this.type), undefined);
    }
    return this.s.crypto
      .verifyPeerCertificate(cert, this.s.cfg.pki?.trust, { peerRole: 'client' })
      .then((v) => new ExpectClientKeyExchange(this.s, this.n, this.kx, v.identity, v.publicKey));
  }
}

class ExpectClientKeyExchange implements ServerState {
  readonly name = 'client_key_exchange';
  readonly awaitingFinished = false;
  constructor(
    private readonly s: Server,
    private readonly n: Negotiated,
    private readonly kx: ServerAgreement,
    /** From the client's Certificate (or the anonymous identity of an empty one); undefined when none was asked for. */
    private readonly certified: PeerIdentity | undefined,
    /** The key of the client's certificate: a CertificateVerify must prove it (RFC 5246 §7.4.8). */
    private readonly clientKey: KeyObject | undefined,
  ) {}

  handle(m: HandshakeMessage): ServerState | Promise<ServerState> {
    if (m.msgType !== HandshakeType.client_key_exchange) throw unexpected(m, this.name);
    const r = this.kx.clientKeyExchange(m.body, this.s.host.remote);
    if (isPromiseLike(r)) return Promise.resolve(r).then((x) => this.derive(m, x));
    return this.derive(m, r);
  }

  private derive(m: HandshakeMessage, r: ServerKxResult): ServerState {
    const { host, crypto } = this.s;
    const t = host.transcript;
    t.add(m.msgType, m.messageSeq, m.body);
    const master = this.n.ems
      ? crypto.extendedMasterSecret(r.premaster, t.digest('client_key_exchange', 'session_hash'))
      : crypto.masterSecret(r.premaster, this.n.clientRandom, this.s.serverRandom);
    this.s.installKeys(this.n, master, 'client_key_exchange');
    const identity = r.identity ?? this.certified ?? this.kx.anonymousClient;
    return this.clientKey
      ? new ExpectCertificateVerify(this.s, this.n, master, identity, this.clientKey)
      : new ExpectClientFinished(this.s, this.n, master, identity);
  }
}

class ExpectCertificateVerify implements ServerState {
  readonly name = 'certificate_verify';
  readonly awaitingFinished = false;
  constructor(
    private readonly s: Server,
    private readonly n: Negotiated,
    private readonly master: Buffer,
    private readonly identity: PeerIdentity,
    private readonly clientKey: KeyObject,
  ) {}

  handle(m: HandshakeMessage): ServerState {
    if (m.msgType !== HandshakeType.certificate_verify) throw unexpected(m, this.name);
    const t = this.s.host.transcript;
    checkCertificateVerify(m.body, this.clientKey, t.messages(), this.s.crypto);
    t.add(m.msgType, m.messageSeq, m.body);
    return new ExpectClientFinished(this.s, this.n, this.master, this.identity);
  }
}

/** A full handshake's client Finished: we answer with ours and the session is made. */
class ExpectClientFinished implements ServerState {
  readonly name = 'finished';
  readonly awaitingFinished = true;
  constructor(
    private readonly s: Server,
    private readonly n: Negotiated,
    private readonly master: Buffer,
    private readonly identity: PeerIdentity,
  ) {}

  handle(m: HandshakeMessage): ServerState {
    if (m.msgType !== HandshakeType.finished) throw unexpected(m, this.name);
    const { host, crypto, cfg } = this.s;
    const t = host.transcript;
    checkPeerFinished(m, this.master, 'client finished', t, crypto);
    t.add(m.msgType, m.messageSeq, m.body);
    const fin = ownFinished(this.master, 'server finished', t, crypto);
    host.records.writeEpoch = 1;
    host.sendFlight(changeCipherSpecAndFinished(this.s.sendSeq++, fin), true);
    // Packed beside the record keys: the association and the in-memory cache share one buffer.
    const session = host.records.keepWithKeys({
      id: this.n.sessionId,
      masterSecret: this.master,
      cipherSuite: this.n.suite.code,
      extendedMasterSecret: this.n.ems,
      identity: this.identity,
      createdAt: Date.now(),
    });
    if (this.n.sessionId.length > 0 && cfg.sessionCache) {
      // A store that answers at once costs no promise; a failed asynchronous store only loses resumption.
      const stored = cfg.sessionCache.set(session);
      if (isPromiseLike(stored)) Promise.resolve(stored).catch(() => {});
    }
    host.complete({ suite: this.n.suite, identity: session.identity, resumed: false, session });
    return DONE;
  }
}

/** An abbreviated handshake: we sent our Finished first; the client's ends it. */
class ExpectClientFinishedResumed implements ServerState {
  readonly name = 'finished_abbreviated';
  readonly awaitingFinished = true;
  constructor(
    private readonly s: Server,
    private readonly suite: CipherSuite,
    private readonly session: SessionState,
  ) {}

  handle(m: HandshakeMessage): ServerState {
    if (m.msgType !== HandshakeType.finished) throw unexpected(m, this.name);
    checkPeerFinished(m, this.session.masterSecret, 'client finished', this.s.host.transcript, this.s.crypto);
    // The session gets its own copy beside this association's keys (the cache's stays where it is).
    const s = this.s.host.records.keepWithKeys(this.session);
    this.s.host.complete({ suite: this.suite, identity: s.identity, resumed: true, session: s });
    return DONE;
  }
}

export class ServerHandshake implements RoleHandshake {
  private readonly s: Server;
  private state: ServerState = EXPECT_CLIENT_HELLO;
  /** The server_name the client asked for, when it was a valid host name (RFC 6066 §3). */
  serverName: string | undefined;

  constructor(host: HandshakeHost, cfg: ServerConfig) {
    this.s = new Server(host, cfg);
  }

  get waitingFirst(): boolean {
    return false;
  }
  get awaitingFinished(): boolean {
    return this.state.awaitingFinished;
  }

  onMessage(m: HandshakeMessage): Promise<void> | void {
    const next = this.state.handle(m);
    if (isPromiseLike(next)) {
      return Promise.resolve(next).then((s) => {
        this.state = s;
      });
    }
    this.state = next;
  }

  /** Answers the ClientHello that carried a valid cookie (async only when the session cache is). */
  onClientHello(ch: ClientHello, m: HandshakeMessage): Promise<void> | void {
    const { host, cfg } = this.s;
    // The server continues the message numbering of the client's ClientHello (RFC 6347 §4.2.2).
    this.s.sendSeq = m.messageSeq;
    host.setNextRecvSeq(m.messageSeq + 1);
    host.transcript.add(m.msgType, m.messageSeq, m.body);
    // A view of the ClientHello, not a copy: the random is needed only until the keys are made, and
    // the datagram it came in is a buffer of its own (Node gives each datagram one).
    const clientRandom = ch.random;
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
    const ecc: EccOffer = {
      groups: groups ? parseSupportedGroups(groups.data) : undefined,
      formats: formats ? parseEcPointFormats(formats.data) : undefined,
    };
    const suite = CIPHER_SUITES.find((s) => ch.cipherSuites.includes(s.code) && s.kx.canServe(cfg, ecc));
    if (!suite) throw new DtlsAlertError(AlertDescription.handshake_failure, 'no cipher suite in common');
    const ri = findExtension(ch.extensions, ExtensionType.renegotiation_info);
    if (ri && !isEmptyRenegotiationInfo(ri)) {
      throw new DtlsAlertError(
        AlertDescription.handshake_failure,
        'renegotiation_info not empty in an initial handshake',
      );
    }
    const secureRenegotiation = ri !== undefined || ch.cipherSuites.includes(TLS_EMPTY_RENEGOTIATION_INFO_SCSV);
    const ems = findExtension(ch.extensions, ExtensionType.extended_master_secret) !== undefined;
    const sni = findExtension(ch.extensions, ExtensionType.server_name);
    if (sni) this.serverName = parseServerName(sni);

    const extensions: Extension[] = [];
    if (secureRenegotiation) extensions.push(renegotiationInfo());
    if (ems) extensions.push(emsExtension());
    // RFC 9146 §3: answer a client's connection_id with ours; its CID goes into the records we send.
    const cidOffer = findExtension(ch.extensions, ExtensionType.connection_id);
    if (cidOffer && cfg.allocateConnectionId) {
      const peerCid = ownCopy(parseConnectionIdExtension(cidOffer));
      const own = cfg.allocateConnectionId();
      host.records.setConnectionIds(own, peerCid);
      extensions.push(connectionIdExtension(own));
    }

    const offer: Hello = { ch, m, suite, clientRandom, ems, ecc, extensions };
    if (ch.sessionId.length > 0 && cfg.sessionCache) {
      const cached = cfg.sessionCache.get(ch.sessionId);
      if (isPromiseLike(cached)) {
        return Promise.resolve(cached).then((c) => {
          this.state = this.answer(offer, c);
        });
      }
      this.state = this.answer(offer, cached);
      return;
    }
    this.state = this.answer(offer, undefined);
  }

  /** The server's flight: resumption of `cached` when it fits, else a full handshake. */
  private answer(h: Hello, cached: SessionState | undefined): ServerState {
    // RFC 7627 §5.3: resume only with the same EMS setting; otherwise fall back to a full handshake.
    if (
      cached &&
      cached.cipherSuite === h.suite.code &&
      cached.extendedMasterSecret === h.ems &&
      suiteByCode(cached.cipherSuite)
    ) {
      return this.resume(h, cached);
    }
    const { host, cfg, crypto } = this.s;
    const lean = cfg.profile === 'lean';
    const n: Negotiated = {
      suite: h.suite,
      clientRandom: h.clientRandom,
      sessionId: cfg.sessionCache ? randomOwnBytes(lean ? LEAN_SESSION_ID_LENGTH : 32) : Buffer.alloc(0),
      ems: h.ems,
    };
    const kx = h.suite.kx;
    if (kx.certificates) {
      // CertificateVerify signs the messages themselves; keepMessages starts empty, so the
      // ClientHello goes in again.
      const t = host.transcript;
      t.keepMessages();
      t.reset();
      t.add(h.m.msgType, h.m.messageSeq, h.m.body);
    }
    const agreement = kx.startServer({
      credentials: cfg,
      crypto,
      clientHello: h.ch,
      clientRandom: h.clientRandom,
      serverRandom: this.s.serverRandom,
      ecc: h.ecc,
    });
    const items: FlightItem[] = [
      this.s.message(
        HandshakeType.server_hello,
        this.serverHello(h.suite, n.sessionId, [...h.extensions, ...agreement.serverHelloExtensions]),
      ),
    ];
    for (const msg of agreement.messages) items.push(this.s.message(msg.msgType, msg.body));
    items.push(this.s.message(HandshakeType.server_hello_done, encodeServerHelloDone()));
    host.sendFlight(items, false);
    const type = agreement.clientCertificateType;
    return type !== undefined
      ? new ExpectClientCertificate(this.s, n, agreement, type)
      : new ExpectClientKeyExchange(this.s, n, agreement, undefined, undefined);
  }

  private resume(h: Hello, session: SessionState): ServerState {
    const { host, crypto } = this.s;
    const t = host.transcript;
    const n: Negotiated = { suite: h.suite, clientRandom: h.clientRandom, sessionId: session.id, ems: h.ems };
    const shSeq = this.s.sendSeq++;
    const sh = this.serverHello(h.suite, session.id, h.extensions);
    t.add(HandshakeType.server_hello, shSeq, sh);
    this.s.installKeys(n, session.masterSecret, 'server_hello');
    const fin = ownFinished(session.masterSecret, 'server finished', t, crypto);
    const finSeq = this.s.sendSeq++;
    t.add(HandshakeType.finished, finSeq, fin);
    host.records.writeEpoch = 1;
    host.sendFlight(
      [
        { kind: 'handshake', msgType: HandshakeType.server_hello, messageSeq: shSeq, body: sh, epoch: 0 },
        { kind: 'change_cipher_spec', epoch: 0 },
        { kind: 'handshake', msgType: HandshakeType.finished, messageSeq: finSeq, body: fin, epoch: 1 },
      ],
      false,
    );
    return new ExpectClientFinishedResumed(this.s, h.suite, session);
  }

  private serverHello(suite: CipherSuite, sessionId: Buffer, extensions: Extension[]): Buffer {
    return encodeServerHello({
      serverVersion: DTLS1_2,
      random: this.s.serverRandom,
      sessionId,
      cipherSuite: suite.code,
      compressionMethod: 0,
      extensions,
    });
  }
}

/** The ClientHello as read, and the answer's common part. */
interface Hello {
  readonly ch: ClientHello;
  readonly m: HandshakeMessage;
  readonly suite: CipherSuite;
  readonly clientRandom: Buffer;
  readonly ems: boolean;
  readonly ecc: EccOffer;
  readonly extensions: Extension[];
}

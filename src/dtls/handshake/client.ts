/**
 * The client side of the DTLS 1.2 handshake, flight by flight (RFC 6347 §4.2.4, RFC 5246 §7.3):
 *   flight 1  ClientHello                       → flight 2  HelloVerifyRequest (optional)
 *   flight 3  ClientHello + cookie              → flight 4  ServerHello [Certificate] [ServerKeyExchange]
 *                                                           [CertificateRequest] ServerHelloDone
 *   flight 5  [Certificate] ClientKeyExchange [CertificateVerify] CCS Finished → flight 6  CCS Finished
 * Abbreviated (resumption): flight 4 is ServerHello CCS Finished and the client answers CCS Finished.
 *
 * Each state is a class that holds what is known in it and names the messages it accepts
 * (rustls' `Expect*` states): a message out of place — a second ServerKeyExchange or
 * CertificateRequest, a CertificateRequest in a PSK handshake — is `unexpected_message`. The key
 * exchange is the suite's strategy (key-exchange.ts); crypto goes through the association's provider.
 */
import type { KeyObject } from 'node:crypto';
import type { PeerIdentity } from '../credentials/identity.ts';
import { ownCertificateMessage, type PublicKeyCredentials, signingKey } from '../credentials/keys.ts';
import { makeCertificateVerify } from '../crypto/ecc.ts';
import { type HandshakeCrypto, handshakeCrypto } from '../crypto/provider.ts';
import { randomOwnBytes } from '../crypto/random.ts';
import { CIPHER_SUITES, type CipherSuite, TLS_EMPTY_RENEGOTIATION_INFO_SCSV } from '../crypto/suites.ts';
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import { ownCopy } from '../wire/buffer.ts';
import { encodeCertificate, isEmptyCertificate, parseCertificate } from '../wire/certificate.ts';
import { parseCertificateRequest } from '../wire/certificate-request.ts';
import { encodeClientHello } from '../wire/client-hello.ts';
import { connectionIdExtension, parseConnectionIdExtension } from '../wire/connection-id.ts';
import {
  type Extension,
  ExtensionType,
  extendedMasterSecret as emsExtension,
  findExtension,
  isEmptyRenegotiationInfo,
  isValidHostName,
  renegotiationInfo,
  serverName as serverNameExtension,
} from '../wire/extensions.ts';
import { HandshakeType } from '../wire/handshake.ts';
import { parseHelloVerifyRequest } from '../wire/hello-verify-request.ts';
import { DTLS1_0, DTLS1_2 } from '../wire/record.ts';
import { parseServerHello } from '../wire/server-hello.ts';
import { parseServerHelloDone } from '../wire/server-hello-done.ts';
import { changeCipherSpecAndFinished, checkPeerFinished, ownFinished } from './finished.ts';
import type { FlightItem } from './flight.ts';
import type { ClientAgreement, ClientKeyMaker, KeyExchange } from './key-exchange.ts';
import type { HandshakeMessage, ReassemblyBuffer } from './reassembly.ts';
import { Closed, type HandshakeState, isPromiseLike, unexpected } from './states.ts';
import type { HandshakeHost, HandshakeProfile, RoleHandshake, SessionState } from './types.ts';

export interface ClientConfig {
  psk?: { identity: string; key: Buffer };
  /** Public-key credentials: what we can present (client authentication) and what we trust. */
  pki?: PublicKeyCredentials;
  /** The host name or address we connect to, for the server certificate's name check. */
  peerName?: string;
  serverName?: string;
  /** A session to resume (abbreviated handshake, RFC 5246 §7.3). */
  session?: SessionState;
  /**
   * Our Connection ID (RFC 9146), offered in `connection_id`: what the server is to put in the
   * records it sends us. Empty: we need none but will send the server's. Undefined: not offered.
   */
  connectionId?: Buffer;
  /** 'lean': fewest bytes on the air (see {@link HandshakeProfile}). Default 'default'. */
  profile?: HandshakeProfile;
}

/** What every state of one client handshake shares. */
class Client {
  /** The next message_seq we send. */
  sendSeq = 0;
  readonly clientRandom = randomOwnBytes(32);
  readonly crypto: HandshakeCrypto;
  readonly offered: CipherSuite[];
  /** The PSK identity hint the server sent, if any (RFC 4279 §2). */
  hint: string | undefined;

  constructor(
    readonly host: HandshakeHost,
    readonly cfg: ClientConfig,
  ) {
    if (cfg.connectionId && cfg.connectionId.length > 0) host.records.offeredCid = cfg.connectionId;
    this.crypto = handshakeCrypto(host.meter);
    this.offered = CIPHER_SUITES.filter((s) => s.kx.canOffer(cfg));
    if (this.offered.length === 0) {
      throw new Error('DTLS client: no credentials configured (psk, or trust anchors / pinned keys)');
    }
    if (this.offered.some((s) => s.kx.certificates)) host.transcript.keepMessages();
  }

  /** Sends a ClientHello (with `cookie` after a HelloVerifyRequest); the state that awaits the answer. */
  sendHello(cookie: Buffer): ExpectServerHello {
    const cfg = this.cfg;
    const lean = cfg.profile === 'lean';
    // Lean: secure renegotiation signalled by the SCSV (2 bytes in cipher_suites, RFC 5746 §3.3)
    // instead of the empty extension (5 bytes); the server answers with the extension either way.
    const extensions: Extension[] = lean ? [emsExtension()] : [renegotiationInfo(), emsExtension()];
    // server_name: the name given, else the host connected to, when it is a host name (RFC 6066 §3).
    const sni = cfg.serverName ?? cfg.peerName;
    if (sni && isValidHostName(sni)) extensions.push(serverNameExtension(sni));
    if (cfg.connectionId) extensions.push(connectionIdExtension(cfg.connectionId));
    for (const kx of new Set<KeyExchange>(this.offered.map((s) => s.kx))) {
      extensions.push(...kx.clientHelloExtensions(cfg, lean));
    }
    const codes = this.offered.map((s) => s.code);
    const body = encodeClientHello({
      clientVersion: DTLS1_2,
      random: this.clientRandom,
      sessionId: cfg.session?.id ?? Buffer.alloc(0),
      cookie,
      cipherSuites: lean ? [...codes, TLS_EMPTY_RENEGOTIATION_INFO_SCSV] : codes,
      compressionMethods: [0],
      extensions,
    });
    const messageSeq = this.sendSeq++;
    this.host.sendFlight(
      [{ kind: 'handshake', msgType: HandshakeType.client_hello, messageSeq, body, epoch: 0 }],
      false,
    );
    return new ExpectServerHello(this, { cookie, messageSeq, body, extensions });
  }

  /** `context`: the message the key block is charged to (ClientKeyExchange, or ServerHello on resumption). */
  installKeys(n: Negotiated, master: Buffer, context: 'client_key_exchange' | 'server_hello'): void {
    const kb = this.crypto.keyBlock(n.suite, master, this.clientRandom, n.serverRandom, context);
    this.host.records.installKeys(
      1,
      { key: kb.clientWriteKey, iv: kb.clientWriteIv },
      { key: kb.serverWriteKey, iv: kb.serverWriteIv },
    );
  }
}

/** What the ServerHello settled. */
interface Negotiated {
  readonly suite: CipherSuite;
  readonly serverRandom: Buffer;
  readonly sessionId: Buffer;
  readonly ems: boolean;
}

/** The ClientHello we sent last. */
interface SentHello {
  readonly cookie: Buffer;
  readonly messageSeq: number;
  readonly body: Buffer;
  readonly extensions: readonly Extension[];
}

type ClientState = HandshakeState<ClientState>;

const NOT_STARTED = new Closed('start');
const DONE = new Closed('done');

class ExpectServerHello implements ClientState {
  readonly name = 'hello';
  readonly awaitingFinished = false;
  constructor(
    readonly c: Client,
    readonly hello: SentHello,
  ) {}

  handle(m: HandshakeMessage): ClientState {
    if (m.msgType === HandshakeType.hello_verify_request) return this; // handled in pickFirst; stale copy
    if (m.msgType !== HandshakeType.server_hello) throw unexpected(m, this.name);
    const { host, cfg } = this.c;
    const sh = parseServerHello(m.body);
    if (sh.serverVersion !== DTLS1_2) {
      throw new DtlsAlertError(AlertDescription.protocol_version, 'server chose a version other than DTLS 1.2');
    }
    const suite = this.c.offered.find((s) => s.code === sh.cipherSuite);
    if (!suite)
      throw new DtlsAlertError(AlertDescription.illegal_parameter, 'server chose a cipher suite we did not offer');
    if (sh.compressionMethod !== 0) {
      throw new DtlsAlertError(AlertDescription.illegal_parameter, 'server chose a compression method');
    }
    const allowed = new Set<number>([
      ExtensionType.renegotiation_info,
      ExtensionType.extended_master_secret,
      ExtensionType.server_name,
      ...suite.kx.serverHelloExtensionTypes,
    ]);
    if (cfg.connectionId) allowed.add(ExtensionType.connection_id);
    for (const e of sh.extensions) {
      // RFC 5246 §7.4.1.4: a server must not send an extension the client did not offer.
      if (!allowed.has(e.type))
        throw new DtlsAlertError(AlertDescription.unsupported_extension, `unsolicited extension ${e.type}`);
    }
    const ri = findExtension(sh.extensions, ExtensionType.renegotiation_info);
    if (ri && !isEmptyRenegotiationInfo(ri)) {
      throw new DtlsAlertError(
        AlertDescription.handshake_failure,
        'renegotiation_info not empty in an initial handshake',
      );
    }
    const n: Negotiated = {
      suite,
      serverRandom: ownCopy(sh.random),
      sessionId: ownCopy(sh.sessionId),
      ems: findExtension(sh.extensions, ExtensionType.extended_master_secret) !== undefined,
    };
    const cid = findExtension(sh.extensions, ExtensionType.connection_id);
    if (cid && cfg.connectionId) {
      host.records.setConnectionIds(cfg.connectionId, ownCopy(parseConnectionIdExtension(cid)));
    }
    const t = host.transcript;
    t.reset();
    t.add(HandshakeType.client_hello, this.hello.messageSeq, this.hello.body);
    t.add(m.msgType, m.messageSeq, m.body);
    const s = cfg.session;
    if (s && sh.sessionId.length > 0 && sh.sessionId.equals(s.id)) {
      // RFC 7627 §5.3: a session resumes only with the same extended-master-secret setting.
      if (s.extendedMasterSecret !== n.ems || s.cipherSuite !== suite.code) {
        throw new DtlsAlertError(AlertDescription.handshake_failure, 'resumed session parameters differ');
      }
      this.c.installKeys(n, s.masterSecret, 'server_hello');
      return new ExpectServerFinishedResumed(this.c, n, s);
    }
    const kx = suite.kx.startClient({
      credentials: cfg,
      crypto: this.c.crypto,
      clientRandom: this.c.clientRandom,
      serverRandom: n.serverRandom,
      sent: this.hello.extensions,
      answered: sh.extensions,
    });
    return kx.serverIdentity === undefined
      ? new ExpectServerCertificate(this.c, n, kx)
      : new ExpectServerKeyExchange(this.c, n, kx, kx.serverIdentity, undefined);
  }
}

class ExpectServerCertificate implements ClientState {
  readonly name = 'server_certificate';
  readonly awaitingFinished = false;
  constructor(
    private readonly c: Client,
    private readonly n: Negotiated,
    private readonly kx: ClientAgreement,
  ) {}

  handle(m: HandshakeMessage): Promise<ClientState> {
    if (m.msgType !== HandshakeType.certificate) throw unexpected(m, this.name);
    const { host, cfg, crypto } = this.c;
    host.transcript.add(m.msgType, m.messageSeq, m.body);
    const cert = parseCertificate(m.body, this.kx.serverCertificateType);
    if (isEmptyCertificate(cert)) {
      throw new DtlsAlertError(AlertDescription.handshake_failure, 'the server sent no certificate');
    }
    return crypto
      .verifyPeerCertificate(cert, cfg.pki?.trust, { peerRole: 'server', serverName: cfg.serverName ?? cfg.peerName })
      .then((v) => new ExpectServerKeyExchange(this.c, this.n, this.kx, v.identity, v.publicKey));
  }
}

/** ServerKeyExchange: required after a certificate; a PSK server may go straight to ServerHelloDone. */
class ExpectServerKeyExchange implements ClientState {
  readonly name = 'server_key_exchange';
  readonly awaitingFinished = false;
  constructor(
    private readonly c: Client,
    private readonly n: Negotiated,
    private readonly kx: ClientAgreement,
    private readonly server: PeerIdentity,
    /** The key of the server's certificate: it signed the ServerKeyExchange, and it may ask for ours. */
    private readonly serverKey: KeyObject | undefined,
  ) {}

  handle(m: HandshakeMessage): ClientState {
    if (m.msgType === HandshakeType.server_key_exchange) {
      this.c.host.transcript.add(m.msgType, m.messageSeq, m.body);
      const maker = this.kx.serverKeyExchange(m.body, this.serverKey);
      this.c.hint = maker.hint;
      // RFC 5246 §7.4.4: only a server that authenticated with a certificate may request one.
      return this.serverKey
        ? new ExpectCertificateRequest(this.c, this.n, this.kx, this.server, maker)
        : new ExpectServerHelloDone(this.c, this.n, this.kx, this.server, maker, false);
    }
    if (m.msgType === HandshakeType.server_hello_done && !this.kx.serverKeyExchangeRequired) {
      return sendKeyExchange(this.c, this.n, this.kx, this.server, this.kx.withoutServerKeyExchange(), false, m);
    }
    throw unexpected(m, this.name);
  }
}

/** A server with a certificate may ask for ours (RFC 5246 §7.4.4), once. */
class ExpectCertificateRequest implements ClientState {
  readonly name = 'certificate_request';
  readonly awaitingFinished = false;
  constructor(
    private readonly c: Client,
    private readonly n: Negotiated,
    private readonly kx: ClientAgreement,
    private readonly server: PeerIdentity,
    private readonly maker: ClientKeyMaker,
  ) {}

  handle(m: HandshakeMessage): ClientState {
    if (m.msgType === HandshakeType.certificate_request) {
      this.c.host.transcript.add(m.msgType, m.messageSeq, m.body);
      parseCertificateRequest(m.body);
      return new ExpectServerHelloDone(this.c, this.n, this.kx, this.server, this.maker, true);
    }
    if (m.msgType === HandshakeType.server_hello_done) {
      return sendKeyExchange(this.c, this.n, this.kx, this.server, this.maker, false, m);
    }
    throw unexpected(m, this.name);
  }
}

class ExpectServerHelloDone implements ClientState {
  readonly name = 'server_hello_done';
  readonly awaitingFinished = false;
  constructor(
    private readonly c: Client,
    private readonly n: Negotiated,
    private readonly kx: ClientAgreement,
    private readonly server: PeerIdentity,
    private readonly maker: ClientKeyMaker,
    private readonly certificateRequested: boolean,
  ) {}

  handle(m: HandshakeMessage): ClientState {
    if (m.msgType !== HandshakeType.server_hello_done) throw unexpected(m, this.name);
    return sendKeyExchange(this.c, this.n, this.kx, this.server, this.maker, this.certificateRequested, m);
  }
}

/** The ServerHelloDone `m` ends flight 4: flight 5 goes out, and the server's Finished is next. */
function sendKeyExchange(
  c: Client,
  n: Negotiated,
  kx: ClientAgreement,
  server: PeerIdentity,
  maker: ClientKeyMaker,
  certificateRequested: boolean,
  m: HandshakeMessage,
): ClientState {
  const { host, cfg, crypto } = c;
  parseServerHelloDone(m.body);
  const t = host.transcript;
  t.add(m.msgType, m.messageSeq, m.body);
  const items: FlightItem[] = [];
  const push = (msgType: number, body: Buffer, epoch = 0) => {
    const messageSeq = c.sendSeq++;
    t.add(msgType, messageSeq, body);
    items.push({ kind: 'handshake', msgType, messageSeq, body, epoch, pack: cfg.profile === 'lean' });
  };
  let certificateVerifyKey: KeyObject | undefined;
  if (certificateRequested) {
    // RFC 5246 §7.4.6: answer a CertificateRequest with our Certificate, empty when we have none of that type.
    const own = ownCertificateMessage(cfg.pki, kx.clientCertificateType);
    push(HandshakeType.certificate, encodeCertificate(own));
    if (!isEmptyCertificate(own)) certificateVerifyKey = signingKey(cfg.pki, kx.clientCertificateType);
  }
  const { body, premaster } = maker.clientKeyExchange();
  push(HandshakeType.client_key_exchange, body);
  const master = n.ems
    ? crypto.extendedMasterSecret(premaster, t.digest('client_key_exchange', 'session_hash'))
    : crypto.masterSecret(premaster, c.clientRandom, n.serverRandom);
  c.installKeys(n, master, 'client_key_exchange');
  if (certificateVerifyKey) {
    push(HandshakeType.certificate_verify, makeCertificateVerify(certificateVerifyKey, t.messages(), crypto));
  }
  items.push({ kind: 'change_cipher_spec', epoch: 0 });
  push(HandshakeType.finished, ownFinished(master, 'client finished', t, crypto), 1);
  host.records.writeEpoch = 1;
  host.sendFlight(items, false);
  return new ExpectServerFinished(c, n, master, server);
}

class ExpectServerFinished implements ClientState {
  readonly name = 'finished';
  readonly awaitingFinished = true;
  constructor(
    private readonly c: Client,
    private readonly n: Negotiated,
    private readonly master: Buffer,
    private readonly server: PeerIdentity,
  ) {}

  handle(m: HandshakeMessage): ClientState {
    if (m.msgType !== HandshakeType.finished) throw unexpected(m, this.name);
    checkPeerFinished(m, this.master, 'server finished', this.c.host.transcript, this.c.crypto);
    // Kept beside the record keys (one buffer for all the association's secret bytes).
    const session = this.c.host.records.keepWithKeys({
      id: this.n.sessionId,
      masterSecret: this.master,
      cipherSuite: this.n.suite.code,
      extendedMasterSecret: this.n.ems,
      identity: this.server,
      createdAt: Date.now(),
    });
    this.c.host.complete({ suite: this.n.suite, identity: session.identity, resumed: false, session });
    return DONE;
  }
}

/** Resumption: the server's Finished came first; ours ends the handshake. */
class ExpectServerFinishedResumed implements ClientState {
  readonly name = 'finished_abbreviated';
  readonly awaitingFinished = true;
  constructor(
    private readonly c: Client,
    private readonly n: Negotiated,
    private readonly session: SessionState,
  ) {}

  handle(m: HandshakeMessage): ClientState {
    if (m.msgType !== HandshakeType.finished) throw unexpected(m, this.name);
    const { host, crypto } = this.c;
    const t = host.transcript;
    const master = this.session.masterSecret;
    checkPeerFinished(m, master, 'server finished', t, crypto);
    t.add(m.msgType, m.messageSeq, m.body);
    const fin = ownFinished(master, 'client finished', t, crypto);
    host.records.writeEpoch = 1;
    host.sendFlight(changeCipherSpecAndFinished(this.c.sendSeq++, fin), true);
    const s = host.records.keepWithKeys(this.session);
    host.complete({ suite: this.n.suite, identity: s.identity, resumed: true, session: s });
    return DONE;
  }
}

export class ClientHandshake implements RoleHandshake {
  private readonly c: Client;
  private state: ClientState = NOT_STARTED;

  constructor(host: HandshakeHost, cfg: ClientConfig) {
    this.c = new Client(host, cfg);
  }

  get waitingFirst(): boolean {
    return this.state instanceof ExpectServerHello;
  }
  get awaitingFinished(): boolean {
    return this.state.awaitingFinished;
  }
  /** The PSK identity hint the server sent, if any (RFC 4279 §2). */
  get hint(): string | undefined {
    return this.c.hint;
  }

  start(): void {
    this.state = this.c.sendHello(Buffer.alloc(0));
  }

  pickFirst(buf: ReassemblyBuffer): void {
    const state = this.state;
    if (!(state instanceof ExpectServerHello)) return;
    const hvr = buf.findComplete(HandshakeType.hello_verify_request);
    const sh = buf.findComplete(HandshakeType.server_hello);
    const { host } = this.c;
    if (sh !== undefined) {
      buf.discardBelow(sh);
      host.setNextRecvSeq(sh);
      return;
    }
    if (hvr === undefined) return;
    const m = buf.take(hvr);
    if (!m) return;
    host.meter?.handshakeMessage('in', 'hello_verify_request', m.body.length);
    const v = parseHelloVerifyRequest(m.body);
    if (v.serverVersion !== DTLS1_0 && v.serverVersion !== DTLS1_2) {
      throw new DtlsAlertError(AlertDescription.protocol_version, 'HelloVerifyRequest with an unknown version');
    }
    // A duplicate of the HelloVerifyRequest we already answered: our retransmission timer covers it.
    if (v.cookie.equals(state.hello.cookie)) return;
    // A second, different cookie: answer once more but never loop forever.
    if (this.c.sendSeq > 4)
      throw new DtlsAlertError(AlertDescription.handshake_failure, 'too many HelloVerifyRequests');
    // The server numbers its records afresh after a stateless HelloVerifyRequest (RFC 6347 §4.2.1).
    host.records.resetReadWindow(0);
    this.state = this.c.sendHello(Buffer.from(v.cookie));
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
}

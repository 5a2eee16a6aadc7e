/**
 * The client side of the DTLS 1.2 handshake, flight by flight (RFC 6347 §4.2.4, RFC 5246 §7.3):
 *   flight 1  ClientHello                       → flight 2  HelloVerifyRequest (optional)
 *   flight 3  ClientHello + cookie              → flight 4  ServerHello [ServerKeyExchange] ServerHelloDone
 *   flight 5  ClientKeyExchange CCS Finished    → flight 6  CCS Finished
 * Abbreviated (resumption): flight 4 is ServerHello CCS Finished and the client answers CCS Finished.
 */
import type { KeyObject } from 'node:crypto';
import type { PeerIdentity } from '../credentials/identity.ts';
import {
  acceptServerCertificateTypes,
  clientHelloEccExtensions,
  ownCertificateMessage,
  type PublicKeyCredentials,
  signingKey,
  verifyPeerCertificate,
} from '../credentials/keys.ts';
import { checkServerKeyExchange, makeCertificateVerify, makeClientKeyExchange } from '../crypto/ecc.ts';
import { extendedMasterSecret, keyBlock, masterSecret } from '../crypto/keys.ts';
import { pskPremaster } from '../crypto/psk.ts';
import { randomOwnBytes } from '../crypto/random.ts';
import { type CipherSuite, suiteByCode, TLS_EMPTY_RENEGOTIATION_INFO_SCSV } from '../crypto/suites.ts';
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import { ownCopy } from '../wire/buffer.ts';
import { encodeCertificate, isEmptyCertificate, parseCertificate } from '../wire/certificate.ts';
import { parseCertificateRequest } from '../wire/certificate-request.ts';
import { encodeClientHello } from '../wire/client-hello.ts';
import { encodeClientKeyExchangePsk } from '../wire/client-key-exchange.ts';
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
import {
  CertificateType,
  EXT_CLIENT_CERTIFICATE_TYPE,
  EXT_EC_POINT_FORMATS,
  EXT_SERVER_CERTIFICATE_TYPE,
  parseCertificateTypeList,
  parseCertificateTypeSelected,
} from '../wire/extensions-ecc.ts';
import { HandshakeType } from '../wire/handshake.ts';
import { parseHelloVerifyRequest } from '../wire/hello-verify-request.ts';
import { DTLS1_0, DTLS1_2 } from '../wire/record.ts';
import { parseServerHello } from '../wire/server-hello.ts';
import { parseServerHelloDone } from '../wire/server-hello-done.ts';
import { parseServerKeyExchangePsk } from '../wire/server-key-exchange.ts';
import { changeCipherSpecAndFinished, checkPeerFinished, ownFinished } from './finished.ts';
import type { FlightItem } from './flight.ts';
import type { HandshakeMessage, ReassemblyBuffer } from './reassembly.ts';
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

type State =
  | 'hello'
  | 'server_certificate'
  | 'server_key_exchange'
  | 'server_hello_done'
  | 'finished'
  | 'finished_abbreviated'
  | 'done';

const unexpected = (m: HandshakeMessage, state: string) =>
  new DtlsAlertError(AlertDescription.unexpected_message, `unexpected handshake message ${m.msgType} in ${state}`);

export class ClientHandshake implements RoleHandshake {
  private state: State = 'hello';
  private readonly clientRandom = randomOwnBytes(32);
  private cookie: Buffer = Buffer.alloc(0);
  private sendSeq = 0;
  private helloSeq = 0;
  private helloBody: Buffer = Buffer.alloc(0);
  private readonly offered: CipherSuite[];
  private suite: CipherSuite | undefined;
  private serverRandom: Buffer = Buffer.alloc(0);
  private sessionId: Buffer = Buffer.alloc(0);
  private ems = false;
  private master: Buffer = Buffer.alloc(0);
  private identityHint: string | undefined;
  private sentTypes: { clientCertificateTypes?: number[]; serverCertificateTypes?: number[] } = {};
  private types = { server: CertificateType.X509 as number, client: CertificateType.X509 as number };
  private serverIdentity: PeerIdentity | undefined;
  private serverPublicKey: KeyObject | undefined;
  private serverPoint: Buffer | undefined;
  private certificateRequested = false;

  constructor(
    private readonly host: HandshakeHost,
    private readonly cfg: ClientConfig,
  ) {
    const offered: CipherSuite[] = [];
    const psk = suiteByCode(0xc0a8);
    const ecdhe = suiteByCode(0xc0ae);
    if (cfg.psk && psk) offered.push(psk);
    // The public-key suite needs something to verify the server with.
    if (ecdhe && (cfg.pki?.trust?.anchors || cfg.pki?.trust?.pinnedKeys || cfg.pki?.trust?.rpkLookup)) {
      offered.push(ecdhe);
    }
    if (offered.length === 0) {
      throw new Error('DTLS client: no credentials configured (psk, or trust anchors / pinned keys)');
    }
    this.offered = offered;
    if (offered.some((s) => s.keyExchange === 'ecdhe_ecdsa')) this.host.transcript.keepMessages();
  }

  get waitingFirst(): boolean {
    return this.state === 'hello';
  }
  get awaitingFinished(): boolean {
    return this.state === 'finished' || this.state === 'finished_abbreviated';
  }
  /** The PSK identity hint the server sent, if any (RFC 4279 §2). */
  get hint(): string | undefined {
    return this.identityHint;
  }

  start(): void {
    this.sendHello();
  }

  private sendHello(): void {
    const lean = this.cfg.profile === 'lean';
    // Lean: secure renegotiation signalled by the SCSV (2 bytes in cipher_suites, RFC 5746 §3.3)
    // instead of the empty extension (5 bytes); the server answers with the extension either way.
    const extensions: Extension[] = lean ? [emsExtension()] : [renegotiationInfo(), emsExtension()];
    // server_name: the name given, else the host connected to, when it is a host name (RFC 6066 §3).
    const sni = this.cfg.serverName ?? this.cfg.peerName;
    if (sni && isValidHostName(sni)) extensions.push(serverNameExtension(sni));
    if (this.cfg.connectionId) extensions.push(connectionIdExtension(this.cfg.connectionId));
    if (this.offered.some((s) => s.keyExchange === 'ecdhe_ecdsa')) {
      // Lean: no ec_point_formats; RFC 8422 §5.1.2 makes its absence mean uncompressed only.
      const ecc = clientHelloEccExtensions(this.cfg.pki).filter((e) => !lean || e.type !== EXT_EC_POINT_FORMATS);
      extensions.push(...ecc);
      const list = (type: number) => {
        const e = ecc.find((x) => x.type === type);
        return e ? parseCertificateTypeList(e.data) : undefined;
      };
      this.sentTypes = {
        clientCertificateTypes: list(EXT_CLIENT_CERTIFICATE_TYPE),
        serverCertificateTypes: list(EXT_SERVER_CERTIFICATE_TYPE),
      };
    }
    this.helloBody = encodeClientHello({
      clientVersion: DTLS1_2,
      random: this.clientRandom,
      sessionId: this.cfg.session?.id ?? Buffer.alloc(0),
      cookie: this.cookie,
      cipherSuites: lean
        ? [...this.offered.map((s) => s.code), TLS_EMPTY_RENEGOTIATION_INFO_SCSV]
        : this.offered.map((s) => s.code),
      compressionMethods: [0],
      extensions,
    });
    this.helloSeq = this.sendSeq++;
    this.host.sendFlight(
      [
        {
          kind: 'handshake',
          msgType: HandshakeType.client_hello,
          messageSeq: this.helloSeq,
          body: this.helloBody,
          epoch: 0,
        },
      ],
      false,
    );
  }

  pickFirst(buf: ReassemblyBuffer): void {
    const hvr = buf.findComplete(HandshakeType.hello_verify_request);
    const sh = buf.findComplete(HandshakeType.server_hello);
    if (sh !== undefined) {
      buf.discardBelow(sh);
      this.host.setNextRecvSeq(sh);
      return;
    }
    if (hvr === undefined) return;
    const m = buf.take(hvr)!;
    this.host.meter?.handshakeMessage('in', 'hello_verify_request', m.body.length);
    const v = parseHelloVerifyRequest(m.body);
    if (v.serverVersion !== DTLS1_0 && v.serverVersion !== DTLS1_2) {
      throw new DtlsAlertError(AlertDescription.protocol_version, 'HelloVerifyRequest with an unknown version');
    }
    // A duplicate of the HelloVerifyRequest we already answered: our retransmission timer covers it.
    if (v.cookie.equals(this.cookie)) return;
    if (this.sendSeq > 1) {
      // A second, different cookie: answer once more but never loop forever.
      if (this.sendSeq > 4)
        throw new DtlsAlertError(AlertDescription.handshake_failure, 'too many HelloVerifyRequests');
    }
    this.cookie = Buffer.from(v.cookie);
    // The server numbers its records afresh after a stateless HelloVerifyRequest (RFC 6347 §4.2.1).
    this.host.records.resetReadWindow(0);
    this.sendHello();
  }

  async onMessage(m: HandshakeMessage): Promise<void> {
    switch (this.state) {
      case 'server_certificate': {
        if (m.msgType !== HandshakeType.certificate) throw unexpected(m, this.state);
        this.host.transcript.add(m.msgType, m.messageSeq, m.body);
        const cert = parseCertificate(m.body, this.types.server);
        if (isEmptyCertificate(cert)) {
          throw new DtlsAlertError(AlertDescription.handshake_failure, 'the server sent no certificate');
        }
        const v = await verifyPeerCertificate(cert, this.cfg.pki?.trust, {
          peerRole: 'server',
          serverName: this.cfg.serverName ?? this.cfg.peerName,
          meter: this.host.meter,
        });
        this.serverIdentity = v.identity;
        this.serverPublicKey = v.publicKey;
        this.state = 'server_key_exchange';
        return;
      }
      case 'server_key_exchange': {
        if (m.msgType !== HandshakeType.server_key_exchange) throw unexpected(m, this.state);
        this.host.transcript.add(m.msgType, m.messageSeq, m.body);
        this.serverPoint = checkServerKeyExchange(
          m.body,
          this.serverPublicKey!,
          this.clientRandom,
          this.serverRandom,
          this.host.meter,
        ).serverPoint;
        this.state = 'server_hello_done';
        return;
      }
      case 'hello':
        if (m.msgType === HandshakeType.hello_verify_request) return; // handled in pickFirst; stale copy
        if (m.msgType !== HandshakeType.server_hello) throw unexpected(m, this.state);
        this.onServerHello(m);
        return;
      case 'server_hello_done':
        if (m.msgType === HandshakeType.certificate_request && this.suite?.keyExchange === 'ecdhe_ecdsa') {
          this.host.transcript.add(m.msgType, m.messageSeq, m.body);
          parseCertificateRequest(m.body);
          this.certificateRequested = true;
          return;
        }
        if (m.msgType === HandshakeType.server_key_exchange) {
          this.host.transcript.add(m.msgType, m.messageSeq, m.body);
          if (this.suite?.keyExchange !== 'psk') throw unexpected(m, this.state);
          this.identityHint = parseServerKeyExchangePsk(m.body).identityHint.toString('utf8');
          return;
        }
        if (m.msgType !== HandshakeType.server_hello_done) throw unexpected(m, this.state);
        parseServerHelloDone(m.body);
        this.host.transcript.add(m.msgType, m.messageSeq, m.body);
        this.sendKeyExchange();
        return;
      case 'finished':
      case 'finished_abbreviated':
        if (m.msgType !== HandshakeType.finished) throw unexpected(m, this.state);
        this.onFinished(m);
        return;
      default:
        throw unexpected(m, this.state);
    }
  }

  private onServerHello(m: HandshakeMessage): void {
    const sh = parseServerHello(m.body);
    if (sh.serverVersion !== DTLS1_2) {
      throw new DtlsAlertError(AlertDescription.protocol_version, 'server chose a version other than DTLS 1.2');
    }
    const suite = this.offered.find((s) => s.code === sh.cipherSuite);
    if (!suite)
      throw new DtlsAlertError(AlertDescription.illegal_parameter, 'server chose a cipher suite we did not offer');
    if (sh.compressionMethod !== 0) {
      throw new DtlsAlertError(AlertDescription.illegal_parameter, 'server chose a compression method');
    }
    const allowed = new Set<number>([
      ExtensionType.renegotiation_info,
      ExtensionType.extended_master_secret,
      ExtensionType.server_name,
    ]);
    if (this.cfg.connectionId) allowed.add(ExtensionType.connection_id);
    if (suite.keyExchange === 'ecdhe_ecdsa') {
      allowed.add(EXT_EC_POINT_FORMATS);
      allowed.add(EXT_CLIENT_CERTIFICATE_TYPE);
      allowed.add(EXT_SERVER_CERTIFICATE_TYPE);
    }
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
    this.suite = suite;
    this.serverRandom = ownCopy(sh.random);
    this.sessionId = ownCopy(sh.sessionId);
    this.ems = findExtension(sh.extensions, ExtensionType.extended_master_secret) !== undefined;
    const cid = findExtension(sh.extensions, ExtensionType.connection_id);
    if (cid && this.cfg.connectionId) {
      this.host.records.setConnectionIds(this.cfg.connectionId, ownCopy(parseConnectionIdExtension(cid)));
    }
    const t = this.host.transcript;
    t.reset();
    t.add(HandshakeType.client_hello, this.helloSeq, this.helloBody);
    t.add(m.msgType, m.messageSeq, m.body);
    const s = this.cfg.session;
    if (s && sh.sessionId.length > 0 && sh.sessionId.equals(s.id)) {
      // RFC 7627 §5.3: a session resumes only with the same extended-master-secret setting.
      if (s.extendedMasterSecret !== this.ems || s.cipherSuite !== suite.code) {
        throw new DtlsAlertError(AlertDescription.handshake_failure, 'resumed session parameters differ');
      }
      this.master = s.masterSecret;
      this.installKeys('server_hello');
      this.state = 'finished_abbreviated';
      return;
    }
    if (suite.keyExchange === 'ecdhe_ecdsa') {
      const answer = (type: number, what: string) => {
        const e = findExtension(sh.extensions, type);
        return e ? parseCertificateTypeSelected(e.data, what) : undefined;
      };
      this.types = acceptServerCertificateTypes(this.sentTypes, {
        clientCertificateType: answer(EXT_CLIENT_CERTIFICATE_TYPE, 'client_certificate_type'),
        serverCertificateType: answer(EXT_SERVER_CERTIFICATE_TYPE, 'server_certificate_type'),
      });
      this.state = 'server_certificate';
      return;
    }
    this.state = 'server_hello_done';
  }

  /** `context`: the message the key block is charged to (ClientKeyExchange, or ServerHello on resumption). */
  private installKeys(context: 'client_key_exchange' | 'server_hello'): void {
    const kb = keyBlock(this.suite!, this.master, this.clientRandom, this.serverRandom, this.host.meter, context);
    this.host.records.installKeys(
      1,
      { key: kb.clientWriteKey, iv: kb.clientWriteIv },
      { key: kb.serverWriteKey, iv: kb.serverWriteIv },
    );
  }

  private sendKeyExchange(): void {
    const t = this.host.transcript;
    const items: FlightItem[] = [];
    const push = (msgType: number, body: Buffer, epoch = 0) => {
      const messageSeq = this.sendSeq++;
      t.add(msgType, messageSeq, body);
      items.push({ kind: 'handshake', msgType, messageSeq, body, epoch, pack: this.cfg.profile === 'lean' });
    };
    let cke: Buffer;
    let pms: Buffer;
    let certificateVerifyKey: KeyObject | undefined;
    if (this.suite!.keyExchange === 'ecdhe_ecdsa') {
      if (this.certificateRequested) {
        // RFC 5246 §7.4.6: answer a CertificateRequest with our Certificate, empty when we have none of that type.
        const own = ownCertificateMessage(this.cfg.pki, this.types.client);
        push(HandshakeType.certificate, encodeCertificate(own));
        if (!isEmptyCertificate(own)) certificateVerifyKey = signingKey(this.cfg.pki, this.types.client);
      }
      const kx = makeClientKeyExchange(this.serverPoint!, this.host.meter);
      cke = kx.body;
      pms = kx.premasterSecret;
    } else {
      const psk = this.cfg.psk!;
      cke = encodeClientKeyExchangePsk({ identity: Buffer.from(psk.identity, 'utf8') });
      pms = pskPremaster(psk.key);
    }
    push(HandshakeType.client_key_exchange, cke);
    this.master = this.ems
      ? extendedMasterSecret(pms, t.digest('client_key_exchange', 'session_hash'), this.host.meter)
      : masterSecret(pms, this.clientRandom, this.serverRandom, this.host.meter);
    this.installKeys('client_key_exchange');
    if (certificateVerifyKey) {
      push(
        HandshakeType.certificate_verify,
        makeCertificateVerify(certificateVerifyKey, t.messages(), this.host.meter),
      );
    }
    items.push({ kind: 'change_cipher_spec', epoch: 0 });
    const fin = ownFinished(this.master, 'client finished', this.host);
    push(HandshakeType.finished, fin, 1);
    this.host.records.writeEpoch = 1;
    this.state = 'finished';
    this.host.sendFlight(items, false);
  }

  private onFinished(m: HandshakeMessage): void {
    checkPeerFinished(m, this.master, 'server finished', this.host);
    const t = this.host.transcript;
    const identity: PeerIdentity = this.serverIdentity ?? { mode: 'psk', identity: this.cfg.psk?.identity ?? '' };
    // Kept beside the record keys (one buffer for all the association's secret bytes).
    const session = this.host.records.keepWithKeys(
      this.state === 'finished_abbreviated'
        ? this.cfg.session!
        : {
            id: this.sessionId,
            masterSecret: this.master,
            cipherSuite: this.suite!.code,
            extendedMasterSecret: this.ems,
            identity,
            createdAt: Date.now(),
          },
    );
    if (this.state === 'finished_abbreviated') {
      t.add(m.msgType, m.messageSeq, m.body);
      const fin = ownFinished(this.master, 'client finished', this.host);
      this.host.records.writeEpoch = 1;
      this.host.sendFlight(changeCipherSpecAndFinished(this.sendSeq++, fin), true);
    }
    const resumed = this.state === 'finished_abbreviated';
    this.state = 'done';
    this.host.complete({ suite: this.suite!, identity: session.identity, resumed, session });
  }
}

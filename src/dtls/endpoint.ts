/**
 * A DTLS endpoint owns one UDP socket (udp4 or udp6) and demultiplexes its datagrams to
 * associations keyed by peer address and port. As a server it answers a ClientHello without a
 * valid cookie with a stateless HelloVerifyRequest (RFC 6347 §4.2.1): HMAC-SHA256 over the peer's
 * address and the ClientHello, under a secret rotated every few minutes (the previous secret is
 * still accepted), so that no per-peer state exists before the peer proved it can receive at its
 * address. It enforces the limits (handshakes in progress, sessions, idle time) and keeps the
 * session cache.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { Logger } from '../util/log.ts';
import { Association } from './association.ts';
import { type AssociationTable, MapAssociationTable, MemorySessionCache, type SessionCache } from './cache.ts';
import { type ClientConfig, ClientHandshake } from './handshake/client.ts';
import { DEFAULT_MTU, MIN_MTU } from './handshake/flight.ts';
import { type ServerConfig, ServerHandshake } from './handshake/server.ts';
import type { PeerAddress } from './handshake/types.ts';
import type { DtlsMeter } from './meter.ts';
import { ownCopy } from './wire/buffer.ts';
import { type ClientHello, parseClientHello } from './wire/client-hello.ts';
import { encodeHandshakeMessage, HandshakeType, parseHandshakeFragments } from './wire/handshake.ts';
import { encodeHelloVerifyRequest } from './wire/hello-verify-request.ts';
import { ContentType, DTLS1_0, type DtlsRecord, encodeRecord, parseRecords } from './wire/record.ts';

export interface EndpointOptions {
  mtu?: number;
  retransmitInitialMs?: number;
  retransmitMaxMs?: number;
  maxRetransmits?: number;
  meter?: DtlsMeter;
  logger?: Logger;
  /** Server role: credentials and limits. */
  server?: ServerConfig & {
    maxHandshakes?: number;
    maxSessions?: number;
    idleTimeoutMs?: number;
    /** Cookie secret lifetime (default 5 minutes). */
    cookieRotateMs?: number;
  };
  sessionCache?: SessionCache;
  associations?: AssociationTable<Association>;
}

const peerKey = (address: string, port: number) => `${address}|${port}`;

/** The cookie secret: current and previous, rotated on a timer (RFC 6347 §4.2.1). */
class CookieSecrets {
  private current = randomBytes(32);
  private previous = randomBytes(32);
  private rotatedAt = Date.now();
  constructor(private readonly rotateMs: number) {}
  private maybeRotate(): void {
    if (Date.now() - this.rotatedAt >= this.rotateMs) {
      this.previous = this.current;
      this.current = randomBytes(32);
      this.rotatedAt = Date.now();
    }
  }
  private mac(secret: Buffer, peer: RemoteInfo, ch: ClientHello): Buffer {
    const suites = Buffer.alloc(ch.cipherSuites.length * 2);
    ch.cipherSuites.forEach((s, i) => {
      suites.writeUInt16BE(s, i * 2);
    });
    return createHmac('sha256', secret)
      .update(`${peer.address}|${peer.port}|`)
      .update(Buffer.of(ch.clientVersion >> 8, ch.clientVersion & 0xff))
      .update(ch.random)
      .update(Buffer.of(ch.sessionId.length))
      .update(ch.sessionId)
      .update(suites)
      .digest();
  }
  /** A cookie for a HelloVerifyRequest: one HMAC, reported to the meter as preparing that message. */
  make(peer: RemoteInfo, ch: ClientHello, meter: DtlsMeter | undefined): Buffer {
    this.maybeRotate();
    meter?.crypto('hmac', 1, 'hello_verify_request', 'cookie');
    return this.mac(this.current, peer, ch);
  }
  /**
   * Checks the cookie a ClientHello returns: one HMAC under the current secret, a second under the
   * previous one when the first does not match; each reported as processing the ClientHello.
   */
  verify(peer: RemoteInfo, ch: ClientHello, meter: DtlsMeter | undefined): boolean {
    this.maybeRotate();
    if (ch.cookie.length !== 32) return false;
    meter?.crypto('hmac', 1, 'client_hello', 'cookie');
    if (timingSafeEqual(ch.cookie, this.mac(this.current, peer, ch))) return true;
    meter?.crypto('hmac', 1, 'client_hello', 'cookie');
    return timingSafeEqual(ch.cookie, this.mac(this.previous, peer, ch));
  }
}

export class DtlsEndpoint extends EventEmitter {
  readonly socket: Socket;
  readonly associations: AssociationTable<Association>;
  readonly sessionCache: SessionCache;
  private readonly cookies: CookieSecrets;
  private readonly mtu: number;
  private handshakes = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  /** Counters for tests and the benchmark: datagrams dropped before reaching any association. */
  readonly stats = { dropped: 0, helloVerifyRequests: 0, refusedByLimit: 0 };

  private constructor(
    socket: Socket,
    private readonly opts: EndpointOptions,
  ) {
    super();
    this.socket = socket;
    this.associations = opts.associations ?? new MapAssociationTable<Association>();
    this.sessionCache = opts.sessionCache ?? new MemorySessionCache();
    this.cookies = new CookieSecrets(opts.server?.cookieRotateMs ?? 300_000);
    this.mtu = Math.max(MIN_MTU, opts.mtu ?? DEFAULT_MTU);
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    socket.on('error', (err) => opts.logger?.warn({ err: err.message }, 'dtls socket error'));
    const idle = opts.server?.idleTimeoutMs;
    if (idle && idle > 0) {
      this.sweeper = setInterval(() => this.sweep(idle), Math.max(50, Math.min(idle / 2, 30_000)));
      this.sweeper.unref();
    }
  }

  /** Binds a UDP socket. `family` defaults to the family of `host` (IPv4 when none). */
  static async open(
    opts: EndpointOptions & { host?: string; port?: number; family?: 'IPv4' | 'IPv6' },
  ): Promise<DtlsEndpoint> {
    const v6 = opts.family ? opts.family === 'IPv6' : (opts.host ?? '').includes(':');
    const socket = createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.port ?? 0, opts.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new DtlsEndpoint(socket, opts);
  }

  address(): PeerAddress {
    const a = this.socket.address();
    return { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
  }

  private pendingSends = 0;
  private flushed: (() => void) | undefined;

  /** Sends a datagram; close() waits for the ones in flight (a close_notify must leave before the socket closes). */
  private sendDatagram(d: Buffer, port: number, address: string): void {
    if (this.closed) return;
    this.pendingSends++;
    this.socket.send(d, port, address, () => {
      this.pendingSends--;
      if (this.pendingSends === 0) this.flushed?.();
    });
  }

  /** Handshakes in progress and established sessions. */
  counts(): { handshakes: number; sessions: number } {
    return { handshakes: this.handshakes, sessions: this.associations.size - this.handshakes };
  }

  private newAssociation(
    role: 'client' | 'server',
    remote: PeerAddress,
    overrides: { mtu?: number; retransmitInitialMs?: number; retransmitMaxMs?: number; maxRetransmits?: number } = {},
  ): Association {
    const o = { ...this.opts, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
    const a = new Association({
      role,
      remote,
      send: (d) => this.sendDatagram(d, remote.port, remote.address),
      mtu: Math.max(MIN_MTU, o.mtu ?? this.mtu),
      retransmitInitialMs: o.retransmitInitialMs ?? 1000,
      retransmitMaxMs: o.retransmitMaxMs ?? 60_000,
      maxRetransmits: o.maxRetransmits ?? 6,
      meter: o.meter,
      logger: o.logger,
    });
    const key = peerKey(remote.address, remote.port);
    this.handshakes++;
    let counted = true;
    const uncount = () => {
      if (counted) this.handshakes--;
      counted = false;
    };
    a.once('established', uncount);
    // Registered here, not where the ClientHello is parsed: a long-lived listener must not share a
    // closure scope with the ClientHello and the handshake state (it would keep them alive).
    if (role === 'server') a.once('established', () => this.emit('connection', a));
    a.once('closed', (err?: Error) => {
      uncount();
      if (this.associations.get(key) === a) this.associations.delete(key);
      if (role === 'server' && err && !a.wasEstablished) this.emit('handshakeError', err, remote);
    });
    this.associations.set(key, a);
    return a;
  }

  // --- client role ---------------------------------------------------------------------------------

  /** Starts a client handshake with `remote`; resolves with the established association. */
  async connect(
    remote: PeerAddress,
    cfg: ClientConfig,
    timing: { mtu?: number; retransmitInitialMs?: number; retransmitMaxMs?: number; maxRetransmits?: number } = {},
  ): Promise<Association> {
    const key = peerKey(remote.address, remote.port);
    const old = this.associations.get(key);
    if (old) old.destroy();
    const a = this.newAssociation('client', remote, timing);
    const hs = new ClientHandshake(a, cfg);
    a.role = hs;
    hs.start();
    await a.handshakeDone();
    return a;
  }

  // --- input -----------------------------------------------------------------------------------------

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    try {
      const records = parseRecords(msg);
      if (records.length === 0) {
        this.stats.dropped++;
        return;
      }
      const key = peerKey(rinfo.address, rinfo.port);
      const a = this.associations.get(key);
      const first = records[0];
      if (this.opts.server && first.epoch === 0 && first.type === ContentType.handshake) {
        // A ClientHello at epoch 0: a new handshake, the retransmission of ours in progress, or a
        // client that restarted (RFC 6347 §4.2.8).
        if (a?.state !== 'handshake' || !a.role) {
          if (this.onClientHello(first, rinfo, a)) return;
          if (!a) return;
        }
      }
      if (!a) {
        this.stats.dropped++;
        return;
      }
      void a.receive(records);
    } catch (err) {
      // Nothing a peer sends may take the endpoint down.
      this.stats.dropped++;
      this.opts.logger?.debug({ err: (err as Error).message }, 'dtls datagram dropped');
    }
  }

  /**
   * Handles an epoch-0 ClientHello for a peer with no handshake in progress. Returns true when the
   * record was consumed (HelloVerifyRequest sent, or a new association started).
   */
  private onClientHello(rec: DtlsRecord, rinfo: RemoteInfo, existing: Association | undefined): boolean {
    let frags: ReturnType<typeof parseHandshakeFragments>;
    let ch: ClientHello;
    try {
      frags = parseHandshakeFragments(rec.fragment);
      const f = frags[0];
      if (!f || f.msgType !== HandshakeType.client_hello) return false;
      // The cookie exchange needs the whole ClientHello in one record.
      if (f.fragmentOffset !== 0 || f.fragment.length !== f.length) return true;
      ch = parseClientHello(f.fragment);
    } catch {
      // Not a ClientHello we can read. With no association it is dropped here; an association
      // gets the datagram's records as they are, so that this one record is dropped (or, in a
      // handshake, answered) there and the valid records behind it in the same datagram
      // (RFC 6347 §4.1.1) are not lost with it (§4.1.2.7 discards invalid records one by one).
      if (existing) return false;
      this.stats.dropped++;
      return true;
    }
    const f = frags[0];
    if (existing && existing.state === 'established') {
      // A retransmitted ClientHello of the handshake that established this association: ignore.
      if (existing.clientRandom?.equals(ch.random)) return true;
    }
    const meter = this.opts.meter;
    if (!this.cookies.verify(rinfo, ch, meter)) {
      const hvr = encodeHelloVerifyRequest({ serverVersion: DTLS1_0, cookie: this.cookies.make(rinfo, ch, meter) });
      // §4.2.1: the HelloVerifyRequest reuses the ClientHello's record sequence number and message_seq.
      const rec2 = encodeRecord({
        type: ContentType.handshake,
        version: DTLS1_0,
        epoch: 0,
        seq: rec.seq,
        fragment: encodeHandshakeMessage(HandshakeType.hello_verify_request, f.messageSeq, hvr),
      });
      this.stats.helloVerifyRequests++;
      // Stateless, so outside any association: the endpoint reports the message and its record.
      meter?.handshakeMessage('out', 'hello_verify_request', hvr.length);
      meter?.record('out', 'handshake', 0, rec2.length);
      this.sendDatagram(rec2, rinfo.port, rinfo.address);
      return true;
    }
    const srv = this.opts.server!;
    if (this.handshakes >= (srv.maxHandshakes ?? 1000) || this.counts().sessions >= (srv.maxSessions ?? 100_000)) {
      this.stats.refusedByLimit++;
      return true;
    }
    // A valid cookie from a peer that already has an established association: the client lost its
    // state (rebooted). Start afresh (§4.2.8); the old association is dropped.
    if (existing) existing.destroy();
    const remote: PeerAddress = {
      address: rinfo.address,
      port: rinfo.port,
      family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    const a = this.newAssociation('server', remote);
    a.clientRandom = ownCopy(ch.random);
    const hs = new ServerHandshake(a, { ...srv, sessionCache: this.sessionCache });
    a.role = hs;
    a.records.unprotect(rec); // enters the ClientHello's sequence number into the replay window
    a.records.setWriteSeq(0, rec.seq);
    const m = { msgType: f.msgType, messageSeq: f.messageSeq, body: f.fragment, epoch: 0 };
    meter?.handshakeMessage('in', 'client_hello', f.length);
    void a.runExclusive(() => hs.onClientHello(ch, m));
    return true;
  }

  private sweep(idleMs: number): void {
    const now = Date.now();
    for (const a of [...this.associations.values()]) {
      if (a.state === 'established' && now - a.lastActivity > idleMs) a.destroy();
    }
  }

  /** Closes every association (close_notify to established peers) and the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const a of [...this.associations.values()]) await a.close();
    if (this.pendingSends > 0) {
      await new Promise<void>((resolve) => {
        this.flushed = resolve;
      });
    }
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

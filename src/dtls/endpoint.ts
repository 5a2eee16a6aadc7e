/**
 * A DTLS endpoint owns one UDP socket (udp4 or udp6) and demultiplexes its datagrams to
 * associations keyed by peer address and port. As a server it answers a ClientHello without a
 * valid cookie with a stateless HelloVerifyRequest (RFC 6347 §4.2.1, see cookie.ts), so that no
 * per-peer state exists before the peer proved it can receive at its address. Admission control
 * (admission.ts) decides what it keeps when full: the idlest session and the oldest half-open
 * handshake make room, nothing is refused silently, and `stats` counts every eviction, refusal
 * and drop.
 */

import { type RemoteInfo, Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { BatchUdpSocket, bindDgram, openServerSocket, type UdpSocket } from '../net/batch-udp.ts';
import type { Logger } from '../util/log.ts';
import {
  Admission,
  type AdmissionLimits,
  DEFAULT_LIMITS,
  type EndpointStats,
  type EvictionReason,
} from './admission.ts';
import { Association, type AssociationHost, type AssociationOptions } from './association.ts';
import {
  type AssociationTable,
  MapAssociationTable,
  MemorySessionCache,
  type PeerKey,
  peerKey,
  type SessionCache,
} from './cache.ts';
import { ClientHelloScan, COOKIE_LENGTH, CookieJar, LEAN_COOKIE_LENGTH, scanClientHello } from './cookie.ts';
import { randomOwnBytes } from './crypto/random.ts';
import { DtlsUnreachableError } from './errors.ts';
import { type ClientConfig, ClientHandshake } from './handshake/client.ts';
import { DEFAULT_MTU, MIN_MTU } from './handshake/flight.ts';
import { type ServerConfig, ServerHandshake } from './handshake/server.ts';
import type { PeerAddress } from './handshake/types.ts';
import type { DtlsMeter } from './meter.ts';
import { type ClientHello, parseClientHello } from './wire/client-hello.ts';
import { MAX_CID_LENGTH } from './wire/connection-id.ts';
import { parseHandshakeFragments } from './wire/handshake.ts';
import { ContentType, parseRecords } from './wire/record.ts';

/** How long close() waits for queued datagrams (close_notify) to leave. */
const CLOSE_FLUSH_MS = 1000;

/** A server's receive buffer, requested at bind: room for a burst of ClientHellos (the kernel may grant less). */
export const DEFAULT_SERVER_RECV_BUFFER = 4 * 1024 * 1024;

export interface EndpointOptions {
  mtu?: number;
  retransmitInitialMs?: number;
  retransmitMaxMs?: number;
  maxRetransmits?: number;
  meter?: DtlsMeter;
  logger?: Logger;
  /**
   * SO_RCVBUF to request at bind, in bytes (server default 4 MiB, client: the system default).
   * `recvBufferSize()` says what the kernel granted.
   */
  recvBufferSize?: number;
  /** Server role: credentials and limits (see {@link AdmissionLimits}; defaults in DEFAULT_LIMITS). */
  server?: ServerConfig &
    Partial<AdmissionLimits> & {
      /** Cookie secret lifetime (default 5 minutes). */
      cookieRotateMs?: number;
    };
  sessionCache?: SessionCache;
  /** Sessions the in-memory cache keeps when no `sessionCache` is given (default 100 000, oldest dropped first). */
  maxCachedSessions?: number;
  associations?: AssociationTable<Association>;
  /**
   * Connection ID (RFC 9146). Server: the length of the CIDs it gives clients that offer
   * `connection_id` (default {@link DEFAULT_SERVER_CID_LENGTH}; 0: it asks for none but still
   * sends the client's; `false`: the extension is ignored). Client: see `connect`'s `connectionId`.
   */
  connectionId?: { length: number; node?: number } | false;
  /**
   * SO_REUSEPORT: several processes bind the same port and the kernel spreads the flows among
   * them by a hash of the addresses (Linux). For a server run as several workers.
   */
  reusePort?: boolean;
  /**
   * Server with `connectionId.node`: a tls12_cid record whose CID names another node (it landed
   * here after the client's address changed) is passed to this function (see cid-forward.ts),
   * which returns true when it handed it over. The owner feeds it to {@link receiveHandedOver}.
   */
  cidHandOver?: (node: number, datagram: Buffer, from: PeerAddress) => boolean;
}

/**
 * The server's CID length: 8 random bytes. With `connectionId.node` set (a worker or host number,
 * 0..255), the first byte is that number and 7 random bytes remain, still far beyond a guess: a
 * record that lands on another node after the peer's address changed says where it belongs.
 */
export const DEFAULT_SERVER_CID_LENGTH = 8;

/** Checks a configured CID length (0 allowed: a peer that needs no CID). */
export function checkCidLength(length: number): number {
  if (!Number.isInteger(length) || length < 0 || length > MAX_CID_LENGTH) {
    throw new RangeError(`DTLS connection ID length must be 0..${MAX_CID_LENGTH}, got ${length}`);
  }
  return length;
}

/** How often the sweep runs: a quarter of the shortest time-out, between 50 ms and 1 s. */
function sweepInterval(l: AdmissionLimits): number {
  const shortest = Math.min(l.handshakeTimeoutMs, l.idleTimeoutMs > 0 ? l.idleTimeoutMs : Number.POSITIVE_INFINITY);
  return Math.max(50, Math.min(1000, shortest / 4));
}

export class DtlsEndpoint extends EventEmitter {
  /** A server's batched socket, or a dgram Socket (a client's; see {@link openServerSocket}). */
  readonly socket: UdpSocket;
  readonly associations: AssociationTable<Association>;
  readonly sessionCache: SessionCache;
  readonly limits: AdmissionLimits;
  private readonly admission: Admission<Association>;
  private readonly cookies: CookieJar;
  private readonly scan = new ClientHelloScan();
  private readonly mtu: number;
  /** Client handshakes in progress (server ones are admission's). */
  private clientHandshakes = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly host: AssociationHost;
  /** The one server of a client socket connected to it (see {@link connectSocket}). */
  private connectedTo: PeerAddress | undefined;
  /** Server: the length of the CIDs we give (undefined: CIDs not used). */
  private readonly cidLength: number | undefined;
  /** Server: the node number our CIDs start with, if any. */
  private readonly cidNode: number | undefined;
  /** Associations by their own CID (as a latin1 string), for records from a new address. */
  private readonly cids = new Map<string, Association>();
  /** Client: the lengths of the CIDs its connections chose. */
  private readonly clientCidLengths = new Set<number>();

  private constructor(
    socket: UdpSocket,
    private readonly opts: EndpointOptions,
  ) {
    super();
    this.socket = socket;
    this.associations = opts.associations ?? new MapAssociationTable<Association>();
    this.sessionCache = opts.sessionCache ?? new MemorySessionCache(opts.maxCachedSessions);
    this.cookies = new CookieJar(
      opts.server?.cookieRotateMs ?? 300_000,
      opts.server?.profile === 'lean' ? LEAN_COOKIE_LENGTH : COOKIE_LENGTH,
    );
    this.mtu = Math.max(MIN_MTU, opts.mtu ?? DEFAULT_MTU);
    const srv = opts.server;
    this.limits = {
      maxSessions: srv?.maxSessions ?? DEFAULT_LIMITS.maxSessions,
      maxHandshakes: srv?.maxHandshakes ?? DEFAULT_LIMITS.maxHandshakes,
      maxHandshakesPerAddress: srv?.maxHandshakesPerAddress ?? DEFAULT_LIMITS.maxHandshakesPerAddress,
      handshakeTimeoutMs: srv?.handshakeTimeoutMs ?? DEFAULT_LIMITS.handshakeTimeoutMs,
      // A client endpoint keeps its sessions until told otherwise.
      idleTimeoutMs: srv ? (srv.idleTimeoutMs ?? DEFAULT_LIMITS.idleTimeoutMs) : 0,
    };
    for (const [k, v] of Object.entries(this.limits)) {
      // Only the idle time-out may be 0 (never); a zero cap or handshake time-out would admit nobody.
      const min = k === 'idleTimeoutMs' ? 0 : 1;
      if (!Number.isFinite(v) || v < min) throw new RangeError(`DTLS endpoint: ${k} must be at least ${min}, got ${v}`);
    }
    this.admission = new Admission<Association>(this.limits, {
      onEvict: (a, reason, count) => this.logEviction(a, reason, count),
      onSettled: (a) => a.releaseFinalFlight(),
    });
    this.host = {
      established: (a) => this.associationEstablished(a),
      closed: (a, err) => this.associationClosed(a, err),
      activity: (a) => this.admission.touch(a, Date.now()),
      send: (d, remote) => this.sendDatagram(d, remote.port, remote.address),
      moved: (a, to) => this.associationMoved(a, to),
      addressLimited: () => {
        this.stats.connectionIds.addressLimited++;
      },
    };
    const cid = opts.connectionId;
    this.cidLength = srv && cid !== false ? checkCidLength(cid?.length ?? DEFAULT_SERVER_CID_LENGTH) : undefined;
    this.cidNode = cid ? cid.node : undefined;
    if (this.cidNode !== undefined) {
      if (!Number.isInteger(this.cidNode) || this.cidNode < 0 || this.cidNode > 255)
        throw new RangeError(`DTLS connection ID node must be 0..255, got ${this.cidNode}`);
      if ((this.cidLength ?? 0) < 5)
        throw new RangeError('DTLS connection ID with a node number needs a length of at least 5');
    }
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const peer = this.connectedTo;
      if (peer && err.code === 'ECONNREFUSED') {
        // The ICMP port-unreachable of a connected socket's one peer: its association fails now.
        this.associations.get(peerKey(peer.address, peer.port))?.fail(new DtlsUnreachableError(peer, err), false);
        return;
      }
      opts.logger?.warn({ err: err.message }, 'dtls socket error');
    });
    if (srv) {
      this.sweeper = setInterval(() => this.admission.sweep(Date.now()), sweepInterval(this.limits));
      this.sweeper.unref();
    }
  }

  /** Binds a UDP socket. `family` defaults to the family of `host` (IPv4 when none). */
  static async open(
    opts: EndpointOptions & { host?: string; port?: number; family?: 'IPv4' | 'IPv6' },
  ): Promise<DtlsEndpoint> {
    const v6 = opts.family ? opts.family === 'IPv6' : (opts.host ?? '').includes(':');
    const type = v6 ? 'udp6' : 'udp4';
    // A server's socket is batched (recvmmsg) where the native module is built; a client's stays
    // on dgram, which can connect to its one server (connectSocket).
    const socket: UdpSocket = opts.server
      ? await openServerSocket({ type, host: opts.host, port: opts.port ?? 0, reusePort: opts.reusePort })
      : await bindDgram({ type, host: opts.host, port: opts.port, reusePort: opts.reusePort });
    const want = opts.recvBufferSize ?? (opts.server ? DEFAULT_SERVER_RECV_BUFFER : undefined);
    if (want !== undefined) {
      try {
        socket.setRecvBufferSize(want);
      } catch (err) {
        opts.logger?.warn({ err: (err as Error).message, requested: want }, 'dtls receive buffer not set');
      }
      const granted = socket.getRecvBufferSize();
      // Linux reports twice what it reserves for payload (the other half is bookkeeping), capped by net.core.rmem_max.
      if (granted < want) opts.logger?.warn({ requested: want, granted }, 'dtls receive buffer smaller than requested');
    }
    try {
      return new DtlsEndpoint(socket, opts);
    } catch (err) {
      socket.close();
      throw err;
    }
  }

  address(): PeerAddress {
    const a = this.socket.address();
    return { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
  }

  /** The socket's receive buffer as the kernel reports it (bytes; Linux counts bookkeeping too, twice the payload room). */
  recvBufferSize(): number {
    return this.socket.getRecvBufferSize();
  }

  /** Counters of what the endpoint held, evicted, refused and dropped (see {@link EndpointStats}). */
  get stats(): EndpointStats {
    const s = this.admission.stats;
    s.evictions.sessionCache = this.sessionCache.evictions ?? 0;
    if (this.socket instanceof BatchUdpSocket) s.drops.sendBuffer = this.socket.sendDrops;
    return s;
  }

  /**
   * Reads the kernel's count of datagrams dropped on this socket's full receive queue
   * (`drops` in /proc/net/udp or udp6, Linux) into `stats.drops.receiveBuffer`. Undefined where
   * the kernel does not show it.
   */
  async readReceiveDrops(): Promise<number | undefined> {
    const a = this.socket.address();
    const port = a.port.toString(16).toUpperCase().padStart(4, '0');
    for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
      let text: string;
      try {
        text = await readFile(file, 'latin1');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 13 || !f[1].endsWith(`:${port}`)) continue;
        const drops = Number(f[f.length - 1]);
        if (!Number.isFinite(drops)) continue;
        this.stats.drops.receiveBuffer = drops;
        return drops;
      }
    }
    return undefined;
  }

  /**
   * Sends a datagram. No completion callback: almost every send completes inside the call, and a
   * callback would cost a tick per datagram; close() instead waits for libuv's send queue to empty
   * (a close_notify must leave before the socket closes). A failed send is a lost datagram, which
   * DTLS and CoAP retransmit (a connected socket's ICMP errors arrive as socket errors).
   */
  private sendDatagram(d: Buffer, port: number, address: string): void {
    if (this.closed) return;
    const to = this.connectedTo;
    if (to && this.socket instanceof Socket) {
      // A connected socket takes no address and reaches only its one peer.
      if (to.port !== port || to.address !== address) return;
      this.socket.send(d);
      return;
    }
    this.socket.send(d, port, address);
  }

  /**
   * Connects a client socket that talks to one server only (`connect()` without a shared
   * endpoint): Linux then reports the server's ICMP port-unreachable, which fails the association
   * with DtlsUnreachableError at once instead of after every retransmission.
   */
  async connectSocket(remote: PeerAddress): Promise<void> {
    const socket = this.socket;
    if (!(socket instanceof Socket)) throw new Error('a server endpoint does not connect its socket');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(remote.port, remote.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.connectedTo = remote;
  }

  /** Handshakes in progress and established sessions. */
  counts(): { handshakes: number; sessions: number } {
    return { handshakes: this.stats.handshakes + this.clientHandshakes, sessions: this.stats.sessions };
  }

  /** The options of associations made with the endpoint's defaults, one object per role for all of them. */
  private readonly sharedOptions: { client?: AssociationOptions; server?: AssociationOptions } = {};

  private newAssociation(
    role: 'client' | 'server',
    remote: PeerAddress,
    key: PeerKey,
    overrides: { mtu?: number; retransmitInitialMs?: number; retransmitMaxMs?: number; maxRetransmits?: number } = {},
  ): Association {
    const custom = Object.values(overrides).some((v) => v !== undefined);
    let opts = custom ? undefined : this.sharedOptions[role];
    if (opts === undefined) {
      const o = { ...this.opts, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) };
      opts = {
        role,
        mtu: Math.max(MIN_MTU, o.mtu ?? this.mtu),
        retransmitInitialMs: o.retransmitInitialMs ?? 1000,
        retransmitMaxMs: o.retransmitMaxMs ?? 60_000,
        maxRetransmits: o.maxRetransmits ?? 6,
        meter: o.meter,
        logger: o.logger,
        host: this.host,
      };
      if (!custom) this.sharedOptions[role] = opts;
    }
    const a = new Association(opts, remote);
    a.key = key;
    this.associations.set(key, a);
    return a;
  }

  private associationEstablished(a: Association): void {
    if (a.opts.role === 'client') this.clientHandshakes--;
    this.admission.established(a, Date.now());
    if (a.opts.role === 'server') this.emit('connection', a);
  }

  private associationClosed(a: Association, err: Error | undefined): void {
    if (a.opts.role === 'client' && !a.wasEstablished) this.clientHandshakes--;
    this.admission.remove(a);
    if (a.key !== undefined && this.associations.get(a.key) === a) this.associations.delete(a.key);
    if (a.cidKey !== undefined && this.cids.get(a.cidKey) === a) this.cids.delete(a.cidKey);
    if (a.opts.role === 'server' && err && !a.wasEstablished) this.emit('handshakeError', err, a.remote);
  }

  /**
   * A CID record that authenticated and was newer than any seen came from `to` (RFC 9146 §6): the
   * association is filed under its new address. Whatever held that address before is a peer that
   * has left it (a NAT gave the address away): it loses the address, and without a CID of its own
   * by which it could still be reached, it is dropped.
   */
  private associationMoved(a: Association, to: PeerAddress): void {
    const key = peerKey(to.address, to.port);
    const other = this.associations.get(key);
    if (other && other !== a) {
      this.associations.delete(key);
      other.key = undefined;
      if (other.cidKey === undefined) other.destroy();
    }
    if (a.key !== undefined && this.associations.get(a.key) === a) this.associations.delete(a.key);
    a.key = key;
    this.associations.set(key, a);
    this.stats.connectionIds.addressUpdates++;
    this.opts.logger?.debug(
      { from: `${a.remote.address}:${a.remote.port}`, to: `${to.address}:${to.port}` },
      'dtls peer address updated',
    );
  }

  /** A fresh CID for server association `a`, unique on this endpoint, registered for `a`. */
  private allocateCid(a: Association): Buffer {
    const length = this.cidLength ?? 0;
    if (length === 0) return Buffer.alloc(0);
    for (;;) {
      const cid = randomOwnBytes(length);
      if (this.cidNode !== undefined) cid[0] = this.cidNode;
      const k = cid.toString('latin1');
      if (this.cids.has(k)) continue;
      this.cids.set(k, a);
      a.cidKey = k;
      return cid;
    }
  }

  private logEviction(a: Association, reason: EvictionReason, count: number): void {
    const log = this.opts.logger;
    if (!log) return;
    const peer = `${a.remote.address}:${a.remote.port}`;
    // Every eviction at debug; at info the first of each reason and then each power of two, so a flood logs a few lines.
    if ((count & (count - 1)) === 0) log.info({ reason, peer, count }, 'dtls admission evicted');
    else log.debug({ reason, peer, count }, 'dtls admission evicted');
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
    const a = this.newAssociation('client', remote, key, timing);
    this.clientHandshakes++;
    // Our CID is registered too: a server whose address changes still reaches this connection.
    let own = cfg.connectionId;
    if (own && own.length > 0) {
      while (this.cids.has(own.toString('latin1'))) own = randomOwnBytes(own.length);
      a.cidKey = own.toString('latin1');
      this.cids.set(a.cidKey, a);
      this.clientCidLengths.add(own.length);
    }
    const hs = new ClientHandshake(a, own === cfg.connectionId ? cfg : { ...cfg, connectionId: own });
    a.role = hs;
    hs.start();
    await a.handshakeDone();
    return a;
  }

  // --- input -----------------------------------------------------------------------------------------

  private onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    try {
      const key = peerKey(rinfo.address, rinfo.port);
      const a = this.associations.get(key);
      // An epoch-0 handshake record with no handshake of ours in progress: a new ClientHello, or the
      // ClientHello of a client that restarted (RFC 6347 §4.2.8).
      if (this.opts.server && (a?.state !== 'handshake' || !a.role) && msg[0] === ContentType.handshake) {
        if (this.onClientHello(msg, rinfo, key, a)) return;
      }
      if (msg[0] === ContentType.tls12_cid) {
        this.onCidDatagram(msg, rinfo, key, a);
        return;
      }
      if (!a) {
        this.stats.drops.noAssociation++;
        return;
      }
      // A datagram may hold plain records (a handshake's epoch 0) and then tls12_cid ones.
      const records = parseRecords(msg, (a.records.ownCid ?? a.records.offeredCid)?.length ?? 0);
      if (records.length === 0) {
        this.stats.drops.malformed++;
        return;
      }
      void a.receive(records);
    } catch (err) {
      // Nothing a peer sends may take the endpoint down.
      this.stats.drops.malformed++;
      this.opts.logger?.debug({ err: (err as Error).message }, 'dtls datagram dropped');
    }
  }

  /**
   * A datagram of tls12_cid records (RFC 9146 §4). A server finds the association by the CID,
   * wherever the datagram came from; a client by the server's address. From the association's own
   * (verified) address it is ordinary input; from anywhere else only what authenticates counts
   * (see Association.receiveFrom).
   */
  private onCidDatagram(msg: Buffer, rinfo: RemoteInfo, key: PeerKey, a: Association | undefined): void {
    let owner: Association | undefined;
    const len = this.cidLength;
    if (len !== undefined && len > 0) {
      owner = msg.length >= 11 + len ? this.cids.get(msg.toString('latin1', 11, 11 + len)) : undefined;
    } else {
      // A client's connections may have CIDs of different lengths: the one at this address first.
      owner = a?.records.ownCid ? a : undefined;
      for (const n of this.clientCidLengths) {
        if (owner !== undefined || msg.length < 11 + n) break;
        owner = this.cids.get(msg.toString('latin1', 11, 11 + n));
      }
    }
    const own = owner?.records.ownCid;
    if (owner === undefined && len !== undefined && len > 0 && msg.length >= 11 + len) {
      // Another node's CID: hand it over to that node (not back again if it came from one).
      const node = msg[11];
      const handOver = this.opts.cidHandOver;
      if (this.cidNode !== undefined && node !== this.cidNode && handOver && !this.handingIn) {
        const from: PeerAddress = {
          address: rinfo.address,
          port: rinfo.port,
          family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4',
        };
        if (handOver(node, msg, from)) return;
      }
    }
    if (owner === undefined || own === undefined) {
      this.stats.connectionIds.unknown++;
      return;
    }
    const records = parseRecords(msg, own.length);
    if (records.length === 0) {
      this.stats.drops.malformed++;
      return;
    }
    if (owner.key === key && !owner.addressPending) {
      void owner.receive(records);
      return;
    }
    const from: PeerAddress = {
      address: rinfo.address,
      port: rinfo.port,
      family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    owner.receiveFrom(records, from, msg.length);
  }

  /** True while a datagram handed over by another node is processed (it is never handed on). */
  private handingIn = false;

  /**
   * A datagram another node received from `from` and handed over because its CID is ours: it is
   * processed as if it had arrived here (an authenticated, newer record moves the session to
   * `from`, RFC 9146 §6), and the answers leave from this endpoint's socket.
   */
  receiveHandedOver(datagram: Buffer, from: PeerAddress): void {
    if (datagram[0] !== ContentType.tls12_cid) {
      this.stats.drops.malformed++;
      return;
    }
    this.handingIn = true;
    try {
      this.onDatagram(datagram, { address: from.address, port: from.port, family: from.family, size: datagram.length });
    } finally {
      this.handingIn = false;
    }
  }

  /**
   * Handles a datagram that may start with a ClientHello, from a peer with no handshake in
   * progress. Returns true when it was consumed (answered, refused or dropped, and counted), false
   * when it belongs to the existing association.
   */
  private onClientHello(msg: Buffer, rinfo: RemoteInfo, key: PeerKey, existing: Association | undefined): boolean {
    const scan = this.scan;
    const kind = scanClientHello(msg, scan);
    if (kind === 'not_client_hello' || kind === 'malformed') {
      // An association gets the datagram's records as they are, so that a bad record is dropped (or,
      // in a handshake, answered) there and the valid records behind it in the same datagram
      // (RFC 6347 §4.1.1) are not lost with it (§4.1.2.7 discards invalid records one by one).
      if (existing) return false;
      if (kind === 'malformed') this.stats.drops.malformed++;
      else this.stats.drops.noAssociation++;
      return true;
    }
    if (kind === 'fragmented') {
      // The cookie exchange needs the whole ClientHello in one record.
      this.stats.refusals.fragmentedClientHello++;
      return true;
    }
    // A retransmitted ClientHello of the handshake that established this association: ignore.
    if (existing?.state === 'established' && existing.clientRandomTag === msg.readInt32BE(scan.randomStart + 28)) {
      return true;
    }
    const meter = this.opts.meter;
    if (!this.cookies.verify(rinfo.address, rinfo.port, msg, scan, meter)) {
      // Never answer with more bytes than came in: the cookie exchange must not amplify.
      if (msg.length < this.cookies.helloVerifyLength) {
        this.stats.refusals.helloVerifyTooLarge++;
        return true;
      }
      const hvr = this.cookies.helloVerifyRequest(rinfo.address, rinfo.port, msg, scan, meter);
      this.stats.helloVerifyRequests++;
      // Stateless, so outside any association: the endpoint reports the message and its record.
      meter?.handshakeMessage('out', 'hello_verify_request', hvr.length - 25);
      meter?.record('out', 'handshake', 0, hvr.length);
      this.sendDatagram(hvr, rinfo.port, rinfo.address);
      return true;
    }
    // The cookie is valid: now the full parse.
    let ch: ClientHello;
    let f: ReturnType<typeof parseHandshakeFragments>[number];
    let rec: ReturnType<typeof parseRecords>[number];
    try {
      rec = parseRecords(msg)[0];
      f = parseHandshakeFragments(rec.fragment)[0];
      ch = parseClientHello(f.fragment);
    } catch {
      if (existing) return false;
      this.stats.drops.malformed++;
      return true;
    }
    const srv = this.opts.server!;
    // A valid cookie from a peer that already has an association: the client lost its state
    // (rebooted). Start afresh (§4.2.8); the old association is dropped.
    if (existing) existing.destroy();
    this.admission.makeRoomForHandshake(rinfo.address);
    const remote: PeerAddress = {
      address: rinfo.address,
      port: rinfo.port,
      family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    const a = this.newAssociation('server', remote, key);
    this.admission.handshakeStarted(a, Date.now());
    a.clientRandomTag = ch.random.readInt32BE(28);
    const hs = new ServerHandshake(a, {
      ...srv,
      sessionCache: this.sessionCache,
      allocateConnectionId: this.cidLength === undefined ? undefined : () => this.allocateCid(a),
    });
    a.role = hs;
    a.records.unprotect(rec); // enters the ClientHello's sequence number into the replay window
    a.records.setWriteSeq(0, rec.seq);
    const m = { msgType: f.msgType, messageSeq: f.messageSeq, body: f.fragment, epoch: 0 };
    meter?.handshakeMessage('in', 'client_hello', f.length);
    void a.runExclusive(() => hs.onClientHello(ch, m));
    return true;
  }

  /** Closes every association (close_notify to established peers) and the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const a of [...this.associations.values()]) await a.close();
    // Datagrams the kernel could not take at once wait in libuv's queue; closing would drop them.
    for (let waited = 0; this.socket.getSendQueueCount() > 0 && waited < CLOSE_FLUSH_MS; waited += 5) {
      await new Promise<void>((resolve) => setTimeout(resolve, 5));
    }
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

/**
 * SecureSense DTLS 1.2 (RFC 6347) for Node.js: a client and a server over `node:dgram` and
 * `node:crypto`, with TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655, RFC 4279) and
 * TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 (RFC 7251) with raw public keys (RFC 7250) or X.509
 * certificates. Everything exported here is public API.
 *
 * ```ts
 * const server = await DtlsServer.listen({ port: 5684, psk: (id) => (id === 'dev1' ? key : undefined) });
 * server.on('connection', (c) => c.on('data', (d) => c.send(d)));
 * const conn = await connect({ host: '127.0.0.1', port: 5684, psk: { identity: 'dev1', key } });
 * conn.on('data', (d) => console.log(d.toString()));
 * conn.send(Buffer.from('hello'));
 * ```
 */
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { EndpointStats } from './admission.ts';
import type { Association } from './association.ts';
import { peerKey, type SessionCache } from './cache.ts';
import type { PeerIdentity } from './credentials/identity.ts';
import type { ClientAuth, OwnCertificate, OwnRawPublicKey, PeerTrust } from './credentials/index.ts';
import type { PskLookup } from './credentials/psk.ts';
import { randomOwnBytes } from './crypto/random.ts';
import { checkCidLength, DtlsEndpoint, type EndpointOptions } from './endpoint.ts';
import { DtlsTimeoutError } from './errors.ts';
import type { HandshakeProfile, SessionState } from './handshake/types.ts';

export { type AdmissionLimits, DEFAULT_LIMITS, type EndpointStats } from './admission.ts';
export type { AssociationTable, PeerKey, SessionCache } from './cache.ts';
export { MemorySessionCache } from './cache.ts';
export type { PeerIdentity } from './credentials/identity.ts';
export {
  type ClientAuth,
  type CredentialFiles,
  loadCredentialFiles,
  loadTrustAnchors,
  type OwnCertificate,
  type OwnRawPublicKey,
  ownCertificate,
  ownRawPublicKey,
  type PeerTrust,
  PinnedKeys,
  type RpkLookup,
  type TrustAnchors,
} from './credentials/index.ts';
/** Pre-shared keys in memory and a constant-time server-side lookup over them. */
export { type PskCredential, type PskLookup, pskLookup } from './credentials/psk.ts';
export {
  AlertDescription,
  AlertLevel,
  alertName,
  DtlsAlertError,
  DtlsDecodeError,
  DtlsTimeoutError,
  DtlsUnreachableError,
} from './errors.ts';
export type { HandshakeProfile } from './handshake/types.ts';
export type { CryptoOp, CryptoPurpose, Direction, DtlsMeter } from './meter.ts';

/** A UDP peer. */
export interface PeerAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/**
 * Options shared by both roles, the endpoint's own (declared once in `EndpointOptions`):
 * - `mtu`: largest datagram we send (UDP payload bytes). Default 1232 (1280 − 40 IPv6 − 8 UDP).
 * - `retransmitInitialMs`: initial retransmission timeout (RFC 6347 §4.2.4.1). Default 1000 ms.
 * - `retransmitMaxMs`: cap of the doubling retransmission timeout. Default 60 000 ms.
 * - `maxRetransmits`: retransmissions of one flight before the handshake fails with
 *   DtlsTimeoutError. Default 6.
 * - `meter`: opt-in meter of handshake messages, records and crypto operations.
 * - `logger`: pino logger.
 */
export interface CommonOptions
  extends Pick<
    EndpointOptions,
    'mtu' | 'retransmitInitialMs' | 'retransmitMaxMs' | 'maxRetransmits' | 'meter' | 'logger'
  > {
  /**
   * 'lean': fewest bytes on the air for constrained links (16-byte cookie, 8-byte session ID,
   * a flight's handshake messages sharing records, only the hello extensions the mode needs);
   * interoperates with any RFC-conformant peer. Default 'default'.
   */
  profile?: HandshakeProfile;
}

/**
 * The public-key modes (TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 on P-256, RFC 7251): what this side
 * presents and what it trusts. The mode is chosen per handshake from what both sides support.
 */
export interface PublicKeyOptions {
  /** Our X.509 chain and key (see `ownCertificate`). */
  certificate?: OwnCertificate;
  /** Our raw public key (RFC 7250; see `ownRawPublicKey`). */
  rpk?: OwnRawPublicKey;
  /** Trust anchors for X.509 peers, pinned keys or a lookup for RPK peers, the client's name check. */
  trust?: PeerTrust;
}

export interface DtlsServerOptions extends CommonOptions, PublicKeyOptions {
  /** Ask clients for a certificate ('want'), require one ('need') or not ('none', default). */
  clientAuth?: ClientAuth;
  /** Bind address (default all IPv4 addresses; an IPv6 address binds udp6). */
  host?: string;
  /** UDP port (default 0: any free port, see `address()`). */
  port?: number;
  /** PSK lookup; without it the PSK suite is not offered. */
  psk?: PskLookup;
  /** PSK identity hint sent in ServerKeyExchange (RFC 4279 §2); omitted when undefined. */
  pskIdentityHint?: string;
  /**
   * Half-open handshakes at once (default 1000): a new ClientHello with a valid cookie takes the
   * slot of the oldest (counted in `stats.evictions.handshakeCapacity`).
   */
  maxHandshakes?: number;
  /** Half-open handshakes from one IP address (default 100): past it, that address's oldest makes room. */
  maxHandshakesPerAddress?: number;
  /** A handshake not finished after this long is dropped (default 10 000 ms). */
  handshakeTimeoutMs?: number;
  /**
   * Established sessions at once (default 100 000): a newly established one evicts the session idle
   * longest (close_notify; counted in `stats.evictions.sessionCapacity`).
   */
  maxSessions?: number;
  /** Established sessions silent for this long are dropped (default 300 000 ms; 0 = never). */
  idleTimeoutMs?: number;
  /** SO_RCVBUF requested for the socket (default 4 MiB, room for bursts; see `recvBufferSize()`). */
  recvBufferSize?: number;
  /** Where resumable sessions are kept (default: in memory, {@link maxCachedSessions} of them). */
  sessionCache?: SessionCache;
  /**
   * Resumable sessions kept in memory when no `sessionCache` is given (default 100 000): past it the
   * oldest is dropped (counted in `stats.evictions.sessionCache`) and its next connection is a full
   * handshake. Each costs ~250 bytes with a PSK identity, ~1 KB with a client certificate.
   */
  maxCachedSessions?: number;
  /**
   * Connection ID (RFC 9146) for clients that offer it: the length of the CID each one gets
   * (default 8 random bytes; 0: we ask for none but send the client's; `false`: not negotiated).
   * Records carrying a CID reach their session from any address, and an authenticated one newer
   * than any seen moves the session there (counted in `stats.connectionIds.addressUpdates`).
   */
  connectionId?: { length: number; node?: number } | false;
  /**
   * SO_REUSEPORT (Linux): several processes listen on the same port, the kernel spreads the flows
   * among them. With `connectionId.node` set per process, a CID's first byte names its process.
   */
  reusePort?: boolean;
  /**
   * With `connectionId.node`: where a CID record naming another node goes (see cid-forward.ts);
   * true when it was handed over. The owning node passes it to {@link DtlsServer.receiveHandedOver}.
   */
  cidHandOver?: (node: number, datagram: Buffer, from: PeerAddress) => boolean;
}

/** Opaque resumable session state: pass `connection.session` to `connect({ session })` to resume. */
export interface DtlsSession {
  readonly id: Buffer;
}

/** An established DTLS association. Events: 'data' (Buffer), 'close' (), 'error' (Error). */
export interface DtlsConnection extends EventEmitter {
  readonly remote: PeerAddress;
  /** What the handshake proved about the peer. */
  readonly identity: PeerIdentity;
  /** IANA name of the negotiated cipher suite. */
  readonly cipherSuite: string;
  /** True when this connection came from an abbreviated handshake. */
  readonly resumed: boolean;
  readonly session: DtlsSession;
  /**
   * The Connection IDs in use (RFC 9146): `own` is what the peer puts in records to us, `peer` what
   * we put in ours; undefined when that direction uses none.
   */
  readonly connectionIds: { own: Buffer | undefined; peer: Buffer | undefined };
  /** Sends one application_data record (at most 16 384 bytes). */
  send(data: Buffer): void;
  /** Sends close_notify and closes. */
  close(): Promise<void>;
}

export interface DtlsClientOptions extends CommonOptions, PublicKeyOptions {
  /** Server host name or address. */
  host: string;
  port: number;
  psk?: { identity: string; key: Buffer };
  /** Sent as server_name (RFC 6066) when it is a valid host name; IP literals are never sent. */
  serverName?: string;
  /** A session from an earlier connection, to resume with an abbreviated handshake. */
  session?: DtlsSession;
  /** Share one socket among several connections. */
  endpoint?: DtlsClientEndpoint;
  /**
   * Give up a handshake not finished after this long, whatever the retransmission schedule, with
   * DtlsTimeoutError (default: none, the schedule alone decides).
   */
  handshakeTimeoutMs?: number;
  /**
   * Offer a Connection ID (RFC 9146) of `length` random bytes (0 allowed: we need none, and send
   * the server's). A server that answers then reaches this connection after our address changed
   * (NAT rebinding). Default: not offered.
   */
  connectionId?: { length: number };
}

function isSessionState(s: DtlsSession): s is SessionState {
  return 'masterSecret' in s && Buffer.isBuffer((s as SessionState).masterSecret);
}

/**
 * A DTLS server on one UDP port. Events: 'connection' (c: DtlsConnection) after each completed
 * handshake, 'handshakeError' (err: Error, peer: PeerAddress) for each failed one.
 */
export class DtlsServer extends EventEmitter {
  private constructor(private readonly endpoint: DtlsEndpoint) {
    super();
    endpoint.on('connection', (a: Association) => this.emit('connection', a as DtlsConnection));
    endpoint.on('handshakeError', (err: Error, peer: PeerAddress) => this.emit('handshakeError', err, peer));
  }

  static async listen(opts: DtlsServerOptions): Promise<DtlsServer> {
    if (!opts.psk && !opts.certificate && !opts.rpk) {
      throw new Error('DtlsServer: configure at least one credential (psk, certificate or rpk)');
    }
    const endpoint = await DtlsEndpoint.open({
      ...opts,
      host: opts.host,
      port: opts.port,
      sessionCache: opts.sessionCache,
      maxCachedSessions: opts.maxCachedSessions,
      server: {
        psk: opts.psk,
        pki:
          opts.certificate || opts.rpk
            ? { certificate: opts.certificate, rpk: opts.rpk, trust: opts.trust, clientAuth: opts.clientAuth }
            : undefined,
        pskIdentityHint: opts.pskIdentityHint,
        profile: opts.profile,
        maxHandshakes: opts.maxHandshakes,
        maxHandshakesPerAddress: opts.maxHandshakesPerAddress,
        handshakeTimeoutMs: opts.handshakeTimeoutMs,
        maxSessions: opts.maxSessions,
        idleTimeoutMs: opts.idleTimeoutMs,
      },
      connectionId: opts.connectionId,
      reusePort: opts.reusePort,
      cidHandOver: opts.cidHandOver,
    });
    return new DtlsServer(endpoint);
  }

  address(): PeerAddress {
    return this.endpoint.address();
  }

  /** Established connections. */
  *connections(): Iterable<DtlsConnection> {
    for (const a of this.endpoint.associations.values()) if (a.state === 'established') yield a as DtlsConnection;
  }

  /** Handshakes in progress and established sessions (for limits and monitoring). */
  counts(): { handshakes: number; sessions: number } {
    return this.endpoint.counts();
  }

  /** What the server held, evicted, refused and dropped: a live object of counters (see {@link EndpointStats}). */
  get stats(): EndpointStats {
    return this.endpoint.stats;
  }

  /** The socket's receive buffer as the kernel granted it (bytes, as getsockopt reports it). */
  recvBufferSize(): number {
    return this.endpoint.recvBufferSize();
  }

  /** Refreshes and returns `stats.drops.receiveBuffer` from the kernel (Linux), undefined where not visible. */
  readReceiveDrops(): Promise<number | undefined> {
    return this.endpoint.readReceiveDrops();
  }

  /** A CID record another node received from `from` and handed over (see cid-forward.ts). */
  receiveHandedOver(datagram: Buffer, from: PeerAddress): void {
    this.endpoint.receiveHandedOver(datagram, from);
  }

  /** Sends close_notify to every peer and closes the socket. */
  close(): Promise<void> {
    return this.endpoint.close();
  }
}

async function resolve(host: string, family?: 'IPv4' | 'IPv6'): Promise<{ address: string; family: 'IPv4' | 'IPv6' }> {
  const v = isIP(host);
  if (v === 4) return { address: host, family: 'IPv4' };
  if (v === 6) return { address: host, family: 'IPv6' };
  const r = await lookup(host, { family: family === 'IPv6' ? 6 : family === 'IPv4' ? 4 : 0 });
  return { address: r.address, family: r.family === 6 ? 'IPv6' : 'IPv4' };
}

/** One client UDP socket shared by connections to one or more servers. */
export class DtlsClientEndpoint {
  private constructor(
    private readonly endpoint: DtlsEndpoint,
    private readonly family: 'IPv4' | 'IPv6',
  ) {}

  static async bind(
    opts: { host?: string; port?: number; family?: 'IPv4' | 'IPv6' } & CommonOptions = {},
  ): Promise<DtlsClientEndpoint> {
    const family = opts.family ?? ((opts.host ?? '').includes(':') ? 'IPv6' : 'IPv4');
    const endpoint = await DtlsEndpoint.open({ ...opts, family });
    return new DtlsClientEndpoint(endpoint, family);
  }

  /** The local socket address. */
  address(): PeerAddress {
    return this.endpoint.address();
  }

  /**
   * Connects the socket to its one server, so that the server's ICMP port-unreachable fails the
   * handshake (or the connection) at once with DtlsUnreachableError. For an endpoint of its own.
   */
  async connectSocket(host: string, port: number): Promise<void> {
    const r = await resolve(host, this.family);
    await this.endpoint.connectSocket({ address: r.address, port, family: r.family });
  }

  /** Handshakes with a server; rejects with DtlsAlertError, DtlsTimeoutError or DtlsUnreachableError. */
  async connect(opts: Omit<DtlsClientOptions, 'endpoint'>): Promise<DtlsConnection> {
    const r = await resolve(opts.host, this.family);
    if (r.family !== this.family) throw new Error(`endpoint is ${this.family}, server ${opts.host} is ${r.family}`);
    const pki = opts.trust ? { certificate: opts.certificate, rpk: opts.rpk, trust: opts.trust } : undefined;
    if (!opts.psk && !pki) throw new Error('connect: configure a credential (psk, or trust for the public-key modes)');
    if (opts.session && !isSessionState(opts.session)) throw new TypeError('connect: session is not a DTLS session');
    const limit = opts.handshakeTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    if (limit !== undefined) {
      if (!(limit > 0)) throw new RangeError(`connect: handshakeTimeoutMs must be positive, got ${limit}`);
      const key = peerKey(r.address, opts.port);
      timer = setTimeout(() => {
        const what = `DTLS handshake with ${opts.host}:${opts.port} not finished within ${limit} ms`;
        this.endpoint.associations.get(key)?.fail(new DtlsTimeoutError(what), false);
      }, limit);
    }
    const a = await this.endpoint
      .connect(
        { address: r.address, port: opts.port, family: r.family },
        {
          psk: opts.psk,
          pki,
          peerName: opts.host,
          serverName: opts.serverName,
          session: opts.session as SessionState | undefined,
          connectionId: opts.connectionId ? randomOwnBytes(checkCidLength(opts.connectionId.length)) : undefined,
          profile: opts.profile,
        },
        opts,
      )
      .finally(() => clearTimeout(timer));
    return a as DtlsConnection;
  }

  close(): Promise<void> {
    return this.endpoint.close();
  }
}

/**
 * Connects to a DTLS server. Without `endpoint`, the connection gets its own socket, connected to
 * the server and closed with it. A failed handshake rejects with `DtlsAlertError` (which alert, sent
 * or received), `DtlsTimeoutError`, or `DtlsUnreachableError` (the server's host answered with an
 * ICMP port-unreachable; only seen on a socket of its own, as a shared one talks to many peers).
 */
export async function connect(opts: DtlsClientOptions): Promise<DtlsConnection> {
  if (opts.endpoint) return opts.endpoint.connect(opts);
  const r = await resolve(opts.host);
  const ep = await DtlsClientEndpoint.bind({ ...opts, host: undefined, port: undefined, family: r.family });
  try {
    // A connected socket hears the server's ICMP port-unreachable at once, but only from that one
    // address: a client that offers a CID of its own so that it can follow a server whose address
    // changes (RFC 9146 §6) keeps its socket unconnected.
    if (!opts.connectionId || opts.connectionId.length === 0) await ep.connectSocket(r.address, opts.port);
    // The endpoint resolves the name again: the original name is what the server certificate must match.
    const c = await ep.connect(opts);
    c.once('close', () => void ep.close());
    return c;
  } catch (err) {
    await ep.close();
    throw err;
  }
}

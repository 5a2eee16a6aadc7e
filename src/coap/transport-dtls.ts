/**
 * `coaps://` (RFC 7252 §9.1) over the project's DTLS engine (src/dtls). The server side maps each
 * DTLS connection to its peer address and hands every decrypted datagram up with the connection's
 * {@link PeerIdentity}; the client side is one DTLS connection to one server, which the CoAP client
 * keeps per (server, credentials) and reuses. CoAP never sees DTLS records.
 */
import { createHash } from 'node:crypto';
import {
  connect,
  type DtlsClientOptions,
  type DtlsConnection,
  DtlsServer,
  type DtlsServerOptions,
  type DtlsSession,
  DtlsUnreachableError,
} from '../dtls/index.ts';
import type { Logger } from '../util/log.ts';
import { DatagramTransport, peerKey, type Transport, type TransportPeer } from './transport.ts';

export const COAPS_PORT = 5684;

/** The client's credentials for `coaps://`: whatever the DTLS engine's `connect` takes. */
export type CoapsSecurity = Omit<DtlsClientOptions, 'host' | 'port' | 'endpoint' | 'session' | 'serverName'>;

const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;
function objectId(o: object): number {
  let id = objectIds.get(o);
  if (id === undefined) {
    id = nextObjectId++;
    objectIds.set(o, id);
  }
  return id;
}

/**
 * A stable key for a set of credentials, naming what we present: the PSK identity and a hash of its
 * key, our certificate chain or raw public key. Trust settings (anchors, pins) are keyed by object,
 * as they hold no bytes of their own to compare. Secrets are hashed, never kept as a string.
 */
export function securityKey(s: CoapsSecurity): string {
  const h = createHash('sha256');
  if (s.psk) h.update(`psk:${s.psk.identity.length}:${s.psk.identity}:`).update(s.psk.key);
  if (s.certificate) for (const der of s.certificate.chain) h.update('cert:').update(der);
  if (s.rpk) h.update('rpk:').update(s.rpk.spki);
  if (s.trust) h.update(`trust:${objectId(s.trust)}`);
  h.update(`mtu:${s.mtu ?? ''}`);
  return h.digest('hex').slice(0, 32);
}

/** Server side: a DTLS server whose connections carry CoAP datagrams. */
export class DtlsServerTransport implements Transport {
  readonly scheme = 'coaps' as const;
  private readonly connections = new Map<string, DtlsConnection>();
  /**
   * The connection behind each peer object this transport handed up: a reply names the peer of its
   * request, so it finds the connection without building the "address|port" key per datagram.
   */
  private readonly byPeer = new WeakMap<object, DtlsConnection>();
  private receiver?: (datagram: Buffer, peer: TransportPeer) => void;

  private constructor(readonly server: DtlsServer) {
    server.on('connection', (c: DtlsConnection) => {
      let key = peerKey(c.remote);
      this.connections.set(key, c);
      // One peer object per connection address: its address, port and identity do not change. A
      // Connection ID lets the connection move (NAT rebinding): the next datagram then gets a new
      // peer object naming the new address (the old one still finds the connection for replies in flight).
      let peer: TransportPeer = { address: c.remote.address, port: c.remote.port, identity: c.identity };
      this.byPeer.set(peer, c);
      c.on('data', (d: Buffer) => {
        if (peer.port !== c.remote.port || peer.address !== c.remote.address) {
          peer = { address: c.remote.address, port: c.remote.port, identity: c.identity };
          this.byPeer.set(peer, c);
          if (this.connections.get(key) === c) this.connections.delete(key);
          key = peerKey(c.remote);
          this.connections.set(key, c);
        }
        this.receiver?.(d, peer);
      });
      c.on('close', () => {
        this.byPeer.delete(peer);
        if (this.connections.get(key) === c) this.connections.delete(key);
      });
      c.on('error', () => {});
    });
    server.on('error', () => {});
  }

  static async listen(opts: DtlsServerOptions): Promise<DtlsServerTransport> {
    return new DtlsServerTransport(await DtlsServer.listen(opts));
  }

  address(): { address: string; port: number; family: string } {
    return this.server.address();
  }

  send(datagram: Buffer, peer: { address: string; port: number }): void {
    // No association, no way to send: the peer's retransmission (or ours) copes, as with a lost datagram.
    const c = this.byPeer.get(peer) ?? this.connections.get(peerKey(peer));
    c?.send(datagram);
  }

  onDatagram(cb: (datagram: Buffer, peer: TransportPeer) => void): void {
    this.receiver = cb;
  }

  async close(): Promise<void> {
    await this.server.close();
  }
}

/** Resumable sessions by (server, credentials), so that a new connection can resume (RFC 5246 §7.3). */
const sessions = new Map<string, DtlsSession>();

export interface DtlsClientTransportOptions {
  host: string;
  port: number;
  serverName?: string;
  security: CoapsSecurity;
  logger?: Logger;
  /** Called when the DTLS connection closes (the client then forgets this transport). */
  onClose?: () => void;
}

/** Client side: one DTLS connection to one server. */
export class DtlsClientTransport extends DatagramTransport implements Transport {
  readonly scheme = 'coaps' as const;

  constructor(
    readonly connection: DtlsConnection,
    onClose?: () => void,
  ) {
    super();
    // One peer object for the connection's life: the server's address and identity do not change.
    const peer: TransportPeer = {
      address: connection.remote.address,
      port: connection.remote.port,
      identity: connection.identity,
    };
    connection.on('data', (d: Buffer) => {
      this.receiver?.(d, peer);
    });
    connection.on('close', () => {
      this.closed = true;
      onClose?.();
    });
    // The server went away (its port answers ICMP port-unreachable): the requests waiting on it end now.
    connection.on('error', (err: Error) => {
      if (err instanceof DtlsUnreachableError) this.unreachable?.(peer, err);
    });
  }

  send(datagram: Buffer): void {
    if (!this.closed) this.connection.send(datagram);
  }

  protected async release(): Promise<void> {
    await this.connection.close();
  }
}

export async function createDtlsClientTransport(o: DtlsClientTransportOptions): Promise<DtlsClientTransport> {
  const key = `${o.host}|${o.port}|${securityKey(o.security)}`;
  const session = sessions.get(key);
  const connection = await connect({
    ...o.security,
    host: o.host,
    port: o.port,
    serverName: o.serverName,
    session,
    logger: o.security.logger ?? o.logger,
  });
  sessions.set(key, connection.session);
  return new DtlsClientTransport(connection, o.onClose);
}

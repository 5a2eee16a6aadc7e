/** `coap://` over a plain UDP socket (RFC 7252 §6.1), IPv4 or IPv6. */
import { Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { BatchUdpSocket, bindDgram, openServerSocket, type UdpSocket } from '../net/batch-udp.ts';
import { DatagramTransport, type Transport } from './transport.ts';

export const COAP_PORT = 5683;

export interface UdpTransportOptions {
  /** Address to bind; `::` binds both families where the OS allows. Default `0.0.0.0` (udp4). */
  host?: string;
  /** Port to bind; 0 (the default) picks a free one. */
  port?: number;
  /** Force the socket type; by default it follows `host`. */
  type?: 'udp4' | 'udp6';
  /**
   * Connect the socket to this one peer: it then sends only there, hears only from there, and
   * sees the peer's ICMP port-unreachable (Linux reports ICMP errors on connected sockets only).
   */
  connect?: { address: string; port: number };
  /** SO_REUSEPORT: several processes (workers) bind the same port; the kernel spreads the flows. */
  reusePort?: boolean;
}

export class UdpTransport extends DatagramTransport implements Transport {
  readonly scheme = 'coap' as const;

  private constructor(
    /** Unconnected: a server's batched socket where the native module is built (see openServerSocket). */
    readonly socket: UdpSocket,
    /** The one peer of a connected socket. */
    readonly peer?: { address: string; port: number },
  ) {
    super();
    socket.on('message', (msg, rinfo) => {
      this.receiver?.(msg, { address: rinfo.address, port: rinfo.port });
    });
    // An unconnected socket never sees ICMP errors and CoAP's own timers deal with a loss; a
    // connected one reports the peer's port-unreachable as ECONNREFUSED, which ends its exchanges.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.peer && err.code === 'ECONNREFUSED') this.unreachable?.(this.peer, err);
    });
  }

  /**
   * Binds a socket and resolves once it listens. (`override`: a static `bind` shadows
   * Function.prototype.bind, which TypeScript checks once the class has a base.)
   */
  static override async bind(opts: UdpTransportOptions = {}): Promise<UdpTransport> {
    const host = opts.host ?? (opts.type === 'udp6' ? '::' : '0.0.0.0');
    const type = opts.type ?? (isIPv6(host) ? 'udp6' : 'udp4');
    const peer = opts.connect;
    if (!peer) {
      const socket = await openServerSocket({ type, host, port: opts.port ?? 0, reusePort: opts.reusePort });
      return new UdpTransport(socket);
    }
    const socket = await bindDgram({ type, host, port: opts.port, reusePort: opts.reusePort });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(peer.port, peer.address, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      socket.close();
      throw err;
    });
    return new UdpTransport(socket, { address: peer.address, port: peer.port });
  }

  /** Datagrams the batched socket dropped on a full send buffer (0 on dgram, which queues them). */
  get sendDrops(): number {
    return this.socket instanceof BatchUdpSocket ? this.socket.sendDrops : 0;
  }

  address(): { address: string; port: number; family: string } {
    return this.socket.address();
  }

  send(datagram: Buffer, peer: { address: string; port: number }): void {
    if (this.closed) return;
    // Fire and forget: a lost datagram is CoAP's to recover (§4.2); send errors reach the 'error'
    // handler. No per-datagram callback or promise on the hot path.
    if (this.peer) {
      // A connected socket refuses an address with the send; it has only the one peer.
      if (peer.port === this.peer.port && peer.address === this.peer.address && this.socket instanceof Socket)
        this.socket.send(datagram);
      return;
    }
    this.socket.send(datagram, peer.port, peer.address);
  }

  protected async release(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

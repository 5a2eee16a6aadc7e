/**
 * Hand-over of Connection ID records between the nodes (worker processes, or hosts) that share one
 * DTLS port. With SO_REUSEPORT (or an L4 balancer) a flow sticks to one node by a hash of its
 * addresses; when a client's address changes (NAT rebinding) its records may land on another node
 * than the one holding its session. Our CIDs start with the owning node's number, so the node that
 * received such a record passes it here, over an internal UDP socket, to the owner, with the
 * client's address; the owner processes it as if it had arrived itself (RFC 9146 §6's address
 * update rules apply there) and answers from the shared port.
 *
 * Frame (one datagram): "SSCF" ‖ version 2 ‖ client port (2) ‖ address length (1) ‖ client address
 * (ASCII) ‖ the record datagram as received ‖ tag (16 bytes: HMAC-SHA256 of everything before it,
 * keyed with the token the nodes share, truncated). The token never travels, so one seen on the
 * wire between hosts does not let anyone forge frames; a frame with a bad tag is refused (counted),
 * as otherwise another machine could inject records with a chosen source address. A replayed frame
 * carries a record the owner's DTLS replay window already saw, and is dropped there.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { PeerAddress } from './handshake/types.ts';

const MAGIC = Buffer.from('SSCF', 'latin1');
const VERSION = 2;
/** The shared secret's length in bytes (`coap.handOverToken` is 32 hex digits). */
export const HAND_OVER_TOKEN_LENGTH = 16;
const TAG_LENGTH = 16;
const HEADER = MAGIC.length + 1 + 2 + 1;

/** Where a node takes hand-overs. */
export interface NodeAddress {
  address: string;
  port: number;
}

function tag(token: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', token).update(body).digest().subarray(0, TAG_LENGTH);
}

/** Builds a hand-over frame for `datagram`, received from `from`. */
export function encodeHandOver(token: Buffer, from: PeerAddress, datagram: Buffer): Buffer {
  const addr = Buffer.from(from.address, 'latin1');
  const bodyLength = HEADER + addr.length + datagram.length;
  const out = Buffer.allocUnsafe(bodyLength + TAG_LENGTH);
  MAGIC.copy(out, 0);
  out[4] = VERSION;
  out.writeUInt16BE(from.port, 5);
  out[7] = addr.length;
  addr.copy(out, HEADER);
  datagram.copy(out, HEADER + addr.length);
  tag(token, out.subarray(0, bodyLength)).copy(out, bodyLength);
  return out;
}

/** Reads a hand-over frame; undefined when it is not one, its tag is wrong (another token), or it names no IP address. */
export function decodeHandOver(token: Buffer, frame: Buffer): { from: PeerAddress; datagram: Buffer } | undefined {
  if (frame.length <= HEADER + TAG_LENGTH || !frame.subarray(0, 4).equals(MAGIC) || frame[4] !== VERSION) {
    return undefined;
  }
  const bodyLength = frame.length - TAG_LENGTH;
  if (!timingSafeEqual(frame.subarray(bodyLength), tag(token, frame.subarray(0, bodyLength)))) return undefined;
  const port = frame.readUInt16BE(5);
  const len = frame[7];
  if (bodyLength <= HEADER + len || port === 0) return undefined;
  const address = frame.toString('latin1', HEADER, HEADER + len);
  const v = isIP(address);
  if (v === 0) return undefined;
  return {
    from: { address, port, family: v === 6 ? 'IPv6' : 'IPv4' },
    datagram: frame.subarray(HEADER + len, bodyLength),
  };
}

/** What a forwarder passed on and took in; every frame dropped is counted by reason. */
export interface HandOverStats {
  /** Records passed to their owning node. */
  forwarded: number;
  /** Records whose CID names a node with no known address (dropped). */
  noRoute: number;
  /** Hand-overs taken in from other nodes. */
  received: number;
  /** Frames refused: not a frame, a wrong tag (another token), a bad address. */
  refused: number;
}

/**
 * One node's hand-over socket: `forward` passes a record to its owner, `onRecord` is called for
 * each valid frame from another node. Bind it to an internal address (loopback between workers, a
 * private network between hosts).
 */
export class CidForwarder {
  readonly stats: HandOverStats = { forwarded: 0, noRoute: 0, received: 0, refused: 0 };
  private readonly routes = new Map<number, NodeAddress>();
  private onRecord: ((datagram: Buffer, from: PeerAddress) => void) | undefined;

  private constructor(
    readonly node: number,
    private readonly socket: Socket,
    private readonly token: Buffer,
  ) {
    socket.on('message', (msg) => {
      const h = decodeHandOver(this.token, msg);
      if (!h) {
        this.stats.refused++;
        return;
      }
      this.stats.received++;
      this.onRecord?.(h.datagram, h.from);
    });
    socket.on('error', () => {
      // A send to a node that went away: the record is lost, as on any UDP path.
    });
  }

  static async open(opts: { node: number; token: Buffer; host?: string; port?: number }): Promise<CidForwarder> {
    if (opts.token.length !== HAND_OVER_TOKEN_LENGTH)
      throw new RangeError(`hand-over token must be ${HAND_OVER_TOKEN_LENGTH} bytes`);
    const host = opts.host ?? '127.0.0.1';
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(opts.port ?? 0, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new CidForwarder(opts.node, socket, Buffer.from(opts.token));
  }

  address(): NodeAddress {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  /** Sets where each node takes hand-overs (this node's own entry is ignored). */
  setRoutes(routes: Iterable<[number, NodeAddress]>): void {
    this.routes.clear();
    for (const [n, a] of routes) if (n !== this.node) this.routes.set(n, a);
  }

  /** Receives the records handed over by other nodes. */
  receive(cb: (datagram: Buffer, from: PeerAddress) => void): void {
    this.onRecord = cb;
  }

  /** Passes `datagram` (from `from`) to `node`; false when no route is known (counted). */
  forward(node: number, datagram: Buffer, from: PeerAddress): boolean {
    const to = node === this.node ? undefined : this.routes.get(node);
    if (!to) {
      this.stats.noRoute++;
      return false;
    }
    this.stats.forwarded++;
    this.socket.send(encodeHandOver(this.token, from, datagram), to.port, to.address);
    return true;
  }

  close(): Promise<void> {
    return new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

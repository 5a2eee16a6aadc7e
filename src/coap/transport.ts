/**
 * The seam between CoAP and whatever carries its datagrams (DESIGN.md "Key seams"): plain UDP for
 * `coap://` and DTLS for `coaps://`. CoAP never sees DTLS records; a secure transport hands up each
 * decrypted datagram with the {@link PeerIdentity} its handshake proved.
 */
import type { PeerIdentity } from '../dtls/credentials/identity.ts';
import type { OscoreIdentity } from '../oscore/context.ts';

export type { PeerIdentity };

/** Where a datagram came from; `identity` is absent on plain UDP. */
export interface TransportPeer {
  address: string;
  port: number;
  identity?: PeerIdentity;
  /** The OSCORE context a request was protected under (set by the server's OSCORE layer). */
  oscore?: OscoreIdentity;
}

export interface Transport {
  /** Sends one CoAP message as one datagram (RFC 7252 §3: a message fits in one datagram). */
  send(datagram: Buffer, peer: { address: string; port: number }): void | Promise<void>;
  /** Registers the receiver of datagrams; a transport has one receiver (the message layer). */
  onDatagram(cb: (datagram: Buffer, peer: TransportPeer) => void): void;
  close(): Promise<void>;
  readonly scheme: 'coap' | 'coaps';
  /**
   * Registers who hears that a peer cannot be reached (an ICMP port-unreachable). Only transports
   * that can see such errors implement it: a UDP socket connected to its one peer, a DTLS client.
   */
  onUnreachable?(cb: (peer: { address: string; port: number }, err: Error) => void): void;
}

/**
 * The bookkeeping every datagram transport repeats: its one receiver, who hears that the peer is
 * unreachable, and a close that runs once. A subclass delivers to `receiver`, reports to
 * `unreachable`, and releases its socket or connection in {@link release}.
 */
export abstract class DatagramTransport {
  protected receiver?: (datagram: Buffer, peer: TransportPeer) => void;
  protected unreachable?: (peer: { address: string; port: number }, err: Error) => void;
  protected closed = false;

  onDatagram(cb: (datagram: Buffer, peer: TransportPeer) => void): void {
    this.receiver = cb;
  }

  onUnreachable(cb: (peer: { address: string; port: number }, err: Error) => void): void {
    this.unreachable = cb;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.release();
  }

  /** Frees what carries the datagrams; called once, by the first {@link close}. */
  protected abstract release(): Promise<void>;
}

/** A key that names a peer endpoint: `address|port`. */
export function peerKey(peer: { address: string; port: number }): string {
  return `${peer.address}|${peer.port}`;
}

/**
 * The seam between CoAP and whatever carries its datagrams (DESIGN.md "Key seams"): plain UDP for
 * `coap://` and DTLS for `coaps://`. CoAP never sees DTLS records; a secure transport hands up each
 * decrypted datagram with the {@link PeerIdentity} its handshake proved.
 */
import type { PeerIdentity } from '../dtls/credentials/identity.ts';

export type { PeerIdentity };

/** Where a datagram came from; `identity` is absent on plain UDP. */
export interface TransportPeer {
  address: string;
  port: number;
  identity?: PeerIdentity;
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

/** A key that names a peer endpoint: `address|port`. */
export function peerKey(peer: { address: string; port: number }): string {
  return `${peer.address}|${peer.port}`;
}

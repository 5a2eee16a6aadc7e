/** Where a datagram came from or goes to, as the endpoint and the handshake see a peer. */
export interface PeerAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

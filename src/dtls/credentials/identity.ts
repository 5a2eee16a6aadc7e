/**
 * What a finished DTLS handshake proves about the peer (DESIGN.md, "Key seams"). The CoAP server
 * hands it to every request; the platform maps it to a device and its rights. An identity is a
 * value shared by the sessions of one peer (the X.509 one is frozen): read it, never write to it.
 */
export type PeerIdentity =
  | { mode: 'psk'; identity: string }
  | {
      mode: 'rpk';
      /** The peer's SubjectPublicKeyInfo, DER. */
      spki: Buffer;
      /** Lower-case hex SHA-256 of the SPKI. */
      fingerprint: string;
    }
  | {
      mode: 'x509';
      /** The leaf's subject, as OpenSSL prints it one RDN a line joined with ', ' (e.g. "CN=dev1, O=Acme"). */
      subject: string;
      /** Subject alternative names, e.g. ["DNS:dev1.example", "IP:127.0.0.1"]. */
      sans: readonly string[];
      /** Lower-case hex SHA-256 of the leaf certificate's DER. */
      fingerprint: string;
      /** The peer's chain as sent, leaf first, DER each. */
      chain: readonly Buffer[];
    };

export type SecurityMode = PeerIdentity['mode'];

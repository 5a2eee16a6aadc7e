/**
 * The opt-in meter (issue 7): the DTLS engine reports what crosses the wire and which crypto
 * operations it performs, so that the device model can replay a real transcript on a constrained
 * device profile. When no meter is configured the engine does no extra work: every call site is
 * `meter?.x(...)`.
 */
export type CryptoOp =
  | 'ecdsa_sign'
  | 'ecdsa_verify'
  | 'ecdh_keygen'
  | 'ecdh_agree'
  | 'sha256_block'
  | 'aes_block'
  | 'hmac'
  | 'prf';

export type Direction = 'out' | 'in';

export interface DtlsMeter {
  /** A handshake message of `type` (RFC 5246 HandshakeType name, e.g. 'client_hello'), whole (not per fragment). */
  handshakeMessage(dir: Direction, type: string, bodyBytes: number): void;
  /** A record on the wire: content type name ('handshake', 'change_cipher_spec', 'alert', 'application_data'), epoch and total record bytes including the 13-byte header. */
  record(dir: Direction, contentType: string, epoch: number, bytes: number): void;
  /** `count` crypto operations of `op`; `context` names the handshake message being prepared or processed when there is one. */
  crypto(op: CryptoOp, count: number, context?: string): void;
}

/**
 * The opt-in meter: the DTLS engine reports what crosses the wire and which crypto
 * operations it performs, so that the device model can replay a real transcript on a constrained
 * device profile. When no meter is configured the engine does no extra work: every call site is
 * `meter?.x(...)`.
 *
 * Every operation the engine performs is reported by the code that performs it — nothing is left
 * for a recorder to infer: the ECDH/ECDSA operations of each key-exchange message, each signature
 * check of a peer's certificate chain, the handshake hashes, every PRF call (master secret, key
 * block, Finished) with its HMACs, the HMAC of the stateless cookie (made for a HelloVerifyRequest
 * and checked on the ClientHello that returns it), and the AES blocks of record protection.
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

/**
 * What an operation is for, where the handshake message alone does not say it (a PRF or HMAC call
 * serves several purposes within one message):
 * - `cookie`: the HMAC of the stateless cookie (RFC 6347 §4.2.1), made for a HelloVerifyRequest
 *   (context `hello_verify_request`) or checked on the ClientHello that returns it (`client_hello`);
 * - `session_hash`: the SHA-256 of the handshake messages up to ClientKeyExchange that the extended
 *   master secret is derived from (RFC 7627 §3);
 * - `master_secret`: PRF(pre_master_secret, "master secret" or "extended master secret", …)
 *   (RFC 5246 §8.1, RFC 7627 §4), and its HMACs;
 * - `key_block`: PRF(master_secret, "key expansion", …) (RFC 5246 §6.3), and its HMACs;
 * - `handshake_hash`: the SHA-256 of the handshake messages that a Finished covers (RFC 5246 §7.4.9);
 * - `finished`: PRF(master_secret, finished_label, …) for verify_data (RFC 5246 §7.4.9);
 * - `certificate_chain`: a signature check on a certificate of the peer's X.509 chain
 *   (RFC 5280 §6.1.3 (a)(1)), context `certificate`;
 * - `record`: AES-CCM protection of a record (RFC 6655), no handshake message as context.
 */
export type CryptoPurpose =
  | 'cookie'
  | 'session_hash'
  | 'master_secret'
  | 'key_block'
  | 'handshake_hash'
  | 'finished'
  | 'certificate_chain'
  | 'record';

export type Direction = 'out' | 'in';

export interface DtlsMeter {
  /**
   * A handshake message of `type` (RFC 5246 HandshakeType name, e.g. 'client_hello'), whole (not
   * per fragment). A server reports its stateless HelloVerifyRequest ('out') too, from the endpoint.
   */
  handshakeMessage(dir: Direction, type: string, bodyBytes: number): void;
  /** A record on the wire: content type name ('handshake', 'change_cipher_spec', 'alert', 'application_data'), epoch and total record bytes including the 13-byte header. */
  record(dir: Direction, contentType: string, epoch: number, bytes: number): void;
  /**
   * `count` crypto operations of `op`; `context` names the handshake message being prepared or
   * processed when there is one; `purpose` (added later, for the device model's per-message table;
   * older meters may ignore it) says what the operation computes, see {@link CryptoPurpose}.
   */
  crypto(op: CryptoOp, count: number, context?: string, purpose?: CryptoPurpose): void;
}

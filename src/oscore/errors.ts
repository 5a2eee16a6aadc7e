/**
 * The OSCORE layer's typed error. Each carries the CoAP code RFC 8613 §8 answers a failed request
 * with (4.02 Bad Option for a malformed OSCORE option, 4.01 Unauthorized for an unknown context or a
 * replay, 4.00 Bad Request when decryption fails), so that a server turns it into that response.
 */
import { Code } from '../coap/options.ts';

export type OscoreErrorKind =
  /** The OSCORE option, or the decrypted plaintext, is not well-formed. */
  | 'malformed'
  /** No security context for the kid (and kid context) of a request. */
  | 'unknown-context'
  /** The Partial IV was seen before or fell out of the replay window. */
  | 'replay'
  /** The AEAD tag did not verify. */
  | 'decrypt'
  /** The server wants the request again with the Echo value it sent (RFC 9175). */
  | 'echo'
  /** The sender sequence number space is exhausted or could not be persisted. */
  | 'sequence'
  /**
   * The EDHOC part of an EDHOC + OSCORE request failed (RFC 9668 §3.3.1): the server answers with
   * the unprotected EDHOC error message in `response`, and the client sees this kind.
   */
  | 'edhoc';

const CODE_OF: Record<OscoreErrorKind, number> = {
  malformed: Code.BadOption,
  'unknown-context': Code.Unauthorized,
  replay: Code.Unauthorized,
  decrypt: Code.BadRequest,
  echo: Code.Unauthorized,
  sequence: Code.InternalServerError,
  edhoc: Code.BadRequest,
};

/** An unprotected answer other than the reason text: the EDHOC error message of RFC 9668 §3.3.1. */
export interface OscoreErrorResponse {
  /** 4.00 when the client is at fault, 5.00 for the server's own (RFC 9528 Appendix A.2.3). */
  readonly code: number;
  readonly contentFormat: number;
  readonly payload: Buffer;
}

export class OscoreError extends Error {
  /** The CoAP error code a server answers with (RFC 8613 §8.2, §8.4). */
  readonly code: number;
  constructor(
    readonly kind: OscoreErrorKind,
    message: string,
    /** What the server sends instead of the reason text (kind 'edhoc'); on the client, what came. */
    readonly response?: OscoreErrorResponse,
  ) {
    super(message);
    this.name = 'OscoreError';
    this.code = response?.code ?? CODE_OF[kind];
  }
}

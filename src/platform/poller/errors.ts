/**
 * The poller's one error type, in a module of its own so that the fetchers and the coaps://
 * security builder can both throw it without importing each other.
 */

/** Why a poll failed; the poll log shows it as the entry's status. */
export type PollErrorKind =
  | 'timeout'
  | 'network'
  | 'handshake'
  | 'http'
  | 'coap'
  | 'too-large'
  | 'credentials'
  | 'scheme'
  | 'forbidden';

/** A failed poll: `kind` goes into the poll log's status. */
export class PollError extends Error {
  constructor(
    readonly kind: PollErrorKind,
    message: string,
    readonly newSession = false,
  ) {
    super(message);
    this.name = 'PollError';
  }
}

/**
 * The platform's typed errors. The store, the service and the parsers throw errors that say what
 * went wrong (a {@link ErrorKind}), not how a protocol answers it; each API maps a kind to its
 * answer in one place: `http/errors.ts` to an HTTP status, `coap/errors.ts` to a CoAP code.
 */

/** What kind of refusal an error is; each API maps a kind to its answer. */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'too-large'
  | 'unprocessable'
  | 'rate-limited'
  | 'unavailable'
  | 'internal';

/** Base of the platform's errors: a message for the caller and the kind of refusal. */
export abstract class PlatformError extends Error {
  abstract readonly kind: ErrorKind;
}

/** An error class of one kind, named `name`. */
function kindOf<K extends ErrorKind>(kind: K, name: string) {
  return class extends PlatformError {
    readonly kind: K = kind;
    constructor(message: string) {
      super(message);
      this.name = name;
    }
  };
}

/** Input that breaks a rule: a wrong type, a value out of range, a malformed key. */
export class Invalid extends kindOf('invalid', 'Invalid') {}

/** No credentials, or credentials that prove nothing (a wrong password, an unknown or expired token). */
export class Unauthenticated extends kindOf('unauthenticated', 'Unauthenticated') {}

/** The caller is known but may not do this. */
export class Forbidden extends kindOf('forbidden', 'Forbidden') {}

/** The object addressed does not exist (or went away meanwhile). */
export class NotFound extends kindOf('not-found', 'NotFound') {}

/** A name, identity or key that must be unique is taken, or a per-owner count is full. */
export class Conflict extends kindOf('conflict', 'Conflict') {}

/** More than a limit allows in one request (points in a batch). */
export class TooLarge extends kindOf('too-large', 'TooLarge') {}

/** Well-formed input that cannot be carried out (a parser's regular expression runs too long). */
export class Unprocessable extends kindOf('unprocessable', 'Unprocessable') {}

/** A rate limit or a per-caller count of open things refuses for now. */
export class RateLimited extends kindOf('rate-limited', 'RateLimited') {}

/** The platform is saturated: retry later. */
export class Unavailable extends kindOf('unavailable', 'Unavailable') {}

/** An inconsistency inside the platform, not the caller's fault. */
export class Internal extends kindOf('internal', 'Internal') {}

/** A request body, query or path that does not match its schema: names the field. */
export class InvalidInput extends Invalid {
  constructor(
    /** The offending field as a path (`label`, `points[2].value`), or `body` for the whole body. */
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'InvalidInput';
  }
}

/**
 * A stored DTLS session that cannot be read back (another format version, a seal that does not
 * open): not the client's fault; the session cache treats it as absent and a full handshake follows.
 */
export class SessionStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionStateError';
  }
}

/**
 * The platform's typed errors. The store and the service throw domain errors that say what went
 * wrong, not how a protocol answers it; the HTTP API and the CoAP API each map them to their own
 * status or code (`http/app.ts`, `coap/api.ts`).
 *
 * Every one of them is a {@link PlatformError} and keeps its `status`: the HTTP status of its kind,
 * so that callers written against `PlatformError.status` (the CLI's `start`) keep working.
 */
import { PlatformError } from './model.ts';

export { PlatformError };

/** What kind of refusal a domain error is; each API maps a kind to its answer. */
export type ErrorKind = 'invalid' | 'forbidden' | 'not-found' | 'conflict';

const STATUS: Record<ErrorKind, number> = { invalid: 400, forbidden: 403, 'not-found': 404, conflict: 409 };

/** Base of the domain errors. */
export abstract class DomainError extends PlatformError {
  abstract readonly kind: ErrorKind;
}

/** A domain error class of one kind, named `name`. */
function kindOf<K extends ErrorKind>(kind: K, name: string) {
  return class extends DomainError {
    readonly kind: K = kind;
    constructor(message: string) {
      super(STATUS[kind], message);
      this.name = name;
    }
  };
}

/** The object addressed does not exist (or went away meanwhile). */
export class NotFound extends kindOf('not-found', 'NotFound') {}

/** A name, identity or key that must be unique is taken. */
export class Conflict extends kindOf('conflict', 'Conflict') {}

/** The caller is known but may not do this. */
export class Forbidden extends kindOf('forbidden', 'Forbidden') {}

/** Input that breaks a rule: a wrong type, a value out of range, a malformed key. */
export class Invalid extends kindOf('invalid', 'Invalid') {}

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

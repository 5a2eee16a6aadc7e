/** The one place where the platform's errors (errors.ts) become HTTP statuses. */
import type { ErrorKind, PlatformError } from '../errors.ts';

const HTTP_STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'too-large': 413,
  unprocessable: 422,
  'rate-limited': 429,
  internal: 500,
  unavailable: 503,
};

/** The HTTP status that answers `err`. */
export function httpStatusOf(err: PlatformError): number {
  return HTTP_STATUS[err.kind];
}

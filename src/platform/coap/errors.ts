/**
 * The one place where the platform's errors (errors.ts) become CoAP answers: the code of the same
 * class and detail as the HTTP answer, with the message as diagnostic payload (RFC 7252 §5.5.2).
 */
import { CoapError, Code } from '../../coap/index.ts';
import { type ErrorKind, PlatformError } from '../errors.ts';

/** HTTP status → CoAP code of the same class and detail (RFC 7252 §12.1.2; 4.09 from RFC 8132). */
export function coapCodeOf(status: number): number {
  const cls = Math.floor(status / 100);
  const detail = status % 100;
  if ((cls === 4 || cls === 5) && detail < 32) return (cls << 5) | detail;
  return Code.InternalServerError;
}

/** The CoAP answer to each kind of error (4.09 Conflict from RFC 8132 §6.1, 4.29 from RFC 8516). */
const COAP_CODE: Record<ErrorKind, number> = {
  invalid: Code.BadRequest,
  unauthenticated: Code.Unauthorized,
  forbidden: Code.Forbidden,
  'not-found': Code.NotFound,
  conflict: (4 << 5) | 9,
  'too-large': Code.RequestEntityTooLarge,
  unprocessable: (4 << 5) | 22,
  'rate-limited': (4 << 5) | 29,
  internal: Code.InternalServerError,
  unavailable: Code.ServiceUnavailable,
};

/** The CoAP code that answers `err`. */
export function coapCodeOfError(err: PlatformError): number {
  return COAP_CODE[err.kind];
}

/** A platform error as a CoAP code and diagnostic payload; anything else rethrown. */
export function fail(err: unknown): never {
  if (err instanceof PlatformError) throw new CoapError(COAP_CODE[err.kind], err.message);
  throw err;
}

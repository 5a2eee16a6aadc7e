/**
 * The CoAP API's rate limits: the same policy as HTTP ({@link ClientLimits}, limits.ts), keyed by
 * the datagram's source address before authentication and by the principal after (over coaps://
 * the device the DTLS identity is bound to, over coap:// the `?key=`). A refusal is 4.29 Too Many
 * Requests with Max-Age saying how many seconds to wait (RFC 8516 §3), its diagnostic payload
 * saying why; every 4.01 counts against the address, and `POST /login` is limited per address and
 * username.
 *
 * Over plain coap:// a source address is not proven (UDP): a forged one can spend another
 * address's buckets, for at most the time they take to refill. Over coaps:// the DTLS cookie
 * exchange (RFC 6347 §4.2.1) has checked it.
 */
import { CoapError, type CoapRequest, type CoapResponseInit, Code } from '../../coap/index.ts';
import type { ClientLimits } from '../limits.ts';
import { type Caller, PlatformError } from '../model.ts';

/** RFC 8516: 4.29 Too Many Requests. */
export const TOO_MANY_REQUESTS = (4 << 5) | 29;

/** A refusal decided inside a handler; the API's handler wrapper turns it into the 4.29 response. */
export class CoapRateLimited extends CoapError {
  constructor(
    readonly retryAfter: number,
    what: string,
  ) {
    super(TOO_MANY_REQUESTS, `${what}: retry after ${retryAfter} s`);
    this.name = 'CoapRateLimited';
  }
}

function refusal(wait: number, what: string): CoapResponseInit {
  return {
    code: TOO_MANY_REQUESTS,
    payload: `${what}: retry after ${wait} s`,
    contentFormat: 0, // text/plain: a diagnostic (RFC 7252 §5.5.2)
    maxAge: wait,
  };
}

export class CoapLimits {
  private readonly charged = new WeakSet<CoapRequest>();

  constructor(readonly limits: ClientLimits) {}

  /** Before the handler: the 4.29 response when the source address must wait, else undefined. */
  admit(req: CoapRequest): CoapResponseInit | undefined {
    const wait = this.limits.admit(req.peer.address);
    return wait > 0 ? refusal(wait, 'too many requests') : undefined;
  }

  /** After authentication: the caller, or a {@link CoapRateLimited} when its principal must wait. */
  authenticated(req: CoapRequest, caller: Caller): Caller {
    if (caller.kind === 'anonymous' || req.notification || this.charged.has(req)) return caller;
    this.charged.add(req);
    const wait = this.limits.authenticated(req.peer.address, caller);
    if (wait > 0) throw new CoapRateLimited(wait, 'too many requests');
    return caller;
  }

  /** Before a sign-in attempt. */
  login(req: CoapRequest, username: string): void {
    const wait = this.limits.login(req.peer.address, username);
    if (wait > 0) throw new CoapRateLimited(wait, 'too many sign-in attempts');
  }

  /**
   * What a handler threw, seen by the limits: a refusal becomes the 4.29 response (returned); a
   * failed authentication counts against the address (undefined: the API answers it as usual).
   */
  onError(req: CoapRequest, err: unknown): CoapResponseInit | undefined {
    if (err instanceof CoapRateLimited) return refusal(err.retryAfter, err.message.replace(/: retry after.*$/, ''));
    const unauthorized =
      (err instanceof PlatformError && err.kind === 'unauthenticated') ||
      (err instanceof CoapError && err.code === Code.Unauthorized);
    if (unauthorized && !req.notification) this.limits.failed(req.peer.address);
    return undefined;
  }
}

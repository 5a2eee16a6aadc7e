/**
 * The CoAP layer's typed errors (DESIGN.md "Conventions": a typed error per layer). One base,
 * {@link CoapError}, whose `kind` says what went wrong:
 *
 * - `response`  a code to answer or that was answered (RFC 7252 §5.9); thrown by a handler it becomes
 *               that response, with the message as diagnostic payload (§5.5.2).
 * - `timeout`   a confirmable message was never acknowledged, or no response came (§4.2, §4.8.2).
 * - `reset`     the peer answered with a Reset (§4.2, §4.3).
 * - `format`    a datagram that is not a well-formed CoAP message (§3, §4.2 "message format error").
 * - `cancelled` the request was abandoned: the endpoint closed or the caller gave up.
 *
 * The subclasses keep the names callers already test with `instanceof`. Each carries the code a
 * gateway would answer for it (§5.9.3), but a server answers a handler's error with `code` only for
 * the `response` kind.
 */
import { Code, codeString } from './options.ts';

export type CoapErrorKind = 'response' | 'timeout' | 'reset' | 'format' | 'cancelled';

export class CoapError extends Error {
  readonly code: number;
  readonly kind: CoapErrorKind;
  constructor(code: number, message?: string, kind: CoapErrorKind = 'response') {
    super(message ?? `CoAP ${codeString(code)}`);
    this.name = new.target.name;
    this.code = code;
    this.kind = kind;
  }
}

/** A datagram that is not a well-formed CoAP message. */
export class CoapFormatError extends CoapError {
  constructor(message: string) {
    super(Code.BadGateway, message, 'format');
  }
}

/** A confirmable message was not acknowledged after MAX_RETRANSMIT retransmissions, or no response came. */
export class CoapTimeoutError extends CoapError {
  constructor(message = 'CoAP request timed out') {
    super(Code.GatewayTimeout, message, 'timeout');
  }
}

/** The peer answered our message with a Reset. */
export class CoapResetError extends CoapError {
  constructor(message = 'peer answered with Reset') {
    super(Code.BadGateway, message, 'reset');
  }
}

/** The request was cancelled (the endpoint closed, or the caller gave up). */
export class CoapCancelledError extends CoapError {
  constructor(message = 'CoAP request cancelled') {
    super(Code.ServiceUnavailable, message, 'cancelled');
  }
}

/**
 * Nothing listens at the peer's address and port: the host answered with an ICMP port-unreachable
 * (seen as ECONNREFUSED on a connected socket). Retransmitting would only wait out the timers.
 */
export class CoapUnreachableError extends Error {
  readonly peer: { address: string; port: number };
  constructor(peer: { address: string; port: number }, cause?: Error) {
    const where = peer.address.includes(':') ? `[${peer.address}]:${peer.port}` : `${peer.address}:${peer.port}`;
    super(`${where} is unreachable (ICMP port unreachable: nothing listens there)`, { cause });
    this.name = 'CoapUnreachableError';
    this.peer = peer;
  }
}

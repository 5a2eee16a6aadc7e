/** The CoAP layer's typed errors (DESIGN.md "Conventions": a typed error per layer). */
import { codeString } from './options.ts';

/**
 * A failure that maps to a CoAP response code. Thrown by a handler, it becomes that response (with
 * the message as diagnostic payload, RFC 7252 §5.5.2); raised by the client, it carries the code the
 * server answered.
 */
export class CoapError extends Error {
  readonly code: number;
  constructor(code: number, message?: string) {
    super(message ?? `CoAP ${codeString(code)}`);
    this.name = 'CoapError';
    this.code = code;
  }
}

/** A datagram that is not a well-formed CoAP message (RFC 7252 §3, §4.2 "message format error"). */
export class CoapFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CoapFormatError';
  }
}

/** A confirmable message was not acknowledged after MAX_RETRANSMIT retransmissions (RFC 7252 §4.2). */
export class CoapTimeoutError extends Error {
  constructor(message = 'CoAP request timed out') {
    super(message);
    this.name = 'CoapTimeoutError';
  }
}

/** The peer answered our message with a Reset (RFC 7252 §4.2, §4.3). */
export class CoapResetError extends Error {
  constructor(message = 'peer answered with Reset') {
    super(message);
    this.name = 'CoapResetError';
  }
}

/** The request was cancelled (the endpoint closed, or the caller gave up). */
export class CoapCancelledError extends Error {
  constructor(message = 'CoAP request cancelled') {
    super(message);
    this.name = 'CoapCancelledError';
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

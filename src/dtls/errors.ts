/** Alerts (RFC 5246 §7.2, RFC 6347 §4.1.2.7) and the DTLS layer's typed error. */

export enum AlertLevel {
  warning = 1,
  fatal = 2,
}

export enum AlertDescription {
  close_notify = 0,
  unexpected_message = 10,
  bad_record_mac = 20,
  record_overflow = 22,
  handshake_failure = 40,
  bad_certificate = 42,
  unsupported_certificate = 43,
  certificate_revoked = 44,
  certificate_expired = 45,
  certificate_unknown = 46,
  illegal_parameter = 47,
  unknown_ca = 48,
  access_denied = 49,
  decode_error = 50,
  decrypt_error = 51,
  protocol_version = 70,
  insufficient_security = 71,
  internal_error = 80,
  user_canceled = 90,
  no_renegotiation = 100,
  unsupported_extension = 110,
  unknown_psk_identity = 115,
}

export function alertName(d: number): string {
  return AlertDescription[d] ?? `alert_${d}`;
}

/**
 * A DTLS failure that maps to an alert. `sent` is true when we sent the alert to the peer (our side
 * refused), false when the peer sent it to us.
 */
export class DtlsAlertError extends Error {
  readonly level: AlertLevel;
  readonly description: AlertDescription;
  readonly sent: boolean;
  constructor(description: AlertDescription, message?: string, opts: { level?: AlertLevel; sent?: boolean } = {}) {
    const side = opts.sent === false ? 'peer sent' : 'we sent';
    super(message ? `${message} (${side} ${alertName(description)})` : `${side} alert ${alertName(description)}`);
    this.name = 'DtlsAlertError';
    this.level = opts.level ?? AlertLevel.fatal;
    this.description = description;
    this.sent = opts.sent ?? true;
  }
}

/** A malformed structure on the wire: becomes a `decode_error` alert in a handshake, a silent drop in a record. */
export class DtlsDecodeError extends DtlsAlertError {
  constructor(message: string) {
    super(AlertDescription.decode_error, message);
    this.name = 'DtlsDecodeError';
  }
}

/** The handshake did not finish in time (all retransmissions spent). */
export class DtlsTimeoutError extends Error {
  constructor(message = 'DTLS handshake timed out') {
    super(message);
    this.name = 'DtlsTimeoutError';
  }
}

/**
 * The peer's host answered with an ICMP port-unreachable: nothing listens at that address and
 * port (seen on a client socket connected to its one server, as ECONNREFUSED).
 */
export class DtlsUnreachableError extends Error {
  readonly peer: { address: string; port: number; family: 'IPv4' | 'IPv6' };
  constructor(peer: { address: string; port: number; family: 'IPv4' | 'IPv6' }, cause?: Error) {
    const where = peer.address.includes(':') ? `[${peer.address}]:${peer.port}` : `${peer.address}:${peer.port}`;
    super(`${where} is unreachable (ICMP port unreachable: nothing listens there)`, { cause });
    this.name = 'DtlsUnreachableError';
    this.peer = { address: peer.address, port: peer.port, family: peer.family };
  }
}

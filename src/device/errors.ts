/**
 * The device agent's typed errors (DESIGN.md "Conventions": a typed error per layer). CoAP
 * conditions on the push stay {@link CoapError}s from the CoAP layer; these are the agent's own.
 */

/** The base of the agent's errors; `name` is the subclass's. */
export class DeviceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Options the agent cannot run with (no mode, an unknown sensor or format, a missing credential). */
export class DeviceConfigError extends DeviceError {}

/** A sensor gave no reading: its command failed or printed something that is not a number. */
export class SensorError extends DeviceError {}

/** The state file cannot be used: unreadable, malformed, too large or readable by others. */
export class StateFileError extends DeviceError {}

/** The cloud answered the push with an error code: the link is fine, the request was not. */
export class PushRejectedError extends DeviceError {
  constructor(
    readonly code: number,
    readonly status: string,
    detail: string,
    /** 5.03's Max-Age: when to try again (RFC 7252 §5.9.3.4). */
    readonly retryAfterMs?: number,
  ) {
    super(`the server answered ${status}${detail ? `: ${detail}` : ''}`);
  }
}

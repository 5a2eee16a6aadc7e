/**
 * What the two roles' state machines (client.ts, server.ts) have in common: the shape of a state,
 * the closed states at either end, and the refusal of a message a state does not expect.
 */
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import type { HandshakeMessage } from './reassembly.ts';

/** One state of a role's handshake: it takes the next message and says which state follows. */
export interface HandshakeState<S> {
  readonly name: string;
  /** The next message is a Finished protected under the new epoch. */
  readonly awaitingFinished: boolean;
  handle(m: HandshakeMessage): S | Promise<S>;
}

/** A message the state does not expect (RFC 5246 §7.2.2). */
export const unexpected = (m: HandshakeMessage, state: string): DtlsAlertError =>
  new DtlsAlertError(AlertDescription.unexpected_message, `unexpected handshake message ${m.msgType} in ${state}`);

/** Before the first message and after the end: every message is unexpected. */
export class Closed implements HandshakeState<never> {
  readonly awaitingFinished = false;
  constructor(readonly name: string) {}
  handle(m: HandshakeMessage): never {
    throw unexpected(m, this.name);
  }
}

/** A lookup (PSK store, session cache, certificate check) may answer at once or with a promise. */
export const isPromiseLike = <T>(v: T | PromiseLike<T>): v is PromiseLike<T> =>
  typeof (v as PromiseLike<T> | undefined)?.then === 'function';

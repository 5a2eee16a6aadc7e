/**
 * What the Initiator and the Responder state machines share: the state, which any exception in a
 * step turns to `failed`; the session once complete; and the test-only trace of intermediate
 * values. Each role adds its own states and steps.
 */
import { EdhocError } from './errors.ts';
import type { EdhocSession } from './session.ts';

export abstract class EdhocParty<State extends string> {
  /**
   * Intermediate values (keys included) for checking against the RFC 9529 traces; filled only
   * when tracing is on, so that a production session keeps no copies of its secrets.
   */
  readonly trace: Record<string, Buffer> = {};
  protected stateValue: State | 'start' | 'failed' = 'start';
  protected sessionValue?: EdhocSession;

  protected constructor(
    private readonly role: 'Initiator' | 'Responder',
    private readonly tracing: boolean,
  ) {}

  get state(): State | 'start' | 'failed' {
    return this.stateValue;
  }

  /** The completed session (for the Initiator: after message_3 for callers that expect no message_4). */
  get session(): EdhocSession {
    if (!this.sessionValue) throw new EdhocError('EDHOC session is not complete');
    return this.sessionValue;
  }

  protected expect(state: State | 'start'): void {
    if (this.stateValue !== state) throw new EdhocError(`${this.role} is in state ${this.stateValue}, not ${state}`);
  }

  protected record(values: Record<string, Buffer>): void {
    if (this.tracing) Object.assign(this.trace, values);
  }

  /** Runs one step; any exception leaves the party `failed`. */
  protected guard<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      this.stateValue = 'failed';
      throw e;
    }
  }
}

/** a ⊕ b over the length of `a` (the keystream of message_2, RFC 9528 §5.3.2). */
export function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

/**
 * The flight retransmission timer (RFC 6347 §4.2.4, §4.2.4.1): an initial timeout (1 s by default,
 * configurable), doubled after each expiry up to a cap (60 s), for a bounded number of tries; then
 * the handshake gives up.
 */
export interface RetransmitOptions {
  initialMs?: number;
  maxMs?: number;
  maxRetransmits?: number;
}

export class RetransmitTimer {
  private timer: NodeJS.Timeout | undefined;
  private timeoutMs: number;
  private tries = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly maxRetransmits: number;

  constructor(
    opts: RetransmitOptions,
    private readonly onExpire: () => void,
    private readonly onGiveUp: () => void,
  ) {
    this.initialMs = opts.initialMs ?? 1000;
    this.maxMs = opts.maxMs ?? 60_000;
    this.maxRetransmits = opts.maxRetransmits ?? 6;
    this.timeoutMs = this.initialMs;
  }

  /** Current timeout (for tests and logs). */
  get currentMs(): number {
    return this.timeoutMs;
  }

  /** Starts the timer for a new flight: the timeout goes back to its initial value. */
  startFlight(): void {
    this.stop();
    this.tries = 0;
    this.timeoutMs = this.initialMs;
    this.arm();
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.tries >= this.maxRetransmits) {
        this.onGiveUp();
        return;
      }
      this.tries++;
      // §4.2.4.1: double the value at each retransmission, up to no less than the RFC 2988 maximum of 60 s.
      this.timeoutMs = Math.min(this.timeoutMs * 2, this.maxMs);
      this.onExpire();
      if (this.timer === undefined) this.arm();
    }, this.timeoutMs);
    // Not unref'd: a handshake in progress keeps the process alive until it completes or gives up.
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }
}

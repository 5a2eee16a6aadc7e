/**
 * The restart policy of `--workers N` (workers.ts): a worker that dies is started again after a
 * delay that starts at 100 ms and doubles with every death in a row, up to 30 s, so that a worker
 * that crashes at once (a bad disk, a store that refuses it) does not spin. A worker that has
 * stayed up for `stableMs` (default 30 s) is well again: its next death waits 100 ms again.
 */

export interface BackoffOptions {
  /** The first delay, ms (default 100). */
  initialMs?: number;
  /** The longest delay, ms (default 30 000). */
  maxMs?: number;
  /** How long a worker must stay up for its delay to start over, ms (default 30 000). */
  stableMs?: number;
}

/** One worker's restart delays (its number of deaths in a row, and when it last started). */
export class RestartBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly stableMs: number;
  private failures = 0;
  private startedAt = Number.NEGATIVE_INFINITY;

  constructor(o: BackoffOptions = {}) {
    this.initialMs = o.initialMs ?? 100;
    this.maxMs = o.maxMs ?? 30_000;
    this.stableMs = o.stableMs ?? 30_000;
    if (!(this.initialMs > 0 && this.maxMs >= this.initialMs && this.stableMs >= 0))
      throw new RangeError('restart backoff: need 0 < initialMs ≤ maxMs and stableMs ≥ 0');
  }

  /** The worker (re)started at `now`. */
  started(now: number): void {
    this.startedAt = now;
  }

  /** The worker died at `now`: how long to wait before starting it again. */
  died(now: number): number {
    if (now - this.startedAt >= this.stableMs) this.failures = 0;
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return delay;
  }
}

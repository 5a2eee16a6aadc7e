/**
 * Exponential back-off with full jitter for a device whose cloud is unreachable: the n-th failure
 * waits a random time in [0, min(max, base·2^n)], so that a fleet that lost its server together
 * does not come back in lock-step.
 */
import { randomInt } from 'node:crypto';

export class Backoff {
  private failures = 0;
  constructor(
    readonly baseMs = 1000,
    readonly maxMs = 5 * 60_000,
  ) {}

  /** The ceiling of the next wait. */
  get ceilingMs(): number {
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.failures, 30));
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Records a failure and returns how long to wait before the next try. */
  fail(): number {
    const ceiling = this.ceilingMs;
    this.failures++;
    return randomInt(0, Math.max(1, Math.floor(ceiling)) + 1);
  }

  succeed(): void {
    this.failures = 0;
  }
}

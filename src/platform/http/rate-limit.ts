/**
 * A token-bucket rate limiter keyed by credential. Each key's bucket holds up to `burst` tokens and
 * refills at `rate` tokens per second; a request takes one token or is refused with the seconds to
 * wait (the HTTP `Retry-After` value, RFC 9110 §10.2.3; 429 is RFC 6585 §4).
 *
 * Memory stays bounded: at most `maxKeys` buckets are kept. A bucket that has refilled to `burst`
 * is indistinguishable from a new one, so idle buckets are dropped first; when every bucket is
 * busy, the least recently used is evicted (a Map iterates in insertion order, and a hit re-inserts).
 */
export interface RateLimiterOptions {
  /** Tokens per second. */
  rate: number;
  /** Bucket size: requests allowed at once. */
  burst: number;
  /** Most buckets kept. Default 100 000. */
  maxKeys?: number;
  /** Clock in ms (tests). Default `performance.now`. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  readonly rate: number;
  readonly burst: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private readonly buckets = new Map<string, Bucket>();

  constructor(opts: RateLimiterOptions) {
    if (!(opts.rate > 0) || !(opts.burst >= 1)) throw new Error('rate must be > 0 and burst ≥ 1');
    this.rate = opts.rate;
    this.burst = opts.burst;
    this.maxKeys = opts.maxKeys ?? 100_000;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Takes one token for `key`: 0 when allowed, else the whole seconds to wait (≥ 1). */
  take(key: string): number {
    const t = this.now();
    let b = this.buckets.get(key);
    if (b) {
      b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.rate);
      b.at = t;
      this.buckets.delete(key); // re-insert below: the map's order is least recently used first
    } else {
      b = { tokens: this.burst, at: t };
      if (this.buckets.size >= this.maxKeys) this.evict(t);
    }
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.rate));
  }

  /** Buckets currently kept (tests). */
  get size(): number {
    return this.buckets.size;
  }

  private evict(t: number): void {
    // Idle buckets first: full again, so forgetting them changes nothing.
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.rate >= this.burst) this.buckets.delete(k);
    }
    // Still full: drop the least recently used quarter.
    if (this.buckets.size >= this.maxKeys) {
      let n = Math.max(1, Math.floor(this.maxKeys / 4));
      for (const k of this.buckets.keys()) {
        if (n-- <= 0) break;
        this.buckets.delete(k);
      }
    }
  }
}

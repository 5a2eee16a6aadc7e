/**
 * Rate limits shared by the HTTP and CoAP APIs: a token bucket per key ({@link RateLimiter}) and
 * the policy on top ({@link ClientLimits}): who pays for a request, before and after it is
 * authenticated.
 *
 * {@link RateLimiter} is a token bucket per key (an address, a principal). Each key's bucket holds up to `burst` tokens and
 * refills at `rate` tokens per second; a request takes one token or is refused with the seconds to
 * wait (the HTTP `Retry-After` value, RFC 9110 §10.2.3; 429 is RFC 6585 §4).
 *
 * Memory stays bounded: at most `maxKeys` buckets are kept. A bucket that has refilled to `burst`
 * is indistinguishable from a new one, so idle buckets are dropped first; when every bucket is
 * busy, the least recently used is evicted (a Map iterates in insertion order, and a hit re-inserts).
 *
 * The buckets are per process. When several front ends run on one store, {@link SharedLimits}
 * (shared-limits.ts) counts the same limits across all of them, and a request must fit both.
 */
import { clientKey } from '../util/ip.ts';
import type { SharedLimits, SharedWindow } from './shared-limits.ts';

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

  /** Gives one token back to `key` (up to `burst`): a request charged to it was charged elsewhere after all. */
  give(key: string): void {
    const b = this.buckets.get(key);
    if (b) b.tokens = Math.min(this.burst, b.tokens + 1);
  }

  /** The whole seconds `key` would have to wait for one token now (0: none), without taking it. */
  peek(key: string): number {
    const b = this.buckets.get(key);
    if (!b) return 0;
    const tokens = Math.min(this.burst, b.tokens + ((this.now() - b.at) / 1000) * this.rate);
    return tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - tokens) / this.rate));
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

/** Who made an authenticated request, as the limits key it (model.ts `Caller` without the anonymous). */
export type Principal =
  | { kind: 'user'; userId: number }
  | { kind: 'resource'; resourceId: number }
  | { kind: 'stream'; streamId: number }
  | { kind: 'admin' };

function principalKey(p: Principal): string {
  switch (p.kind) {
    case 'user':
      return `p:u${p.userId}`;
    case 'resource':
      return `p:r${p.resourceId}`;
    case 'stream':
      return `p:s${p.streamId}`;
    case 'admin':
      return 'p:admin';
  }
}

export interface ClientLimitsOptions {
  /** Requests per second per client address before authentication and per principal after; 0 = off. */
  rate: number;
  /** Bucket size for `rate`. */
  burst: number;
  /** Sign-in attempts per minute per client address and username (bucket of the same size); 0 = off. */
  loginPerMinute: number;
  /**
   * Failed authentications (a secret that unlocks nothing, a wrong password) per minute per client
   * address, bucket of the same size; once spent, the address is refused before authentication
   * until it refills. 0 = off. Default 60.
   */
  failuresPerMinute?: number;
  /** Clock in ms (tests). */
  now?: () => number;
  /**
   * The same limits shared with the other front ends on this store (shared-limits.ts): each
   * bucket also becomes a sliding window of `burst` hits per `burst / rate` seconds counted by
   * every process; a request must fit both.
   */
  shared?: SharedLimits;
}

/** A per-process token bucket and, when front ends share the store, the same limit counted by all. */
class Limit {
  constructor(
    readonly local: RateLimiter,
    readonly shared: SharedWindow | undefined,
  ) {}

  take(key: string): number {
    const wait = this.local.take(key);
    if (!this.shared) return wait;
    if (wait > 0) return Math.max(wait, this.shared.peek(key)); // a Retry-After that both allow
    const all = this.shared.take(key);
    if (all > 0) this.local.give(key); // refused: the local token was not spent
    return all;
  }

  give(key: string): void {
    this.local.give(key);
    this.shared?.give(key);
  }

  peek(key: string): number {
    return Math.max(this.local.peek(key), this.shared?.peek(key) ?? 0);
  }
}

/** A limit of `burst` at once refilled at `rate` a second, shared with `prefix` when asked. */
function limit(
  rate: number,
  burst: number,
  maxKeys: number | undefined,
  opts: ClientLimitsOptions,
  prefix: string,
): Limit {
  return new Limit(
    new RateLimiter({ rate, burst, maxKeys, now: opts.now }),
    opts.shared?.window(prefix, burst, (burst / rate) * 1000),
  );
}

/** What the limits refused, by reason: the operator's counters. */
export interface LimitRefusals {
  address: number;
  principal: number;
  failures: number;
  login: number;
}

/**
 * The limits of one API front end. A request is first charged to its client address (whatever
 * secret it carries: an unchecked secret is no identity, so 2 000 bogus tokens are 2 000 requests
 * of one address). When it authenticates, the charge moves to the principal (the user, resource or
 * stream it proved to be), so that users behind one address do not share a bucket. A failed
 * authentication stays on the address and also spends its failure bucket; an address whose
 * failures are spent is refused before any secret is checked. Sign-in is limited per address and
 * username besides. An address is keyed by `clientKey` (IPv6 by its /64).
 */
export class ClientLimits {
  private readonly requests: Limit | null;
  private readonly failures: Limit | null;
  private readonly logins: Limit | null;
  readonly refused: LimitRefusals = { address: 0, principal: 0, failures: 0, login: 0 };
  /** The sync with the other front ends, when shared (its counters are the operator's too). */
  readonly shared: SharedLimits | undefined;

  constructor(opts: ClientLimitsOptions) {
    this.shared = opts.shared;
    // The keys carry their kind (`a:`, `p:`, `f:`); sign-in keys get theirs from the shared prefix.
    this.requests = opts.rate > 0 ? limit(opts.rate, Math.max(1, opts.burst), undefined, opts, '') : null;
    const f = opts.failuresPerMinute ?? 60;
    this.failures = f > 0 ? limit(f / 60, f, 50_000, opts, '') : null;
    const l = opts.loginPerMinute;
    this.logins = l > 0 ? limit(l / 60, l, 50_000, opts, 'l:') : null;
  }

  /** Before authentication: 0 to go on, else the seconds the address must wait. */
  admit(address: string): number {
    const failed = this.failures?.peek(`f:${clientKey(address)}`) ?? 0;
    if (failed > 0) {
      this.refused.failures++;
      return failed;
    }
    const wait = this.requests?.take(`a:${clientKey(address)}`) ?? 0;
    if (wait > 0) this.refused.address++;
    return wait;
  }

  /** After a successful authentication: the charge moves from the address to the principal. */
  authenticated(address: string, who: Principal): number {
    if (!this.requests) return 0;
    this.requests.give(`a:${clientKey(address)}`);
    const wait = this.requests.take(principalKey(who));
    if (wait > 0) this.refused.principal++;
    return wait;
  }

  /** A failed authentication from `address`: it counts against the address. */
  failed(address: string): void {
    this.failures?.take(`f:${clientKey(address)}`);
  }

  /** A sign-in attempt for `username`: 0 to go on, else the seconds to wait. */
  login(address: string, username: string): number {
    // An address has no `|`; the key is also stored as text, where PostgreSQL refuses NUL.
    const wait = this.logins?.take(`${clientKey(address)}|${username}`) ?? 0;
    if (wait > 0) this.refused.login++;
    return wait;
  }
}

/**
 * Rate limits shared by every front end on one database: a sliding-window counter per key, kept
 * in the store's fixed-window table (store/rate-limits.ts) and decided locally.
 *
 * A request never waits for the database. Each process counts hits in memory and decides on
 * what it knows: the totals all front ends had written at its last sync, plus its own hits since.
 * Every `intervalMs` (default 250 ms) it adds its new hits to the store in one upsert and reads
 * back the totals of the keys it saw; a key it sees for the first time (or again after an idle
 * interval), or whose room it has half spent on its own since, is synced within 25 ms.
 * So between two syncs each process may admit on its own what the others have not yet reported:
 * with N front ends a key under a flood can overshoot its limit by about what the N processes
 * admit for it in 25 ms and one query.
 *
 * The estimate is the usual sliding window over two fixed windows of length W: the previous
 * window's hits weighted by the part of it still inside the last W, plus the current window's.
 * With `limit` hits per window it allows on average `limit / W`, and never 2 × `limit` at a window
 * boundary as a plain fixed window would.
 *
 * If the store fails, the error is logged and counted and the process keeps deciding on what it
 * knows (its own per-process limits in limits.ts still hold): a database outage does not stop the
 * API. Hits counted but not yet written when a window ends are counted in the next one.
 */
import type { Logger } from '../util/log.ts';
import type { RateHits, RateLimitStore } from './store/rate-limits.ts';

/** The soonest a key seen for the first time is looked up in the store (ms). */
const EARLY_MS = 25;

interface Entry {
  /** The current window's start (ms since the epoch). */
  win: number;
  /** All front ends' hits in `win`, as of the last sync. */
  cur: number;
  /** All front ends' hits in the window before `win`, as of the last sync. */
  prev: number;
  /** This process's hits in `win` not yet written to the store (negative: charges given back). */
  pending: number;
  /** Seen (taken, given, peeked) since the last sync: its totals are read back then. */
  seen: boolean;
  /** When it was last seen (ms): idle entries are dropped. */
  last: number;
  /** When its totals were last read from the store (ms). */
  readAt: number;
}

/** One limit: `limit` hits per sliding window of `windowMs`, keys prefixed with `prefix`. */
export class SharedWindow {
  /** @internal */ readonly entries = new Map<string, Entry>();

  constructor(
    readonly prefix: string,
    readonly limit: number,
    readonly windowMs: number,
    private readonly hub: SharedLimits,
  ) {
    if (!(limit >= 1) || !(windowMs > 0)) throw new Error('limit must be ≥ 1 and windowMs > 0');
  }

  /** Takes one hit for `key`: 0 when allowed, else the whole seconds to wait (≥ 1). */
  take(key: string): number {
    const e = this.entry(key);
    const wait = this.waitFor(e);
    if (wait > 0) return wait;
    e.pending++;
    // Half of what was left when the others last reported is spent here: report and ask now, as
    // the others may be spending the same room (a flood spread over every front end).
    if (2 * e.pending >= this.limit - e.cur - e.prev * (1 - (this.hub.now() - e.win) / this.windowMs)) this.hub.soon();
    return 0;
  }

  /** Gives back one hit taken for `key` (the request was charged elsewhere after all). */
  give(key: string): void {
    this.entry(key).pending--;
  }

  /** The whole seconds `key` would wait for one hit now (0: none), without taking it. */
  peek(key: string): number {
    return this.waitFor(this.entry(key));
  }

  private entry(key: string): Entry {
    const now = this.hub.now();
    const win = now - (now % this.windowMs);
    let e = this.entries.get(key);
    if (!e) {
      if (this.entries.size >= this.hub.maxKeys) this.hub.evict(this);
      e = { win, cur: 0, prev: 0, pending: 0, seen: true, last: now, readAt: Number.NEGATIVE_INFINITY };
      this.entries.set(key, e);
    }
    if (e.win !== win) {
      // A new window: the old one's totals weigh as the previous; our hits not yet written are
      // written in the new window (see the module comment).
      e.prev = e.win === win - this.windowMs ? Math.max(0, e.cur) : 0;
      e.cur = 0;
      e.pending = Math.max(0, e.pending);
      e.win = win;
    }
    e.seen = true;
    e.last = now;
    // New, or idle while the others went on: what they counted is not known; ask without waiting.
    if (now - e.readAt > this.hub.intervalMs) this.hub.soon();
    return e;
  }

  /** 0 when one more hit fits the sliding window, else the whole seconds until it does. */
  private waitFor(e: Entry): number {
    const now = this.hub.now();
    const w = this.windowMs;
    const f = (now - e.win) / w; // how far into the current window, 0 ≤ f < 1
    const c = Math.max(0, e.cur + e.pending);
    if (e.prev * (1 - f) + c + 1 <= this.limit) return 0;
    let at: number; // when prev × (1 − f) + c ≤ limit − 1
    if (c <= this.limit - 1) at = e.win + w * (1 - (this.limit - 1 - c) / e.prev);
    else at = e.win + w + w * (1 - (this.limit - 1) / c); // the current window becomes the previous
    return Math.max(1, Math.ceil((at - now) / 1000));
  }
}

export interface SharedLimitsOptions {
  store: RateLimitStore;
  /** How often hits are written and totals read (ms). Default 250. */
  intervalMs?: number;
  /** Most keys kept in memory per limit. Default 100 000. */
  maxKeys?: number;
  logger?: Logger;
  /** Wall clock in ms, the same on every front end (tests). Default `Date.now`. */
  now?: () => number;
}

/** What the sync has done: the operator's counters. */
export interface SharedLimitsStats {
  syncs: number;
  syncErrors: number;
  /** Keys dropped from memory because a limit held `maxKeys` of them. */
  evicted: number;
}

/** The sync of every {@link SharedWindow} of one process with the store. */
export class SharedLimits {
  readonly maxKeys: number;
  readonly now: () => number;
  /** How often the timer syncs (ms); 0: only when {@link sync} is called. */
  readonly intervalMs: number;
  readonly stats: SharedLimitsStats = { syncs: 0, syncErrors: 0, evicted: 0 };
  private readonly store: RateLimitStore;
  private readonly logger?: Logger;
  private readonly windows: SharedWindow[] = [];
  private readonly timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastPurge = 0;
  private lastSync = 0;
  private lastWarned = Number.NEGATIVE_INFINITY;
  private early: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: SharedLimitsOptions) {
    this.store = opts.store;
    this.logger = opts.logger;
    this.maxKeys = opts.maxKeys ?? 100_000;
    this.now = opts.now ?? Date.now;
    this.intervalMs = opts.intervalMs ?? 250;
    if (this.intervalMs > 0) {
      this.timer = setInterval(() => void this.sync(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** A limit of `limit` hits per `windowMs`, its keys stored with `prefix`. */
  window(prefix: string, limit: number, windowMs: number): SharedWindow {
    const w = new SharedWindow(prefix, limit, windowMs, this);
    this.windows.push(w);
    return w;
  }

  /** Writes the hits counted since the last sync and reads back the totals of the keys seen. */
  sync(): Promise<void> {
    // One sync at a time: a slow database delays the next rather than piling them up.
    this.running ??= this.syncOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops the timer after writing what is pending. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.early) clearTimeout(this.early);
    await this.running;
    await this.sync();
  }

  /**
   * @internal A key was seen for the first time or after an idle interval, or half of its room is
   * spent: sync within
   * {@link EARLY_MS} rather than at the next tick of the timer, so that a key the other front ends
   * have spent is refused after a few requests. At most one early sync per {@link EARLY_MS}, so
   * that a stream of new keys or a flood costs the database at most one query pair per that interval.
   */
  soon(): void {
    if (this.early || this.closed || !this.timer) return;
    const delay = Math.max(0, this.lastSync + EARLY_MS - this.now());
    this.early = setTimeout(() => {
      this.early = undefined;
      void this.sync();
    }, delay);
    this.early.unref();
  }

  /** @internal Makes room in `w`: idle keys first, then the oldest quarter. */
  evict(w: SharedWindow): void {
    const before = w.entries.size;
    const idle = this.now() - 2 * w.windowMs;
    for (const [k, e] of w.entries) if (e.last < idle && e.pending === 0) w.entries.delete(k);
    if (w.entries.size >= this.maxKeys) {
      let n = Math.max(1, Math.floor(this.maxKeys / 4));
      for (const k of w.entries.keys()) {
        if (n-- <= 0) break;
        w.entries.delete(k);
      }
    }
    this.stats.evicted += before - w.entries.size;
  }

  private async syncOnce(): Promise<void> {
    const now = this.now();
    this.lastSync = now;
    const writes: RateHits[] = [];
    const flushed: Array<[Entry, number, number]> = [];
    const reads: Array<{ w: SharedWindow; key: string; e: Entry }> = [];
    for (const w of this.windows) {
      for (const [key, e] of w.entries) {
        if (e.pending !== 0) {
          writes.push({ key: w.prefix + key, window: e.win, hits: e.pending });
          flushed.push([e, e.pending, e.win]);
        }
        if (e.seen) reads.push({ w, key, e });
        else if (e.last < now - 2 * w.windowMs) w.entries.delete(key); // idle: forgotten
        e.seen = false;
      }
    }
    try {
      if (writes.length > 0) {
        await this.store.addRateHits(writes);
        // Hits taken while the write was in flight stay pending for the next sync.
        for (const [e, n, win] of flushed) {
          e.pending -= n;
          if (e.win === win) e.cur += n;
          else e.prev += n; // the window ended while the write was in flight
        }
      }
      if (reads.length > 0) {
        const longest = Math.max(...this.windows.map((w) => w.windowMs));
        const rows = await this.store.readRateHits(
          reads.map((r) => r.w.prefix + r.key),
          now - 2 * longest,
        );
        const byKey = new Map<string, RateHits[]>();
        for (const r of rows) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
        for (const { w, key, e } of reads) {
          const got = byKey.get(w.prefix + key) ?? [];
          const cur = got.find((r) => r.window === e.win);
          const prev = got.find((r) => r.window === e.win - w.windowMs);
          // The store's totals include ours (written above) and the hits given back.
          e.readAt = now;
          if (cur) e.cur = cur.hits;
          if (prev) e.prev = prev.hits;
        }
      }
      if (now - this.lastPurge > 60_000) {
        this.lastPurge = now;
        const longest = Math.max(1, ...this.windows.map((w) => w.windowMs));
        await this.store.deleteRateHitsBefore(now - 2 * longest);
      }
      this.stats.syncs++;
    } catch (err) {
      this.stats.syncErrors++;
      // Un-flushed hits are kept (pending unchanged when the write failed) and retried next time.
      // While the store fails, no early syncs for a second and one warning a minute: an outage
      // must not turn into a query every 25 ms and a log flood.
      this.lastSync = now + 1000;
      if (now - this.lastWarned >= 60_000) {
        this.lastWarned = now;
        this.logger?.warn(
          { err, failures: this.stats.syncErrors },
          'rate-limit counters not synced with the store; deciding on local counts',
        );
      }
    }
  }
}

/**
 * Group commit for points: concurrent writers share one transaction, and so one fsync.
 *
 * A request's points join the open batch. One batch commits at a time per lane (`lanes`, one by
 * default): a lane's next batch starts when its previous COMMIT returned (after letting pending
 * I/O run, so that requests that arrived meanwhile join it), and takes whole requests up to
 * `maxBatchPoints`. Each request's promise
 * settles only after the transaction holding its points committed, so an acknowledged point is as
 * durable as before. A batch that fails is retried one request per transaction, so that a bad
 * request (a stream deleted meanwhile) fails alone and the others are still stored.
 *
 * Points waiting beyond `maxQueuedPoints` are refused at once (a 503 the client may retry), not
 * buffered without bound; refusals are counted in {@link GroupCommitStats}.
 */
import { Unavailable } from '../errors.ts';
import type { StreamPoint } from '../model.ts';

export interface GroupCommitStats {
  /** Transactions committed (batches, and requests retried alone). */
  commits: number;
  /** Requests whose points were committed. */
  requests: number;
  points: number;
  /** Largest number of requests one transaction carried. */
  maxRequestsPerCommit: number;
  /** Batches that failed and were retried one request per transaction. */
  splitBatches: number;
  /** Requests that failed (alone, after a split). */
  failedRequests: number;
  /** Requests refused because the queue was full. */
  refusedRequests: number;
  /** Points waiting now. */
  queuedPoints: number;
}

/** Counters of a group commit that has done nothing yet. */
export function noCommits(): GroupCommitStats {
  return {
    commits: 0,
    requests: 0,
    points: 0,
    maxRequestsPerCommit: 0,
    splitBatches: 0,
    failedRequests: 0,
    refusedRequests: 0,
    queuedPoints: 0,
  };
}

interface Pending {
  points: StreamPoint[];
  now: number;
  resolve(n: number): void;
  reject(err: unknown): void;
}

export interface GroupCommitOptions {
  /** Points one transaction takes at most (whole requests; one larger request goes alone). */
  maxBatchPoints?: number;
  /** Points that may wait; beyond, a request is refused. */
  maxQueuedPoints?: number;
  /**
   * Batches committing at once. 1 for SQLite (one writer connection, on its own thread: the
   * next batch fills while it commits); more for PostgreSQL, where a commit waits on the network
   * and the server's WAL flush, and the server flushes concurrent commits together.
   */
  lanes?: number;
}

export class GroupCommit {
  private readonly queue: Pending[] = [];
  private head = 0;
  private running = 0;
  private readonly lanes: number;
  private readonly maxBatchPoints: number;
  private readonly maxQueuedPoints: number;
  readonly stats: GroupCommitStats = noCommits();

  /** `write` stores the points in one transaction (everything or nothing), `now` the latest time. */
  constructor(
    private readonly write: (points: StreamPoint[], now: number) => Promise<void>,
    opts: GroupCommitOptions = {},
  ) {
    this.maxBatchPoints = opts.maxBatchPoints ?? 5000;
    this.maxQueuedPoints = opts.maxQueuedPoints ?? 200_000;
    this.lanes = opts.lanes ?? 1;
  }

  /** Resolves with the number of points once they are committed. */
  submit(points: StreamPoint[], now: number): Promise<number> {
    if (points.length === 0) return Promise.resolve(0);
    if (this.stats.queuedPoints + points.length > this.maxQueuedPoints) {
      this.stats.refusedRequests++;
      return Promise.reject(new Unavailable('the point store is saturated; retry later'));
    }
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ points, now, resolve, reject });
      this.stats.queuedPoints += points.length;
      if (this.running < this.lanes) {
        this.running++;
        // Let the requests that arrived in this turn of the event loop join the first batch.
        setImmediate(() => void this.drain());
      }
    });
  }

  private take(): Pending[] {
    const batch: Pending[] = [];
    let n = 0;
    while (this.head < this.queue.length) {
      const p = this.queue[this.head];
      if (batch.length > 0 && n + p.points.length > this.maxBatchPoints) break;
      batch.push(p);
      n += p.points.length;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return batch;
  }

  private async drain(): Promise<void> {
    try {
      while (this.head < this.queue.length) {
        await this.commit(this.take());
        // Between commits, let pending I/O (new requests) run so that they join the next batch.
        if (this.head < this.queue.length) await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.running--;
    }
  }

  private async commit(batch: Pending[]): Promise<void> {
    let points: StreamPoint[];
    let now = batch[0].now;
    if (batch.length === 1) points = batch[0].points;
    else {
      points = [];
      for (const p of batch) {
        for (const pt of p.points) points.push(pt);
        if (p.now > now) now = p.now;
      }
    }
    for (const p of batch) this.stats.queuedPoints -= p.points.length;
    try {
      await this.write(points, now);
      this.stats.commits++;
      this.stats.requests += batch.length;
      this.stats.points += points.length;
      if (batch.length > this.stats.maxRequestsPerCommit) this.stats.maxRequestsPerCommit = batch.length;
      for (const p of batch) p.resolve(p.points.length);
    } catch (err) {
      if (batch.length === 1) {
        this.stats.failedRequests++;
        batch[0].reject(err);
        return;
      }
      // Someone's points broke the batch: each request alone, so that only the bad one fails.
      this.stats.splitBatches++;
      for (const p of batch) await this.commit([p]);
    }
  }
}

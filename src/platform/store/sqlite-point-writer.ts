/**
 * Stores batches of points in a SQLite file from a worker thread (`sqlite-point-thread.ts`), so
 * that the commit's fdatasync — milliseconds, tens of them on a busy disk — no longer holds the
 * event loop that parses and answers requests. The group commit (`point-batch.ts`) sends it one
 * batch at a time; each `write` resolves once the batch's transaction committed (durable: WAL with
 * `synchronous = FULL`), or rejects with the driver's error (its `code` kept, so that a foreign-key
 * violation still maps to NotFound).
 *
 * Two connections now write to the file: the thread's (points) and the main one (everything
 * else, and points written inside `transaction()`). Both take the write lock up front
 * (`BEGIN IMMEDIATE`, see `open.ts`) and wait for each other (`busy_timeout`), so that neither
 * fails on a snapshot the other moved. Readers stay on the main connection; WAL lets them read
 * beside the thread's write, and a read that starts after an acknowledgement sees the points.
 *
 * Points cross to the thread as columns in typed arrays whose buffers are transferred, not copied.
 * Batches of DTLS sessions (dtls-sessions.ts) take the same thread, for the same reason.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../util/log.ts';
import { Unavailable } from '../errors.ts';
import type { StreamPoint } from '../model.ts';
import type { DtlsSessionRow } from './context.ts';

/** What the thread is started with. */
export interface PointThreadData {
  path: string;
}

/** DTLS session rows to upsert in one transaction (store/dtls-sessions.ts's batches). */
export interface SessionBatchMessage {
  id: number;
  sessions: readonly DtlsSessionRow[];
}

/** DTLS sessions resumed since the last batch: their `last_used_at` becomes `at`. */
export interface SessionTouchMessage {
  id: number;
  touch: readonly string[];
  at: number;
}

/** One batch: the points as columns; `txts[i]` set means a text value, else `nums[i]`. */
export interface PointBatchMessage {
  id: number;
  streamIds: Int32Array;
  times: Float64Array;
  nums: Float64Array;
  /** Absent when every value is a number. */
  txts?: Array<string | null>;
  /** The latest request time: the reference of age retention. */
  now: number;
}

export interface PointBatchReply {
  id: number;
  error?: { message: string; code?: string };
}

/** A driver error from the thread, with SQLite's code (`SQLITE_CONSTRAINT_FOREIGNKEY`, …). */
export class PointWriteError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'PointWriteError';
  }
}

// The thread's module beside this one, with this module's extension (.ts from source, .js in dist/).
const THREAD = new URL(`./sqlite-point-thread${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** The columns of `points`, ready to transfer. */
export function pointColumns(points: StreamPoint[], now: number, id: number): PointBatchMessage {
  const n = points.length;
  const streamIds = new Int32Array(n);
  const times = new Float64Array(n);
  const nums = new Float64Array(n);
  let txts: Array<string | null> | undefined;
  for (let i = 0; i < n; i++) {
    const p = points[i];
    streamIds[i] = p.streamId;
    times[i] = p.time;
    if (typeof p.value === 'number') nums[i] = p.value;
    else {
      txts ??= new Array<string | null>(n).fill(null);
      txts[i] = p.value;
    }
  }
  return { id, streamIds, times, nums, txts, now };
}

interface Waiting {
  resolve(): void;
  reject(err: Error): void;
}

export class SqlitePointWriter {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly logger?: Logger,
  ) {}

  /** Stores the points in one transaction; resolves once it committed. */
  write(points: StreamPoint[], now: number): Promise<void> {
    if (this.closed) return Promise.reject(new Unavailable('the point store is closed'));
    const m = pointColumns(points, now, this.nextId++);
    return this.send(m, [m.streamIds.buffer, m.times.buffer, m.nums.buffer] as ArrayBuffer[]);
  }

  /** Upserts DTLS session rows in one transaction on the thread; resolves once it committed. */
  writeSessions(sessions: readonly DtlsSessionRow[]): Promise<void> {
    if (this.closed) return Promise.reject(new Unavailable('the store is closed'));
    return this.send({ id: this.nextId++, sessions } satisfies SessionBatchMessage);
  }

  /** Sets `last_used_at` of DTLS sessions in one transaction on the thread. */
  touchSessions(sessionIds: readonly string[], at: number): Promise<void> {
    if (this.closed) return Promise.reject(new Unavailable('the store is closed'));
    return this.send({ id: this.nextId++, touch: sessionIds, at } satisfies SessionTouchMessage);
  }

  private send(
    m: PointBatchMessage | SessionBatchMessage | SessionTouchMessage,
    transfer: ArrayBuffer[] = [],
  ): Promise<void> {
    const w = this.thread();
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(m.id, { resolve, reject });
      // Keep the process alive while a write is in flight, not otherwise.
      if (this.waiting.size === 1) w.ref();
      w.postMessage(m, transfer);
    });
  }

  /** Lets the writes in flight finish, then stops the thread. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    if (!w) return;
    this.worker = undefined;
    const exited = new Promise<void>((r) => w.once('exit', () => r()));
    w.ref();
    // Messages are handled in order: the writes sent before are done when the thread closes.
    w.postMessage('close');
    await exited;
  }

  /** The thread, started on first use and again after it died. */
  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(THREAD, { workerData: { path: this.path } satisfies PointThreadData });
    w.unref();
    w.on('message', (r: PointBatchReply) => {
      const waiting = this.waiting.get(r.id);
      if (!waiting) return;
      this.waiting.delete(r.id);
      // Idle, the thread must not keep the process alive; once closing, it must until it exits
      // (close() awaits its 'exit', which an unref'd thread would never let the loop reach).
      if (this.waiting.size === 0 && !this.closed) w.unref();
      if (r.error) waiting.reject(new PointWriteError(r.error.message, r.error.code));
      else waiting.resolve();
    });
    w.on('error', (err) => this.logger?.error({ err }, 'SQLite point writer thread failed'));
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = undefined;
      // A write whose answer never came may or may not have committed; its caller was not told
      // it succeeded, so it retries (upserts make the retry harmless).
      const lost = [...this.waiting.values()];
      this.waiting.clear();
      if (lost.length > 0) this.logger?.error({ code, lost: lost.length }, 'SQLite point writer thread exited');
      for (const l of lost) l.reject(new Unavailable('the point writer stopped; retry'));
    });
    this.worker = w;
    return w;
  }
}

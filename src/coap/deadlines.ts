/**
 * One timer for many deadlines: a binary min-heap of due times behind a single Node timer, so that
 * retransmissions and separate-response delays cost a heap push instead of a `setTimeout` each.
 * Cancelling only marks the deadline; dead entries are dropped when they reach the top, or all at
 * once when they outnumber the live ones, and the timer stops when nothing live is left.
 */

export interface Deadline {
  /** Due time in `Date.now()` milliseconds. */
  readonly at: number;
  /** Runs once at (or soon after) `at` unless cancelled before. */
  readonly fire: () => void;
  cancelled: boolean;
}

export class DeadlineQueue {
  private heap: Deadline[] = [];
  private live = 0;
  private timer?: NodeJS.Timeout;
  private armedAt = Number.POSITIVE_INFINITY;
  private closed = false;

  /** Schedules `fire` at `at`; the handle cancels it. */
  add(at: number, fire: () => void): Deadline {
    const d: Deadline = { at, fire, cancelled: false };
    if (this.closed) {
      d.cancelled = true;
      return d;
    }
    this.heap.push(d);
    this.up(this.heap.length - 1);
    this.live++;
    if (at < this.armedAt) this.arm(at);
    return d;
  }

  cancel(d: Deadline): void {
    if (d.cancelled) return;
    d.cancelled = true;
    this.live--;
    if (this.live === 0) {
      this.heap.length = 0;
      this.disarm();
    } else if (this.heap.length > 64 && this.live * 2 < this.heap.length) {
      this.heap = this.heap.filter((x) => !x.cancelled);
      for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
    }
  }

  /** Live deadlines (for tests and stats). */
  get size(): number {
    return this.live;
  }

  /** Drops every deadline without running it. */
  close(): void {
    this.closed = true;
    for (const d of this.heap) d.cancelled = true;
    this.heap.length = 0;
    this.live = 0;
    this.disarm();
  }

  private readonly run = (): void => {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    // `this.heap` is read afresh each time: a callback may cancel and so compact it.
    while (this.heap.length > 0 && this.heap[0].at <= now) {
      const d = this.pop();
      if (d.cancelled) continue;
      d.cancelled = true;
      this.live--;
      d.fire();
    }
    // Lazily cancelled entries on top would arm the timer for nothing.
    while (this.heap.length > 0 && this.heap[0].cancelled) this.pop();
    if (this.heap.length > 0) this.arm(this.heap[0].at);
  };

  private arm(at: number): void {
    this.disarm();
    this.armedAt = at;
    this.timer = setTimeout(this.run, Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
  }

  private pop(): Deadline {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop() as Deadline;
    if (heap.length > 0) {
      heap[0] = last;
      this.down(0);
    }
    return top;
  }

  private up(i: number): void {
    const heap = this.heap;
    const d = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p].at <= d.at) break;
      heap[i] = heap[p];
      i = p;
    }
    heap[i] = d;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const d = heap[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && heap[c + 1].at < heap[c].at) c++;
      if (heap[c].at >= d.at) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = d;
  }
}

/**
 * The bounded queue of readings the agent has taken but not yet delivered. While the cloud is
 * unreachable, readings keep coming in; once the queue is full the oldest is dropped (and counted),
 * so that memory stays bounded; when the link is back the queue is sent oldest first, in order.
 */
import type { Reading } from './sensors.ts';

/** One sampling of all sensors. */
export interface Sample {
  /** Sequence number of the sample since the agent started (1, 2, …). */
  seq: number;
  /** When the sensors were read. */
  time: Date;
  readings: Reading[];
}

/** Default bound: 1000 samples — 2 h 46 min of readings at the default 10 s interval. */
export const DEFAULT_QUEUE_LIMIT = 1000;

export class SampleQueue {
  private readonly items: Sample[] = [];
  private droppedCount = 0;

  constructor(readonly limit = DEFAULT_QUEUE_LIMIT) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('queue limit must be a positive integer');
  }

  /** Appends a sample; returns the one dropped to make room, if any. */
  push(s: Sample): Sample | undefined {
    this.items.push(s);
    if (this.items.length > this.limit) {
      this.droppedCount++;
      return this.items.shift();
    }
    return undefined;
  }

  /** The oldest sample, still queued. */
  peek(): Sample | undefined {
    return this.items[0];
  }

  /** Removes the oldest sample when it is `s` (it may have been dropped meanwhile). */
  remove(s: Sample): void {
    if (this.items[0] === s) this.items.shift();
    else {
      const i = this.items.indexOf(s);
      if (i >= 0) this.items.splice(i, 1);
    }
  }

  /** The queued samples, oldest first (a copy). */
  toArray(): Sample[] {
    return [...this.items];
  }

  get length(): number {
    return this.items.length;
  }

  /** Samples dropped because the queue was full. */
  get dropped(): number {
    return this.droppedCount;
  }
}

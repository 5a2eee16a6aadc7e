/**
 * Output lines batched per event-loop turn: a server that prints a JSON line per request writes
 * them with one `write` per turn instead of one per line (a write to a pipe or file is a system
 * call; per request it cost `coap serve` about a quarter of its CPU under load).
 */
import { setImmediate } from 'node:timers';

/** Writes at once when this much is waiting, so that one busy turn holds no more than this. */
const FLUSH_BYTES = 64 * 1024;

export interface LineSink {
  write(chunk: string): unknown;
}

export class LineBatch {
  private pending: string[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(private readonly sink: LineSink = process.stdout) {}

  /** Queues one line (without its newline) for the end of this turn. */
  push(line: string): void {
    this.pending.push(line);
    this.bytes += line.length + 1;
    if (this.bytes >= FLUSH_BYTES) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
  }

  private readonly flushNow = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Writes whatever is queued now (also before the process stops). */
  flush(): void {
    if (this.pending.length === 0) return;
    const text = `${this.pending.join('\n')}\n`;
    this.pending = [];
    this.bytes = 0;
    this.sink.write(text);
  }
}

/**
 * A progress line for long commands (bench, eval, load, ingest), on stderr so that stdout stays
 * the tables or JSON. On a terminal one line is redrawn in place (at most every 100 ms); otherwise
 * (a CI log, a file) a plain line is written every `everyMs` (default 10 s) and at each step, so
 * that a log shows the run is alive without flooding. `quiet` turns it off.
 *
 * The command owns the line ({@link startProgress}); the code doing the work only reports steps
 * through {@link progressStep} (a row measured, an experiment done), which is a no-op when no
 * command is showing progress, so library code and tests pay nothing.
 */

export interface ProgressOptions {
  /** What runs, e.g. `bench dtls`. */
  label: string;
  /** Steps expected, when known: the line shows `k/total`. */
  total?: number;
  /** Nothing is written. */
  quiet?: boolean;
  /** Where the line goes. Default process.stderr. */
  out?: { write(s: string): unknown; isTTY?: boolean };
  /** Plain mode: a line at least this often (ms). Default 10 000. */
  everyMs?: number;
  /** Clock in ms (tests). Default Date.now. */
  now?: () => number;
}

const REDRAW_MS = 100;

export class Progress {
  private readonly out: { write(s: string): unknown; isTTY?: boolean };
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly t0: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private steps = 0;
  private note = '';
  private drawn = 0;
  private ended = false;

  constructor(private readonly opts: ProgressOptions) {
    this.out = opts.out ?? process.stderr;
    this.tty = this.out.isTTY === true;
    this.now = opts.now ?? Date.now;
    this.t0 = this.now();
    if (!opts.quiet) {
      // A heartbeat: the elapsed time moves even while a step takes minutes.
      this.timer = setInterval(() => this.draw(false), this.tty ? 1000 : (opts.everyMs ?? 10_000));
      this.timer.unref();
    }
  }

  /** One step done (a row, an experiment), with what it was. */
  step(note = ''): void {
    this.steps++;
    this.note = note;
    this.draw(!this.tty);
  }

  /** The line as it reads now, e.g. `bench dtls: 3/7 psk full 12.4 s`. */
  text(): string {
    const count =
      this.opts.total !== undefined ? `${this.steps}/${this.opts.total}` : this.steps > 0 ? `${this.steps} steps` : '';
    const s = ((this.now() - this.t0) / 1000).toFixed(1);
    return `${this.opts.label}: ${[count, this.note].filter(Boolean).join(' ') || 'running'} · ${s} s`;
  }

  /** Stops the heartbeat and writes the last line (`done`). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearInterval(this.timer);
    if (this.opts.quiet) return;
    this.note = this.note ? `${this.note}, done` : 'done';
    if (this.tty) this.out.write(`\r\x1b[2K${this.text()}\n`);
    else this.out.write(`${this.text()}\n`);
  }

  private draw(force: boolean): void {
    if (this.opts.quiet || this.ended) return;
    const t = this.now();
    if (!force && this.tty && t - this.drawn < REDRAW_MS) return;
    this.drawn = t;
    // On a terminal: back to the line's start, clear it, redraw. Elsewhere: one line per report.
    this.out.write(this.tty ? `\r\x1b[2K${this.text()}` : `${this.text()}\n`);
  }
}

let current: Progress | undefined;

/** Starts the progress line of a command; {@link progressStep} reports to it until it ends. */
export function startProgress(opts: ProgressOptions): Progress {
  current?.end();
  const p = new Progress(opts);
  current = p;
  const end = p.end.bind(p);
  p.end = () => {
    end();
    if (current === p) current = undefined;
  };
  return p;
}

/** One step done in whatever long command is running (a no-op when none shows progress). */
export function progressStep(note = ''): void {
  current?.step(note);
}

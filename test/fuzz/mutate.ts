/**
 * A small seeded mutator for the fuzz tests: starts from real, valid encodings and damages them the
 * way a lossy link or a hostile peer does — bit flips, byte sets, truncation, extension, length
 * fields forced to 0/max/off-by-one, splices of two messages, duplicated chunks. Deterministic: the
 * same seed gives the same inputs, so a failure names the seed and iteration that reproduce it.
 *
 *   FUZZ_ITERATIONS=100000 FUZZ_SEED=7 node scripts/run-tests.mjs test/fuzz/dtls-wire
 *
 * runs longer (FUZZ_ITERATIONS per seed) or with one given seed instead of the fixed list.
 */

/** mulberry32: a tiny, fast 32-bit PRNG; good enough to drive mutations, never for keys. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 2^32). */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : this.u32() % n;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
  chance(p: number): boolean {
    return this.u32() / 2 ** 32 < p;
  }
}

/** The fixed seed list (repeatable runs), or the one seed of FUZZ_SEED. */
export function fuzzSeeds(): number[] {
  const env = process.env.FUZZ_SEED;
  if (env !== undefined && env !== '') return env.split(',').map((s) => Number(s) >>> 0);
  return [1, 2, 3, 0x5eed, 0xc0ffee];
}

/** Iterations per seed: FUZZ_ITERATIONS when set, else the target's default (sized for < 20 s per file). */
export function fuzzIterations(dflt: number): number {
  const env = Number(process.env.FUZZ_ITERATIONS);
  return Number.isFinite(env) && env > 0 ? Math.floor(env) : dflt;
}

/** Values a length or count field is most often wrong with. */
function interesting(width: 1 | 2 | 3, actual: number, rng: Rng): number {
  const max = 2 ** (8 * width) - 1;
  return rng.pick([0, 1, max, max - 1, actual - 1, actual + 1, actual * 2, rng.int(max + 1)]) & max;
}

function writeUint(b: Buffer, off: number, width: 1 | 2 | 3, v: number): void {
  if (off + width > b.length) return;
  b.writeUIntBE(v, off, width);
}

export interface MutateOptions {
  /** Other valid inputs to splice with. */
  others?: readonly Buffer[];
  /** Offsets of known length fields (with their width), hit more often than random offsets. */
  lengthFields?: ReadonlyArray<{ offset: number; width: 1 | 2 | 3 }>;
  /** Largest output (default 4 × input + 64). */
  maxLength?: number;
}

export type MutationKind =
  | 'bitflip'
  | 'byteset'
  | 'truncate'
  | 'extend'
  | 'length'
  | 'splice'
  | 'duplicate'
  | 'delete'
  | 'insert';

const KINDS: MutationKind[] = [
  'bitflip',
  'bitflip',
  'byteset',
  'byteset',
  'truncate',
  'extend',
  'length',
  'length',
  'splice',
  'duplicate',
  'delete',
  'insert',
];

/** One mutation of `input` (never modifies it). */
export function mutateOnce(rng: Rng, input: Buffer, opts: MutateOptions = {}, kind = rng.pick(KINDS)): Buffer {
  let b = Buffer.from(input);
  const n = b.length;
  switch (kind) {
    case 'bitflip': {
      if (n === 0) return rng.bytes(1);
      const flips = 1 + rng.int(3);
      for (let i = 0; i < flips; i++) b[rng.int(n)] ^= 1 << rng.int(8);
      return b;
    }
    case 'byteset': {
      if (n === 0) return Buffer.of(rng.pick([0, 0xff]));
      const i = rng.int(n);
      b[i] = rng.pick([0, 0xff, 0x7f, 0x80, (b[i] + 1) & 0xff, (b[i] - 1) & 0xff, rng.int(256)]);
      return b;
    }
    case 'truncate':
      return b.subarray(0, rng.int(n + 1));
    case 'extend':
      return Buffer.concat([b, rng.chance(0.5) ? Buffer.alloc(1 + rng.int(32)) : rng.bytes(1 + rng.int(64))]);
    case 'length': {
      if (n === 0) return b;
      const known = opts.lengthFields?.filter((f) => f.offset + f.width <= n) ?? [];
      const f =
        known.length > 0 && rng.chance(0.7)
          ? rng.pick(known)
          : { offset: rng.int(n), width: rng.pick([1, 2, 3] as const) };
      const actual = f.offset + f.width <= n ? b.readUIntBE(f.offset, f.width) : 0;
      writeUint(b, f.offset, f.width, interesting(f.width, actual, rng));
      return b;
    }
    case 'splice': {
      const other = opts.others && opts.others.length > 0 ? rng.pick(opts.others) : b;
      const cut = rng.int(n + 1);
      const from = rng.int(other.length + 1);
      return Buffer.concat([b.subarray(0, cut), other.subarray(from)]);
    }
    case 'duplicate': {
      if (n === 0) return b;
      const start = rng.int(n);
      const len = 1 + rng.int(Math.min(64, n - start));
      const at = rng.int(n + 1);
      return Buffer.concat([b.subarray(0, at), b.subarray(start, start + len), b.subarray(at)]);
    }
    case 'delete': {
      if (n === 0) return b;
      const start = rng.int(n);
      const len = 1 + rng.int(Math.min(32, n - start));
      return Buffer.concat([b.subarray(0, start), b.subarray(start + len)]);
    }
    case 'insert': {
      const at = rng.int(n + 1);
      b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(8)), b.subarray(at)]);
      return b;
    }
  }
}

/** One to four stacked mutations of `input`. */
export function mutate(rng: Rng, input: Buffer, opts: MutateOptions = {}): Buffer {
  const max = opts.maxLength ?? input.length * 4 + 64;
  let b = input;
  const rounds = 1 + rng.int(rng.chance(0.6) ? 1 : 4);
  for (let i = 0; i < rounds; i++) b = mutateOnce(rng, b, opts);
  return b.length > max ? b.subarray(0, max) : b;
}

/** A failure found by a fuzz loop, with what reproduces it. */
export interface FuzzFailure {
  seed: number;
  iteration: number;
  input: string;
  error: string;
}

/** Renders the first few failures for an assertion message. */
export function describeFailures(fs: readonly FuzzFailure[], max = 5): string {
  return fs
    .slice(0, max)
    .map((f) => `seed ${f.seed} iteration ${f.iteration}: ${f.error}\n  input ${f.input.slice(0, 400)}`)
    .join('\n');
}

/**
 * Whether `run` on this input is a hang and not a pause: a first run took `ms` > `limit`, so run
 * it again up to three times and call it a hang only when every run takes longer than `limit`. A
 * decoder that loops on an input does so each time; a garbage collection or the scheduler on a
 * shared machine (what made single timings fail here) does not repeat on the same input.
 */
export function hangs(run: () => void, ms: number, limit: number): boolean {
  if (ms <= limit) return false;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    try {
      run();
    } catch {
      // The outcome was judged on the first run; only the time matters here.
    }
    if (performance.now() - t0 <= limit) return false;
  }
  return true;
}

/**
 * Sender Sequence Numbers that survive a restart without ever being reused (RFC 8613 §7.5.1,
 * Appendix B.1.1). Before a number is used, a bound above it is persisted; a restarted sender starts
 * from the persisted bound, skipping at most `window` numbers but never repeating one — so no nonce
 * is used twice with one key.
 *
 * The store is a small interface so that the platform can keep the bounds in its database; a JSON
 * file store and an in-memory one are provided.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { OscoreError } from './errors.ts';

/** Where bounds are kept, by context key. */
export interface SequenceStore {
  /** The persisted bound: every number below it may have been used. */
  load(key: string): Promise<number | undefined>;
  /** Persists a bound; must not resolve before the value is durable. */
  save(key: string, bound: number): Promise<void>;
}

/** §7.2.1: the Partial IV is at most 5 bytes. */
export const MAX_SEQUENCE = 2 ** 40 - 1;
export const DEFAULT_SEQUENCE_WINDOW = 64;

export class MemorySequenceStore implements SequenceStore {
  readonly bounds = new Map<string, number>();
  async load(key: string): Promise<number | undefined> {
    return this.bounds.get(key);
  }
  async save(key: string, bound: number): Promise<void> {
    this.bounds.set(key, bound);
  }
}

/** Bounds in one JSON file, written to a temporary file and renamed over the old one. */
export class FileSequenceStore implements SequenceStore {
  private chain: Promise<unknown> = Promise.resolve();
  constructor(readonly path: string) {}

  private async readAll(): Promise<Record<string, number>> {
    try {
      const parsed: unknown = JSON.parse(await readFile(this.path, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new OscoreError('sequence', `${this.path} is not a JSON object`);
      return parsed as Record<string, number>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
  }

  async load(key: string): Promise<number | undefined> {
    const v = (await this.readAll())[key];
    if (v === undefined) return undefined;
    if (!Number.isSafeInteger(v) || v < 0) throw new OscoreError('sequence', `${this.path}: bad bound for ${key}`);
    return v;
  }

  save(key: string, bound: number): Promise<void> {
    const next = this.chain.then(async () => {
      const all = await this.readAll();
      all[key] = bound;
      await mkdir(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(all)}\n`, { flush: true });
      await rename(tmp, this.path);
    });
    this.chain = next.catch(() => {});
    return next;
  }
}

/** The store key of a context: a digest of what makes its Sender Key, so a new key starts at 0. */
export function sequenceKey(
  masterSecret: Buffer,
  masterSalt: Buffer | undefined,
  senderId: Buffer,
  idContext?: Buffer,
): string {
  const h = createHash('sha256');
  for (const part of [masterSecret, masterSalt ?? Buffer.alloc(0), senderId, idContext ?? Buffer.alloc(0)]) {
    h.update(Buffer.from([part.length >> 8, part.length & 0xff]));
    h.update(part);
  }
  return h.digest('hex').slice(0, 32);
}

/** The Sender Sequence Number of one context, persisted ahead of use. */
export class SenderSequence {
  private reservation: Promise<void> | undefined;

  private constructor(
    private readonly store: SequenceStore | undefined,
    private readonly key: string,
    private readonly window: number,
    private seq: number,
    private bound: number,
  ) {}

  /** Opens the sequence: it starts at the persisted bound (0 for a new context). */
  static async open(
    store: SequenceStore | undefined,
    key: string,
    window = DEFAULT_SEQUENCE_WINDOW,
  ): Promise<SenderSequence> {
    if (!Number.isInteger(window) || window < 1) throw new RangeError(`sequence window ${window}`);
    const start = store ? ((await store.load(key)) ?? 0) : 0;
    return new SenderSequence(store, key, window, start, store ? start : MAX_SEQUENCE + 1);
  }

  /** The next number to use (not yet used). */
  get current(): number {
    return this.seq;
  }

  /** Takes the next number, persisting a new bound first when the reserved ones are used up. */
  async next(): Promise<number> {
    for (;;) {
      if (this.seq > MAX_SEQUENCE)
        throw new OscoreError('sequence', 'sender sequence numbers exhausted: the context must be renewed');
      if (this.seq < this.bound) return this.seq++;
      if (!this.reservation) {
        const bound = Math.min(this.seq + this.window, MAX_SEQUENCE + 1);
        this.reservation = (this.store as SequenceStore).save(this.key, bound).then(
          () => {
            this.bound = bound;
            this.reservation = undefined;
          },
          (err: unknown) => {
            this.reservation = undefined;
            throw new OscoreError('sequence', `could not persist the sequence bound: ${(err as Error).message}`);
          },
        );
      }
      await this.reservation;
    }
  }
}

/**
 * For a sender with nowhere durable to write: each context starts at a floor that rises with the
 * clock, `perSecond` numbers per second since the Unix epoch, so a restarted process begins above
 * everything an earlier one used as long as that one used fewer than `perSecond` numbers per second
 * on average over its life. The platform uses it for its own Partial IVs (Echo challenges and
 * notifications), which are rare; a device sending every request under its own Partial IV should
 * use a real store.
 */
export class ClockFloorSequenceStore implements SequenceStore {
  constructor(
    private readonly perSecond = 64,
    private readonly now: () => number = Date.now,
  ) {}
  async load(): Promise<number | undefined> {
    return Math.min(Math.floor(this.now() / 1000) * this.perSecond, MAX_SEQUENCE);
  }
  async save(): Promise<void> {}
}

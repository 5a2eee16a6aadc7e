/**
 * The record layer of an association (RFC 6347 §4.1): epochs, 48-bit sequence numbers, the
 * anti-replay window (§4.1.2.6) and AES-128-CCM-8 protect/unprotect. Epoch 0 is plaintext.
 */
import { CCM8_OVERHEAD, ccm8Open, ccm8SealInto, type RecordKeys } from './crypto/ccm.ts';
import { type CcmContext, ccmContexts } from './crypto/ccm-context.ts';
import type { DtlsMeter } from './meter.ts';
import {
  contentTypeName,
  DTLS1_2,
  type DtlsRecord,
  encodeRecord,
  RECORD_HEADER_LENGTH,
  writeRecordHeader,
} from './wire/record.ts';

const MAX_SEQ = 2 ** 48 - 1;

/**
 * The sliding anti-replay window of RFC 6347 §4.1.2.6 (after RFC 4303 §3.4.3): a record is fresh
 * when its sequence number is above the right edge or inside the window and not seen yet. Only a
 * record that authenticated may `accept()` (move the window).
 *
 * The bitmap is a ring of 32-bit words indexed by sequence number (RFC 6479 §2): moving the right
 * edge clears the words it passes instead of shifting the whole window, and one spare word keeps
 * `size` bits below the edge valid. No allocation per record.
 */
export class ReplayWindow {
  /** Highest sequence number accepted so far, −1 before the first. */
  private top = -1;
  private readonly words: Int32Array;
  constructor(readonly size = 64) {
    this.words = new Int32Array(Math.ceil(size / 32) + 1);
  }

  private word(seq: number): number {
    return Math.floor(seq / 32) % this.words.length;
  }

  /** True when `seq` has not been seen and is not too old. */
  check(seq: number): boolean {
    if (seq > this.top) return true;
    if (this.top - seq >= this.size) return false;
    return (this.words[this.word(seq)] & (1 << (seq & 31))) === 0;
  }

  accept(seq: number): void {
    if (seq > this.top) {
      const n = this.words.length;
      const from = this.top < 0 ? -1 : Math.floor(this.top / 32);
      const to = Math.floor(seq / 32);
      if (this.top < 0 || to - from >= n) this.words.fill(0);
      else for (let w = from + 1; w <= to; w++) this.words[w % n] = 0;
      this.top = seq;
    }
    this.words[this.word(seq)] |= 1 << (seq & 31);
  }
}

/**
 * The keys of one epoch in one direction, and how many records used them since they last asked
 * the shared cache for a long-lived CCM context (see crypto/ccm-context.ts).
 */
interface KeyState {
  keys: RecordKeys;
  uses: number;
}

interface ReadState {
  keys: KeyState | undefined;
  window: ReplayWindow;
}

/** Records under one key after which it asks for a cached CCM context (a handshake's few never do). */
const BUSY_RECORDS = 8;

/** The cached context for `ks`, or undefined: the one-shot cipher then protects the record. */
function contextFor(ks: KeyState): CcmContext | undefined {
  const now = Date.now();
  const ctx = ccmContexts.get(ks, now);
  if (ctx || ++ks.uses < BUSY_RECORDS) return ctx;
  ks.uses = 0; // a refused key asks again after as many records
  return ccmContexts.admit(ks, ks.keys.key, now);
}

export class RecordLayer {
  /** Epoch of the records we send now. */
  writeEpoch = 0;
  private readonly writeSeq = new Map<number, number>([[0, 0]]);
  private readonly writeKeys = new Map<number, KeyState>();
  private readonly read = new Map<number, ReadState>([[0, { keys: undefined, window: new ReplayWindow() }]]);

  /** Why the last `unprotect` returned undefined (the handshake turns an 'auth' failure on its Finished into bad_record_mac). */
  lastFailure: 'epoch' | 'replay' | 'auth' | undefined;

  constructor(private readonly meter?: DtlsMeter) {}

  /** Starts epoch 0's write sequence at `seq` (a stateless server continues from the ClientHello's, §4.2.1). */
  setWriteSeq(epoch: number, seq: number): void {
    this.writeSeq.set(epoch, seq);
  }

  /** Installs the keys of `epoch` for reading and writing (the epoch takes effect with ChangeCipherSpec). */
  installKeys(epoch: number, write: RecordKeys, read: RecordKeys): void {
    this.releaseEpoch(epoch);
    this.writeKeys.set(epoch, { keys: write, uses: 0 });
    this.writeSeq.set(epoch, 0);
    this.read.set(epoch, { keys: { keys: read, uses: 0 }, window: new ReplayWindow() });
  }

  private releaseEpoch(epoch: number): void {
    const w = this.writeKeys.get(epoch);
    const r = this.read.get(epoch)?.keys;
    if (w) ccmContexts.delete(w);
    if (r) ccmContexts.delete(r);
  }

  /** Gives back the cached CCM contexts of every epoch (the association is closed). */
  release(): void {
    for (const epoch of this.writeKeys.keys()) this.releaseEpoch(epoch);
  }

  /** Forgets what epoch 0 saw (the client after a HelloVerifyRequest, whose servers restart their numbering). */
  resetReadWindow(epoch: number): void {
    const st = this.read.get(epoch);
    if (st) st.window = new ReplayWindow();
  }

  hasReadEpoch(epoch: number): boolean {
    return this.read.has(epoch);
  }

  /** A whole record (header + protected fragment) of `type` at `epoch` (default: the current write epoch). */
  protect(type: number, plaintext: Buffer, epoch = this.writeEpoch): Buffer {
    const seq = this.writeSeq.get(epoch) ?? 0;
    if (seq > MAX_SEQ) throw new RangeError('DTLS sequence number space exhausted');
    this.writeSeq.set(epoch, seq + 1);
    let rec: Buffer;
    if (epoch === 0) {
      rec = encodeRecord({ type, version: DTLS1_2, epoch, seq, fragment: plaintext });
    } else {
      const ks = this.writeKeys.get(epoch);
      if (!ks) throw new Error(`no write keys for epoch ${epoch}`);
      // One buffer for the whole record: header, then the sealed fragment written in place.
      const length = plaintext.length + CCM8_OVERHEAD;
      rec = Buffer.allocUnsafe(RECORD_HEADER_LENGTH + length);
      writeRecordHeader(rec, type, DTLS1_2, epoch, seq, length);
      const ctx = contextFor(ks);
      ccm8SealInto(ks.keys, rec, RECORD_HEADER_LENGTH, type, DTLS1_2, epoch, seq, plaintext, this.meter, ctx);
    }
    this.meter?.record('out', contentTypeName(type), epoch, rec.length);
    return rec;
  }

  /**
   * The plaintext of an incoming record, or undefined when it must be dropped silently (§4.1.2.7):
   * unknown epoch, replayed, or failed authentication.
   */
  unprotect(rec: DtlsRecord): Buffer | undefined {
    const st = this.read.get(rec.epoch);
    this.lastFailure = undefined;
    if (!st) {
      this.lastFailure = 'epoch';
      return undefined;
    }
    if (!st.window.check(rec.seq)) {
      this.lastFailure = 'replay';
      return undefined;
    }
    const ks = st.keys;
    const pt = ks
      ? ccm8Open(ks.keys, rec.type, rec.version, rec.epoch, rec.seq, rec.fragment, this.meter, contextFor(ks))
      : rec.fragment;
    if (pt === undefined) {
      this.lastFailure = 'auth';
      return undefined;
    }
    st.window.accept(rec.seq);
    this.meter?.record('in', contentTypeName(rec.type), rec.epoch, 13 + rec.fragment.length);
    return pt;
  }
}

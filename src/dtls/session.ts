/**
 * The record layer of an association (RFC 6347 §4.1): epochs, 48-bit sequence numbers, the
 * anti-replay window (§4.1.2.6) and AES-128-CCM-8 protect/unprotect. Epoch 0 is plaintext.
 */
import { ccm8Open, ccm8Seal, type RecordKeys } from './crypto/ccm.ts';
import { EpochMap } from './epoch-map.ts';
import type { DtlsMeter } from './meter.ts';
import { contentTypeName, DTLS1_2, type DtlsRecord, encodeRecord } from './wire/record.ts';

const MAX_SEQ = 2 ** 48 - 1;

/**
 * The sliding anti-replay window of RFC 6347 §4.1.2.6 (after RFC 4303 §3.4.3): a record is fresh
 * when its sequence number is above the right edge or inside the window and not seen yet. Only a
 * record that authenticated may `accept()` (move the window).
 */
export class ReplayWindow {
  /** Highest sequence number accepted so far, −1 before the first. */
  private top = -1;
  /** Bit i set: top − i was seen. Kept as a bigint so that the window may be wider than 32. */
  private bits = 0n;
  constructor(readonly size = 64) {}

  /** True when `seq` has not been seen and is not too old. */
  check(seq: number): boolean {
    if (seq > this.top) return true;
    const d = this.top - seq;
    if (d >= this.size) return false;
    return ((this.bits >> BigInt(d)) & 1n) === 0n;
  }

  accept(seq: number): void {
    if (seq > this.top) {
      const shift = this.top < 0 ? this.size : seq - this.top;
      this.bits = shift >= this.size ? 1n : ((this.bits << BigInt(shift)) | 1n) & ((1n << BigInt(this.size)) - 1n);
      this.top = seq;
    } else {
      this.bits |= 1n << BigInt(this.top - seq);
    }
  }
}

interface ReadState {
  keys: RecordKeys | undefined;
  window: ReplayWindow;
}

export class RecordLayer {
  /** Epoch of the records we send now. */
  writeEpoch = 0;
  private readonly writeSeq = EpochMap.of<number>(0);
  private readonly writeKeys = new EpochMap<RecordKeys>();
  private readonly read = EpochMap.of<ReadState>({ keys: undefined, window: new ReplayWindow() });

  /** Why the last `unprotect` returned undefined (the handshake turns an 'auth' failure on its Finished into bad_record_mac). */
  lastFailure: 'epoch' | 'replay' | 'auth' | undefined;

  constructor(private readonly meter?: DtlsMeter) {}

  /** Starts epoch 0's write sequence at `seq` (a stateless server continues from the ClientHello's, §4.2.1). */
  setWriteSeq(epoch: number, seq: number): void {
    this.writeSeq.set(epoch, seq);
  }

  /** Installs the keys of `epoch` for reading and writing (the epoch takes effect with ChangeCipherSpec). */
  installKeys(epoch: number, write: RecordKeys, read: RecordKeys): void {
    this.writeKeys.set(epoch, write);
    this.writeSeq.set(epoch, 0);
    this.read.set(epoch, { keys: read, window: new ReplayWindow() });
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
    const keys = epoch === 0 ? undefined : this.writeKeys.get(epoch);
    if (epoch !== 0 && !keys) throw new Error(`no write keys for epoch ${epoch}`);
    const fragment = keys ? ccm8Seal(keys, type, DTLS1_2, epoch, seq, plaintext, this.meter) : plaintext;
    const rec = encodeRecord({ type, version: DTLS1_2, epoch, seq, fragment });
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
    const pt = st.keys
      ? ccm8Open(st.keys, rec.type, rec.version, rec.epoch, rec.seq, rec.fragment, this.meter)
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

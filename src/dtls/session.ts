/**
 * The record layer of an association (RFC 6347 §4.1): epochs, 48-bit sequence numbers, the
 * anti-replay window (§4.1.2.6) and AES-128-CCM-8 protect/unprotect. Epoch 0 is plaintext.
 */
import { CCM8_OVERHEAD, ccm8Open, ccm8SealInto, type RecordKeys } from './crypto/ccm.ts';
import { ccm8OpenCid, ccm8SealCidInto } from './crypto/ccm-cid.ts';
import { type CcmContext, ccmContexts } from './crypto/ccm-context.ts';
import { EpochMap } from './epoch-map.ts';
import type { DtlsMeter } from './meter.ts';
import { decodeInnerPlaintext, encodeInnerPlaintext, writeCidRecordHeader } from './wire/connection-id.ts';
import {
  ContentType,
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
 * At most 64 wide (RFC 4303's recommended size): the bitmap is two 32-bit halves in plain fields,
 * so that a record costs no allocation and an idle session's two windows stay small.
 */
export class ReplayWindow {
  /** Highest sequence number accepted so far, −1 before the first. */
  private top = -1;
  /** Bit i set: top − i was seen (i < 32). */
  private lo = 0;
  /** Bit i set: top − 32 − i was seen. */
  private hi = 0;
  constructor(readonly size = 64) {
    if (!Number.isInteger(size) || size < 1 || size > 64) throw new RangeError('replay window size must be 1..64');
  }

  /** True when `seq` is above every sequence number accepted so far (RFC 9146 §6: "newer than any seen"). */
  isAhead(seq: number): boolean {
    return seq > this.top;
  }

  /** True when `seq` has not been seen and is not too old. */
  check(seq: number): boolean {
    if (seq > this.top) return true;
    const d = this.top - seq;
    if (d >= this.size) return false;
    return (d < 32 ? (this.lo >>> d) & 1 : (this.hi >>> (d - 32)) & 1) === 0;
  }

  accept(seq: number): void {
    if (seq > this.top) {
      const shift = this.top < 0 ? 64 : seq - this.top;
      if (shift >= 64) {
        this.hi = 0;
        this.lo = 0;
      } else if (shift >= 32) {
        this.hi = this.lo << (shift - 32);
        this.lo = 0;
      } else {
        this.hi = (this.hi << shift) | (this.lo >>> (32 - shift));
        this.lo <<= shift;
      }
      this.lo |= 1;
      this.top = seq;
      return;
    }
    const d = this.top - seq;
    if (d < 32) this.lo |= 1 << d;
    else if (d < 64) this.hi |= 1 << (d - 32);
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

/** An epoch's read side: its keys (none for epoch 0) and replay window. */
interface ReadState {
  keys: RecordKeys | undefined;
  uses: number;
  window: ReplayWindow;
}

/** Records under one key after which it asks for a cached CCM context (a handshake's few never do). */
const BUSY_RECORDS = 8;

/** The cached context for `ks`, or undefined: the one-shot cipher then protects the record. */
function contextFor(owner: { uses: number }, keys: RecordKeys): CcmContext | undefined {
  const now = Date.now();
  const ctx = ccmContexts.get(owner, now);
  if (ctx || ++owner.uses < BUSY_RECORDS) return ctx;
  owner.uses = 0; // a refused key asks again after as many records
  return ccmContexts.admit(owner, keys.key, now);
}

export class RecordLayer {
  /** Epoch of the records we send now. */
  writeEpoch = 0;
  private readonly writeSeq = EpochMap.of<number>(0);
  private readonly writeKeys = new EpochMap<KeyState>();
  private readonly read = EpochMap.of<ReadState>({ keys: undefined, uses: 0, window: new ReplayWindow() });

  /**
   * Connection IDs (RFC 9146), set by the handshake that negotiated them: `ownCid` is what the
   * peer puts in the records it sends us, `peerCid` what we put in ours. A non-empty CID switches
   * that direction's records of epoch > 0 to the tls12_cid format; an empty or absent one keeps
   * the RFC 6347 format.
   */
  ownCid: Buffer | undefined = undefined;
  peerCid: Buffer | undefined = undefined;
  /** The last record `unprotect` returned was above every record seen before in its epoch. */
  lastAhead = false;

  /** Why the last `unprotect` returned undefined (the handshake turns an 'auth' failure on its Finished into bad_record_mac). */
  lastFailure: 'epoch' | 'replay' | 'auth' | undefined;

  constructor(private readonly meter?: DtlsMeter) {}

  /** The CIDs negotiated by the handshake (both directions; either may be empty). */
  setConnectionIds(own: Buffer, peer: Buffer): void {
    this.ownCid = own.length > 0 ? own : undefined;
    this.peerCid = peer.length > 0 ? peer : undefined;
  }

  /** Starts epoch 0's write sequence at `seq` (a stateless server continues from the ClientHello's, §4.2.1). */
  setWriteSeq(epoch: number, seq: number): void {
    this.writeSeq.set(epoch, seq);
  }

  /** Installs the keys of `epoch` for reading and writing (the epoch takes effect with ChangeCipherSpec). */
  installKeys(epoch: number, write: RecordKeys, read: RecordKeys): void {
    this.releaseEpoch(epoch);
    this.writeKeys.set(epoch, { keys: write, uses: 0 });
    this.writeSeq.set(epoch, 0);
    this.read.set(epoch, { keys: read, uses: 0, window: new ReplayWindow() });
  }

  private releaseEpoch(epoch: number): void {
    const w = this.writeKeys.get(epoch);
    const r = this.read.get(epoch);
    if (w) ccmContexts.delete(w);
    if (r) ccmContexts.delete(r);
  }

  /** Gives back the cached CCM contexts of every epoch (the association is closed). */
  release(): void {
    this.writeKeys.forEachEpoch((epoch) => this.releaseEpoch(epoch));
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
    const cid = this.peerCid;
    if (cid !== undefined && epoch > 0) {
      rec = this.protectCid(type, plaintext, epoch, seq, cid);
    } else if (epoch === 0) {
      rec = encodeRecord({ type, version: DTLS1_2, epoch, seq, fragment: plaintext });
    } else {
      const ks = this.writeKeys.get(epoch);
      if (!ks) throw new Error(`no write keys for epoch ${epoch}`);
      // One buffer for the whole record: header, then the sealed fragment written in place.
      const length = plaintext.length + CCM8_OVERHEAD;
      rec = Buffer.allocUnsafe(RECORD_HEADER_LENGTH + length);
      writeRecordHeader(rec, type, DTLS1_2, epoch, seq, length);
      const ctx = contextFor(ks, ks.keys);
      ccm8SealInto(ks.keys, rec, RECORD_HEADER_LENGTH, type, DTLS1_2, epoch, seq, plaintext, this.meter, ctx);
    }
    this.meter?.record('out', contentTypeName(type), epoch, rec.length);
    return rec;
  }

  /** A tls12_cid record (RFC 9146 §4): header with the peer's CID, then the sealed DTLSInnerPlaintext. */
  private protectCid(type: number, plaintext: Buffer, epoch: number, seq: number, cid: Buffer): Buffer {
    const ks = this.writeKeys.get(epoch);
    if (!ks) throw new Error(`no write keys for epoch ${epoch}`);
    const inner = encodeInnerPlaintext(plaintext, type);
    const rec = Buffer.allocUnsafe(13 + cid.length + inner.length + CCM8_OVERHEAD);
    const at = writeCidRecordHeader(rec, DTLS1_2, epoch, seq, cid, inner.length + CCM8_OVERHEAD);
    ccm8SealCidInto(ks.keys, rec, at, DTLS1_2, epoch, seq, cid, inner, this.meter, contextFor(ks, ks.keys));
    return rec;
  }

  /**
   * The plaintext of an incoming record, or undefined when it must be dropped silently (§4.1.2.7):
   * unknown epoch, replayed, or failed authentication. A tls12_cid record must carry our CID and
   * comes back with its real type in `rec.type`; once we have a CID, the peer's protected records
   * must all carry it (RFC 9146 §4), so one without it is dropped.
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
    const keys = st.keys;
    const own = this.ownCid;
    if ((rec.type === ContentType.tls12_cid) !== (own !== undefined && keys !== undefined)) {
      this.lastFailure = 'epoch';
      return undefined;
    }
    let pt: Buffer | undefined;
    if (own !== undefined && keys !== undefined) {
      pt = rec.cid?.equals(own) ? this.openCid(keys, rec, contextFor(st, keys)) : undefined;
    } else {
      pt = keys
        ? ccm8Open(keys, rec.type, rec.version, rec.epoch, rec.seq, rec.fragment, this.meter, contextFor(st, keys))
        : rec.fragment;
    }
    if (pt === undefined) {
      this.lastFailure = 'auth';
      return undefined;
    }
    this.lastAhead = st.window.isAhead(rec.seq);
    st.window.accept(rec.seq);
    this.meter?.record('in', contentTypeName(rec.type), rec.epoch, 13 + (rec.cid?.length ?? 0) + rec.fragment.length);
    return pt;
  }

  /** Opens a tls12_cid record and puts its real type into `rec.type`; undefined when it fails. */
  private openCid(keys: RecordKeys, rec: DtlsRecord, ctx: CcmContext | undefined): Buffer | undefined {
    const inner = ccm8OpenCid(keys, rec.version, rec.epoch, rec.seq, rec.cid!, rec.fragment, this.meter, ctx);
    if (inner === undefined) return undefined;
    const d = decodeInnerPlaintext(inner);
    if (d === undefined) return undefined;
    rec.type = d.type;
    return d.content;
  }
}

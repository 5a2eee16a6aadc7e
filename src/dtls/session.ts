/**
 * The record layer of an association (RFC 6347 §4.1): epochs, 48-bit sequence numbers, the
 * anti-replay window (§4.1.2.6) and AES-128-CCM-8 protect/unprotect. Epoch 0 is plaintext.
 */

import type { PeerIdentity } from './credentials/identity.ts';
import {
  CCM8_OVERHEAD,
  ccm8OpenPacked,
  ccm8SealInto,
  keyObjects,
  keyOf,
  type PackedKeys,
  type RecordKeys,
} from './crypto/ccm.ts';
import { ccm8OpenCid, ccm8SealCidInto } from './crypto/ccm-cid.ts';
import { type CcmContext, ccmContexts } from './crypto/ccm-context.ts';
import { nativeCcm } from './crypto/native-ccm.ts';
import type { DtlsMeter } from './meter.ts';
import type { SessionState } from './session-state.ts';
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

  /** Forgets every sequence number seen (the window starts over). */
  reset(): void {
    this.top = -1;
    this.lo = 0;
    this.hi = 0;
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
 * One epoch's write side: its next sequence number and, for epoch > 0, its keys and how many records
 * used them since they last asked the shared cache for a long-lived CCM context (see
 * crypto/ccm-context.ts). The state is itself the `PackedKeys` the cipher takes: an idle session
 * keeps one object per epoch and direction, not a state and a keys object, and its keys are
 * offsets into the epoch's one key buffer rather than Buffer views.
 */
interface WriteState extends PackedKeys {
  seq: number;
  uses: number;
}

/**
 * One epoch's read side: its keys (empty for epoch 0, which is plaintext) and, as the class it
 * extends, its replay window, so that window and keys are one object.
 */
class ReadState extends ReplayWindow implements PackedKeys {
  uses = 0;
  constructor(
    public bytes: Buffer,
    public keyAt: number,
    public ivAt: number,
    readonly protectedEpoch: boolean,
  ) {
    super();
  }
}

const NO_BYTES = Buffer.alloc(0);

/** Bytes of a packed session before its ID: its creation time (ms since the epoch, a double). */
const CREATED_AT_BYTES = 8;

/**
 * A resumable session as an established association and the in-memory session cache keep it: the
 * creation time, the session ID and the master secret sit at `at` in one buffer (the
 * association's record-key buffer, see {@link RecordLayer.keepWithKeys}, so that an idle session
 * has one allocation for all its secret bytes), and `id` and `masterSecret` are views made when
 * asked for. The time is in the buffer too, because a time in a field costs a heap number. Internal:
 * what leaves the engine (a connection's `session`, a cache hit) is a plain {@link SessionState}
 * made by {@link unpack}, which a caller may copy or spread.
 */
export class PackedSession implements SessionState {
  private constructor(
    private readonly bytes: Buffer,
    private readonly at: number,
    private readonly idLength: number,
    readonly cipherSuite: number,
    readonly extendedMasterSecret: boolean,
    readonly identity: PeerIdentity,
  ) {}

  /** Bytes {@link write} needs for `s`. */
  static size(s: SessionState): number {
    return CREATED_AT_BYTES + s.id.length + s.masterSecret.length;
  }

  /** Writes `s` at `at` of `bytes` (which has {@link size} bytes there) and returns it packed. */
  static write(s: SessionState, bytes: Buffer, at: number): PackedSession {
    bytes.writeDoubleLE(s.createdAt, at);
    s.id.copy(bytes, at + CREATED_AT_BYTES);
    s.masterSecret.copy(bytes, at + CREATED_AT_BYTES + s.id.length);
    return new PackedSession(bytes, at, s.id.length, s.cipherSuite, s.extendedMasterSecret, s.identity);
  }

  /** `s` in one allocation of its own, for a session that has no record keys to share. */
  static from(s: SessionState): PackedSession {
    if (s instanceof PackedSession) return s;
    return PackedSession.write(s, Buffer.allocUnsafeSlow(PackedSession.size(s)), 0);
  }

  get createdAt(): number {
    return this.bytes.readDoubleLE(this.at);
  }

  get id(): Buffer {
    const from = this.at + CREATED_AT_BYTES;
    return this.bytes.subarray(from, from + this.idLength);
  }

  /** The master secret runs from the end of the ID to the end of the buffer. */
  get masterSecret(): Buffer {
    return this.bytes.subarray(this.at + CREATED_AT_BYTES + this.idLength);
  }

  /** True when `id` is this session's ID (compared in place, no view made). */
  hasId(id: Buffer): boolean {
    const from = this.at + CREATED_AT_BYTES;
    return id.length === this.idLength && this.bytes.compare(id, 0, id.length, from, from + id.length) === 0;
  }

  /** A plain copy (ID and master secret in one allocation of their own), safe to hand out. */
  unpack(): SessionState {
    const from = this.at + CREATED_AT_BYTES;
    const own = Buffer.allocUnsafeSlow(this.bytes.length - from);
    this.bytes.copy(own, 0, from);
    return {
      id: own.subarray(0, this.idLength),
      masterSecret: own.subarray(this.idLength),
      cipherSuite: this.cipherSuite,
      extendedMasterSecret: this.extendedMasterSecret,
      identity: this.identity,
      createdAt: this.createdAt,
    };
  }
}

/** Epoch 0's write state: plaintext, no keys. */
function plaintextWrite(seq: number): WriteState {
  return { seq, bytes: NO_BYTES, keyAt: 0, ivAt: 0, uses: 0 };
}

/** Records under one key after which it asks for a cached CCM context (a handshake's few never do). */
const BUSY_RECORDS = 8;

/** The cached context for `owner`'s keys, or undefined: the one-shot cipher then protects the record. */
function contextFor(owner: PackedKeys & { uses: number }): CcmContext | undefined {
  // The native record cipher (native/ccm.c) is faster than a kept context and needs none.
  if (nativeCcm) return undefined;
  const now = Date.now();
  const ctx = ccmContexts.get(owner, now);
  if (ctx || ++owner.uses < BUSY_RECORDS) return ctx;
  owner.uses = 0; // a refused key asks again after as many records
  return ccmContexts.admit(owner, keyOf(owner), now);
}

export class RecordLayer {
  /** Epoch of the records we send now. */
  writeEpoch = 0;
  /**
   * Per-epoch state in plain fields for epochs 0 and 1 (all a DTLS 1.2 association without
   * renegotiation ever has) and a Map, made only when needed, for higher ones: an idle session
   * keeps no map object at all.
   */
  private write0: WriteState | undefined = plaintextWrite(0);
  private write1: WriteState | undefined = undefined;
  private read0: ReadState | undefined = new ReadState(NO_BYTES, 0, 0, false);
  private read1: ReadState | undefined = undefined;
  private higher: Map<number, { write: WriteState; read: ReadState }> | undefined = undefined;

  /**
   * Connection IDs (RFC 9146), set by the handshake that negotiated them: `ownCid` is what the
   * peer puts in the records it sends us, `peerCid` what we put in ours. A non-empty CID switches
   * that direction's records of epoch > 0 to the tls12_cid format; an empty or absent one keeps
   * the RFC 6347 format.
   */
  ownCid: Buffer | undefined = undefined;
  peerCid: Buffer | undefined = undefined;
  /**
   * The CID a client offered, until the server's answer sets `ownCid`: the server's ServerHello,
   * ChangeCipherSpec and Finished of an abbreviated handshake come in one datagram, and its
   * tls12_cid Finished must be split out of it before the ServerHello has been read. Only for
   * parsing: `unprotect` still takes a tls12_cid record only once `ownCid` is set and equal.
   */
  offeredCid: Buffer | undefined = undefined;
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
    const w = this.writeState(epoch);
    if (w) w.seq = seq;
    else if (epoch === 0) this.write0 = plaintextWrite(seq);
  }

  /** Installs the keys of `epoch` for reading and writing (the epoch takes effect with ChangeCipherSpec). */
  installKeys(epoch: number, write: RecordKeys, read: RecordKeys): void {
    this.releaseEpoch(epoch);
    // The four keys and IVs get one allocation of their own (write key ‖ IV ‖ read key ‖ IV), which
    // both states point into by offset, so that an idle session keeps neither the whole key block
    // (or a pooled slab) alive nor a Buffer view per key.
    const bytes = Buffer.allocUnsafeSlow(write.key.length + write.iv.length + read.key.length + read.iv.length);
    write.key.copy(bytes, 0);
    write.iv.copy(bytes, write.key.length);
    const readAt = write.key.length + write.iv.length;
    read.key.copy(bytes, readAt);
    read.iv.copy(bytes, readAt + read.key.length);
    const w: WriteState = { seq: 0, bytes, keyAt: 0, ivAt: write.key.length, uses: 0 };
    const r = new ReadState(bytes, readAt, readAt + read.key.length, true);
    if (epoch === 0) {
      this.write0 = w;
      this.read0 = r;
    } else if (epoch === 1) {
      this.write1 = w;
      this.read1 = r;
    } else {
      this.higher ??= new Map();
      this.higher.set(epoch, { write: w, read: r });
    }
  }

  private writeState(epoch: number): WriteState | undefined {
    if (epoch === 1) return this.write1;
    if (epoch === 0) return this.write0;
    return this.higher?.get(epoch)?.write;
  }

  private readState(epoch: number): ReadState | undefined {
    if (epoch === 1) return this.read1;
    if (epoch === 0) return this.read0;
    return this.higher?.get(epoch)?.read;
  }

  /**
   * Keeps session `s` (its ID and master secret) in the same allocation as epoch 1's record keys:
   * write key ‖ IV ‖ read key ‖ IV ‖ creation time ‖ session ID ‖ master secret. An established association then
   * holds one buffer for all its secret bytes instead of three (keys, ID, master secret) and the
   * Buffer views over them. Returns `s` when it is packed already (a resumed session from the
   * in-memory cache keeps the buffer it has), or, without epoch-1 keys, `s` in a buffer of its own.
   */
  keepWithKeys(s: SessionState): PackedSession {
    if (s instanceof PackedSession) return s;
    const w = this.write1;
    const r = this.read1;
    if (w === undefined || r === undefined || w.bytes !== r.bytes) return PackedSession.from(s);
    const keys = w.bytes;
    const bytes = Buffer.allocUnsafeSlow(keys.length + PackedSession.size(s));
    keys.copy(bytes, 0);
    // Same key bytes at the same offsets: a cached CCM context for these states stays valid.
    w.bytes = bytes;
    r.bytes = bytes;
    return PackedSession.write(s, bytes, keys.length);
  }

  private releaseEpoch(epoch: number): void {
    const w = this.writeState(epoch);
    const r = this.readState(epoch);
    if (w) {
      ccmContexts.delete(w);
      keyObjects.delete(w);
    }
    if (r) {
      ccmContexts.delete(r);
      keyObjects.delete(r);
    }
  }

  /** Gives back the cached CCM contexts of every epoch (the association is closed). */
  release(): void {
    this.releaseEpoch(0);
    this.releaseEpoch(1);
    if (this.higher) for (const epoch of this.higher.keys()) this.releaseEpoch(epoch);
  }

  /**
   * Forgets epoch 0 in both directions once the association writes under a later epoch and no
   * longer keeps a flight to repeat: an established session then neither sends nor needs any
   * plaintext record, and epoch-0 input is dropped as from an unknown epoch (it was ignored anyway).
   * Saves an idle session a read and a write state.
   */
  dropPlaintextEpoch(): void {
    if (this.writeEpoch === 0) return;
    this.write0 = undefined;
    this.read0 = undefined;
  }

  /** Forgets what epoch 0 saw (the client after a HelloVerifyRequest, whose servers restart their numbering). */
  resetReadWindow(epoch: number): void {
    this.readState(epoch)?.reset();
  }

  hasReadEpoch(epoch: number): boolean {
    return this.readState(epoch) !== undefined;
  }

  /** A whole record (header + protected fragment) of `type` at `epoch` (default: the current write epoch). */
  protect(type: number, plaintext: Buffer, epoch = this.writeEpoch): Buffer {
    const w = this.writeState(epoch);
    if (!w) throw new Error(`no write keys for epoch ${epoch}`);
    const seq = w.seq;
    if (seq > MAX_SEQ) throw new RangeError('DTLS sequence number space exhausted');
    w.seq = seq + 1;
    let rec: Buffer;
    const cid = this.peerCid;
    if (cid !== undefined && epoch > 0) {
      rec = this.protectCid(w, type, plaintext, epoch, seq, cid);
    } else if (epoch === 0) {
      rec = encodeRecord({ type, version: DTLS1_2, epoch, seq, fragment: plaintext });
    } else {
      if (w.bytes.length === 0) throw new Error(`no write keys for epoch ${epoch}`);
      // One buffer for the whole record: header, then the sealed fragment written in place.
      const length = plaintext.length + CCM8_OVERHEAD;
      rec = Buffer.allocUnsafe(RECORD_HEADER_LENGTH + length);
      writeRecordHeader(rec, type, DTLS1_2, epoch, seq, length);
      const ctx = contextFor(w);
      ccm8SealInto(w, rec, RECORD_HEADER_LENGTH, type, DTLS1_2, epoch, seq, plaintext, this.meter, ctx);
    }
    this.meter?.record('out', contentTypeName(type), epoch, rec.length);
    return rec;
  }

  /** A tls12_cid record (RFC 9146 §4): header with the peer's CID, then the sealed DTLSInnerPlaintext. */
  private protectCid(w: WriteState, type: number, plaintext: Buffer, epoch: number, seq: number, cid: Buffer): Buffer {
    if (w.bytes.length === 0) throw new Error(`no write keys for epoch ${epoch}`);
    const inner = encodeInnerPlaintext(plaintext, type);
    const rec = Buffer.allocUnsafe(13 + cid.length + inner.length + CCM8_OVERHEAD);
    const at = writeCidRecordHeader(rec, DTLS1_2, epoch, seq, cid, inner.length + CCM8_OVERHEAD);
    ccm8SealCidInto(w, rec, at, DTLS1_2, epoch, seq, cid, inner, this.meter, contextFor(w));
    return rec;
  }

  /**
   * The plaintext of an incoming record, or undefined when it must be dropped silently (§4.1.2.7):
   * unknown epoch, replayed, or failed authentication. A tls12_cid record must carry our CID and
   * comes back with its real type in `rec.type`; once we have a CID, the peer's protected records
   * must all carry it (RFC 9146 §4), so one without it is dropped.
   */
  unprotect(rec: DtlsRecord): Buffer | undefined {
    const st = this.readState(rec.epoch);
    this.lastFailure = undefined;
    if (!st) {
      this.lastFailure = 'epoch';
      return undefined;
    }
    if (!st.check(rec.seq)) {
      this.lastFailure = 'replay';
      return undefined;
    }
    const keys = st.protectedEpoch ? st : undefined;
    const own = this.ownCid;
    if ((rec.type === ContentType.tls12_cid) !== (own !== undefined && keys !== undefined)) {
      this.lastFailure = 'epoch';
      return undefined;
    }
    let pt: Buffer | undefined;
    if (own !== undefined && keys !== undefined) {
      pt = rec.cid?.equals(own) ? this.openCid(keys, rec, contextFor(st)) : undefined;
    } else {
      pt = keys
        ? ccm8OpenPacked(keys, rec.type, rec.version, rec.epoch, rec.seq, rec.fragment, this.meter, contextFor(st))
        : rec.fragment;
    }
    if (pt === undefined) {
      this.lastFailure = 'auth';
      return undefined;
    }
    this.lastAhead = st.isAhead(rec.seq);
    st.accept(rec.seq);
    this.meter?.record('in', contentTypeName(rec.type), rec.epoch, 13 + (rec.cid?.length ?? 0) + rec.fragment.length);
    return pt;
  }

  /** Opens a tls12_cid record and puts its real type into `rec.type`; undefined when it fails. */
  private openCid(keys: PackedKeys, rec: DtlsRecord, ctx: CcmContext | undefined): Buffer | undefined {
    const inner = ccm8OpenCid(keys, rec.version, rec.epoch, rec.seq, rec.cid!, rec.fragment, this.meter, ctx);
    if (inner === undefined) return undefined;
    const d = decodeInnerPlaintext(inner);
    if (d === undefined) return undefined;
    rec.type = d.type;
    return d.content;
  }
}

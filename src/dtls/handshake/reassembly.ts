/**
 * Reassembly of handshake messages from fragments (RFC 6347 §4.2.3): fragments may arrive out of
 * order, duplicated or overlapping. Messages are keyed by message_seq; the total buffered size is
 * bounded so that a peer cannot make us hold unbounded memory.
 */
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import type { HandshakeFragment } from '../wire/handshake.ts';

export interface HandshakeMessage {
  msgType: number;
  messageSeq: number;
  body: Buffer;
  /** Epoch of the records that carried it (all fragments must agree). */
  epoch: number;
}

interface Partial {
  msgType: number;
  epoch: number;
  length: number;
  body: Buffer;
  /** Received byte ranges [start, end), sorted and merged. */
  ranges: Array<[number, number]>;
  /** `body` is the fragment as it came (a whole message in one fragment), not a buffer of ours. */
  borrowed: boolean;
}

export interface ReassemblyOptions {
  /**
   * Largest single handshake message accepted (default 32 KiB: a P-256 chain of a few certificates
   * is 1–3 KiB; the bound keeps a peer that passed the cookie exchange from reserving much memory).
   */
  maxMessageLength?: number;
  /** Bytes buffered across all pending messages (default 48 KiB; × maxHandshakes is the worst case). */
  maxBufferedBytes?: number;
  /** How many message_seq values ahead of the next expected one are buffered (default 16). */
  maxAhead?: number;
}

export class ReassemblyBuffer {
  private readonly pending = new Map<number, Partial>();
  private buffered = 0;
  private readonly maxMessageLength: number;
  private readonly maxBufferedBytes: number;
  private readonly maxAhead: number;

  constructor(opts: ReassemblyOptions = {}) {
    this.maxMessageLength = opts.maxMessageLength ?? 32 * 1024;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 48 * 1024;
    this.maxAhead = opts.maxAhead ?? 16;
  }

  /** Bytes currently buffered. */
  get size(): number {
    return this.buffered;
  }

  /**
   * Adds a fragment whose message_seq is at least `nextSeq` (older ones are the caller's business:
   * retransmissions). Returns false when the fragment was ignored (too far ahead, too big, or
   * inconsistent with earlier fragments of the same message).
   */
  add(f: HandshakeFragment, nextSeq: number, epoch = 0): boolean {
    if (f.messageSeq < nextSeq || f.messageSeq > nextSeq + this.maxAhead) return false;
    if (f.length > this.maxMessageLength) {
      throw new DtlsAlertError(
        AlertDescription.handshake_failure,
        `handshake message of ${f.length} bytes is too large`,
      );
    }
    let p = this.pending.get(f.messageSeq);
    if (!p) {
      if (this.buffered + f.length > this.maxBufferedBytes) return false;
      if (f.fragmentOffset === 0 && f.fragment.length === f.length) {
        // A whole message in one fragment (nearly every message): its bytes are taken as they came,
        // a view of the record's plaintext, instead of a buffer of its own and a copy.
        p = { msgType: f.msgType, epoch, length: f.length, body: f.fragment, ranges: [[0, f.length]], borrowed: true };
        this.pending.set(f.messageSeq, p);
        this.buffered += f.length;
        return true;
      }
      p = { msgType: f.msgType, epoch, length: f.length, body: Buffer.alloc(f.length), ranges: [], borrowed: false };
      this.pending.set(f.messageSeq, p);
      this.buffered += f.length;
    } else if (p.msgType !== f.msgType || p.length !== f.length || p.epoch !== epoch) {
      // A fragment that disagrees with what we hold is forged or corrupt: ignore it.
      return false;
    }
    if (p.borrowed) {
      // Another fragment of a message we hold whole (a duplicate): write into a copy of our own,
      // never into the datagram the first one came in.
      const own = Buffer.alloc(p.length);
      p.body.copy(own);
      p.body = own;
      p.borrowed = false;
    }
    const start = f.fragmentOffset;
    const end = start + f.fragment.length;
    if (end > p.length) return false;
    f.fragment.copy(p.body, start);
    p.ranges.push([start, end]);
    p.ranges.sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const r of p.ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    p.ranges = merged;
    return true;
  }

  private complete(p: Partial): boolean {
    if (p.length === 0) return true;
    return p.ranges.length === 1 && p.ranges[0][0] === 0 && p.ranges[0][1] === p.length;
  }

  /** The complete message with this message_seq, removed from the buffer; undefined if not complete yet. */
  take(seq: number): HandshakeMessage | undefined {
    const p = this.pending.get(seq);
    if (!p || !this.complete(p)) return undefined;
    this.pending.delete(seq);
    this.buffered -= p.length;
    return { msgType: p.msgType, messageSeq: seq, body: p.body, epoch: p.epoch };
  }

  /** The lowest message_seq holding a complete message of `msgType`, if any (for the client's first server message). */
  findComplete(msgType: number): number | undefined {
    let best: number | undefined;
    for (const [seq, p] of this.pending) {
      if (p.msgType === msgType && this.complete(p) && (best === undefined || seq < best)) best = seq;
    }
    return best;
  }

  /** Drops everything below `seq`. */
  discardBelow(seq: number): void {
    for (const [s, p] of this.pending) {
      if (s < seq) {
        this.pending.delete(s);
        this.buffered -= p.length;
      }
    }
  }

  clear(): void {
    this.pending.clear();
    this.buffered = 0;
  }
}

/**
 * The deduplication table of the message layer (RFC 7252 §4.5): which (peer, Message ID) pairs were
 * received within their lifetime, and the ACK or Reset we answered each Confirmable with, to send
 * again for a duplicate.
 *
 * It holds no JavaScript object per entry. An entry lives for seconds to minutes, long enough for
 * the garbage collector to move it to the old generation, where a few hundred thousand dying
 * entries made the heap (and the RSS) of a busy server grow several-fold. Here the entries are
 * slots of typed arrays in a ring (insertion order is expiry order, as every entry of one table
 * lives as long), found through an open-addressing index, and the replies are copied into one byte
 * arena. A reply overwritten in the arena before its entry expired is counted (`repliesLost`) and
 * the duplicate is then ignored rather than executed again; replies above {@link ARENA_MAX_REPLY}
 * bytes are kept as Buffers instead.
 */

/** Replies up to this size go into the arena; larger ones (block-wise payloads) are kept whole. */
export const ARENA_MAX_REPLY = 256;
/** Arena bytes per entry of capacity: room for the usual ACK with a small piggybacked response. */
const ARENA_BYTES_PER_ENTRY = 96;
const NO_REPLY = -1;
const BIG_REPLY = -2;

export interface DedupStats {
  /** Entries forgotten before their lifetime because the table was full. */
  evicted: number;
  /** Duplicates whose cached reply had been overwritten in the arena (they are ignored). */
  repliesLost: number;
}

export class DedupTable<P extends { readonly id: number }> {
  readonly stats: DedupStats = { evicted: 0, repliesLost: 0 };
  private cap = 0;
  private head = 0;
  private count = 0;
  private peerIds = new Int32Array(0);
  private mids = new Uint16Array(0);
  private expires = new Float64Array(0);
  private serials = new Float64Array(0);
  /** Absolute arena position of the reply (bytes written before it), or NO_REPLY / BIG_REPLY. */
  private replyPos = new Float64Array(0);
  private replyLen = new Int32Array(0);
  private peers: Array<P | undefined> = [];
  /** Slot + 1 per index position, 0 when free; linear probing. */
  private index = new Int32Array(0);
  private mask = 0;
  private nextSerial = 1;
  private readonly big = new Map<number, Buffer>();
  private arena?: Buffer;
  private written = 0;

  constructor(
    /** Bound on entries; the oldest is evicted beyond it. */
    readonly maxEntries: number,
    /** How long an entry lives, ms. */
    readonly lifetime: number,
    /** Called when an entry's peer reference is dropped (expiry or eviction). */
    private readonly onForget: (peer: P) => void,
  ) {}

  get size(): number {
    return this.count;
  }

  /** The slot of (peer, Message ID), or -1. */
  find(peerId: number, mid: number): number {
    if (this.count === 0) return -1;
    const index = this.index;
    for (let i = this.hash(peerId, mid); ; i = (i + 1) & this.mask) {
      const v = index[i];
      if (v === 0) return -1;
      const s = v - 1;
      if (this.peerIds[s] === peerId && this.mids[s] === mid) return s;
    }
  }

  /** Remembers (peer, Message ID) until now + lifetime; returns its slot. */
  add(peer: P, mid: number, now: number): number {
    if (this.maxEntries <= 0) return -1;
    if (this.count >= this.maxEntries) {
      this.stats.evicted++;
      this.dropHead();
    }
    if (this.count === this.cap) this.grow();
    let slot = this.head + this.count;
    if (slot >= this.cap) slot -= this.cap;
    this.count++;
    this.peerIds[slot] = peer.id;
    this.mids[slot] = mid;
    this.expires[slot] = now + this.lifetime;
    this.serials[slot] = this.nextSerial++;
    this.replyPos[slot] = NO_REPLY;
    this.peers[slot] = peer;
    this.insertIndex(slot);
    return slot;
  }

  /** A number that tells this use of `slot` from later ones, for {@link setReply}. */
  serialOf(slot: number): number {
    return slot < 0 ? 0 : this.serials[slot];
  }

  /** Keeps the reply sent for the entry, unless the slot has been reused since. */
  setReply(slot: number, serial: number, reply: Buffer): void {
    if (slot < 0 || this.serials[slot] !== serial) return;
    if (this.replyPos[slot] === BIG_REPLY) this.big.delete(serial);
    if (reply.length > ARENA_MAX_REPLY) {
      this.big.set(serial, reply);
      this.replyPos[slot] = BIG_REPLY;
      return;
    }
    if (this.arena === undefined) {
      // Not from the Buffer pool, and untouched pages cost no memory until written.
      this.arena = Buffer.allocUnsafeSlow(Math.max(64 * 1024, this.maxEntries * ARENA_BYTES_PER_ENTRY));
    }
    const size = this.arena.length;
    let off = this.written % size;
    if (off + reply.length > size) {
      // A reply never wraps: skip the tail of the arena.
      this.written += size - off;
      off = 0;
    }
    reply.copy(this.arena, off);
    this.replyPos[slot] = this.written;
    this.replyLen[slot] = reply.length;
    this.written += reply.length;
  }

  /** The reply kept for the entry in `slot` (a copy), if any. */
  reply(slot: number): Buffer | undefined {
    const pos = this.replyPos[slot];
    if (pos === NO_REPLY) return undefined;
    if (pos === BIG_REPLY) return this.big.get(this.serials[slot]);
    const arena = this.arena as Buffer;
    if (this.written - pos > arena.length) {
      this.stats.repliesLost++;
      return undefined;
    }
    const off = pos % arena.length;
    return Buffer.from(arena.subarray(off, off + this.replyLen[slot]));
  }

  /** Forgets the entries whose lifetime has passed. */
  sweep(now: number): void {
    while (this.count > 0 && this.expires[this.head] <= now) this.dropHead();
  }

  /** Forgets everything. */
  clear(): void {
    while (this.count > 0) this.dropHead();
  }

  private dropHead(): void {
    const s = this.head;
    this.removeIndex(s);
    if (this.replyPos[s] === BIG_REPLY) this.big.delete(this.serials[s]);
    const peer = this.peers[s];
    this.peers[s] = undefined;
    this.head = s + 1 === this.cap ? 0 : s + 1;
    this.count--;
    if (peer !== undefined) this.onForget(peer);
  }

  private hash(peerId: number, mid: number): number {
    let h = Math.imul(peerId, 0x9e3779b1) ^ Math.imul(mid + 1, 0x85ebca6b);
    h ^= h >>> 15;
    return h & this.mask;
  }

  private insertIndex(slot: number): void {
    let i = this.hash(this.peerIds[slot], this.mids[slot]);
    while (this.index[i] !== 0) i = (i + 1) & this.mask;
    this.index[i] = slot + 1;
  }

  /** Removes a slot from the index with backward-shift deletion (no tombstones). */
  private removeIndex(slot: number): void {
    const index = this.index;
    const mask = this.mask;
    let i = this.hash(this.peerIds[slot], this.mids[slot]);
    while (index[i] !== slot + 1) {
      if (index[i] === 0) return;
      i = (i + 1) & mask;
    }
    index[i] = 0;
    for (let j = (i + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const s = index[j] - 1;
      const k = this.hash(this.peerIds[s], this.mids[s]);
      // Move the entry back into the hole unless its home lies cyclically in (i, j].
      const stays = i <= j ? i < k && k <= j : i < k || k <= j;
      if (!stays) {
        index[i] = index[j];
        index[j] = 0;
        i = j;
      }
    }
  }

  /** Doubles the ring (up to maxEntries), keeping insertion order, and rebuilds the index. */
  private grow(): void {
    const cap = Math.min(this.maxEntries, Math.max(1024, this.cap * 2));
    const order = (a: { length: number }, i: number) => (this.head + i) % (a.length || 1);
    const move = <T extends Int32Array | Uint16Array | Float64Array>(old: T, fresh: T): T => {
      for (let i = 0; i < this.count; i++) fresh[i] = old[order(old, i)];
      return fresh;
    };
    this.peerIds = move(this.peerIds, new Int32Array(cap));
    this.mids = move(this.mids, new Uint16Array(cap));
    this.expires = move(this.expires, new Float64Array(cap));
    this.serials = move(this.serials, new Float64Array(cap));
    this.replyPos = move(this.replyPos, new Float64Array(cap));
    this.replyLen = move(this.replyLen, new Int32Array(cap));
    const peers: Array<P | undefined> = new Array(cap).fill(undefined);
    for (let i = 0; i < this.count; i++) peers[i] = this.peers[order(this.peers, i)];
    this.peers = peers;
    this.cap = cap;
    this.head = 0;
    let size = 1024;
    while (size < cap * 2) size *= 2;
    this.index = new Int32Array(size);
    this.mask = size - 1;
    for (let s = 0; s < this.count; s++) this.insertIndex(s);
  }
}

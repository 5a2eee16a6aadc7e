/**
 * The two stores the endpoint keeps, as small interfaces (DESIGN.md "Growing past one machine"):
 * the association table (peer address → association) and the session cache (session ID →
 * resumable state). The Map-backed defaults serve one process; a shared store can implement the
 * same interfaces.
 */
import type { PeerIdentity } from './credentials/identity.ts';
import type { SessionState } from './handshake/types.ts';

/** Resumable sessions by session ID (RFC 5246 §7.3). May be backed by a shared store, hence async-capable. */
export interface SessionCache {
  get(id: Buffer): SessionState | undefined | Promise<SessionState | undefined>;
  set(session: SessionState): void | Promise<void>;
  delete(id: Buffer): void | Promise<void>;
  /** Sessions dropped to stay within a bound, when the cache has one (endpoint stats `evictions.sessionCache`). */
  readonly evictions?: number;
}

/**
 * A peer's key in the association table: for IPv4 the number address × 65536 + port (made
 * without allocating a string for every datagram), otherwise the string "address|port".
 */
export type PeerKey = number | string;

/** The key of `address` and `port`; a dotted-quad IPv4 address becomes a number. */
export function peerKey(address: string, port: number): PeerKey {
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || part > 255 || ++dots > 3) return `${address}|${port}`;
      v = v * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else {
      return `${address}|${port}`;
    }
  }
  if (dots !== 3 || digits === 0 || part > 255) return `${address}|${port}`;
  return (v * 256 + part) * 65536 + port;
}

/** Associations by {@link PeerKey}. */
export interface AssociationTable<A> {
  get(key: PeerKey): A | undefined;
  set(key: PeerKey, a: A): void;
  delete(key: PeerKey): void;
  readonly size: number;
  values(): IterableIterator<A>;
}

/**
 * The hash of a session ID: its first bytes as an integer (session IDs are random, RFC 5246
 * §7.4.1.2, and ours are chosen by this server, so a peer cannot aim IDs at one bucket). IDs that
 * share a bucket are chained and told apart by their bytes.
 */
function idKey(b: Buffer, at = 0, length = b.length): number {
  let h = length;
  for (let i = 0; i < 4 && i < length; i++) h = ((h << 8) | b[at + i]) >>> 0;
  return h & 0x3fffffff;
}

/**
 * One slot of the cache's slab: the creation time (float64), the cipher suite (uint16), the
 * extended-master-secret flag, the ID's and the master secret's lengths, then the ID (at most 32
 * bytes, RFC 5246 §7.4.1.2) and the master secret (48 bytes, §8.1).
 */
const AT_CREATED = 0;
const AT_SUITE = 8;
const AT_EMS = 10;
const AT_ID_LENGTH = 11;
const AT_MS_LENGTH = 12;
const AT_ID = 16;
const MAX_ID = 32;
const AT_MS = AT_ID + MAX_ID;
const MAX_MS = 48;
const SLOT = AT_MS + MAX_MS;
/** Slots of a cache's first slab; it doubles when full, up to the bound. */
const FIRST_SLOTS = 16;
/** No slot: the end of a chain. */
const NONE = -1;

/**
 * An in-memory session cache with a lifetime and a size bound (oldest evicted first).
 *
 * Sessions live in one slab of fixed-size slots used as a ring in insertion order (the head is the
 * oldest), found through a table of chain heads (an Int32Array, a power of two at least the slot
 * count), so that a cached session costs its 96-byte slot, 4–8 bytes of index and chain and its
 * identity (shared by the sessions of one peer), and the collector sees no object per session. A
 * Map from ID key to slot cost ~70 bytes a session (7.3 MB of hash table at the 100 000 bound,
 * counting the deleted entries a Map keeps until it rehashes). A
 * session kept as objects (a PackedSession with its Buffer, ArrayBuffer and native backing store)
 * cost ~630 bytes and six objects for the collector to trace; 100 000 of them (the default bound,
 * reached in 20 s of full handshakes at full speed) were 63 MB of heap. A deleted or replaced
 * session leaves a dead slot behind, freed when the head passes it or when a full ring is
 * compacted (see makeRoom). `get` hands out a plain copy.
 */
export class MemorySessionCache implements SessionCache {
  private slab = Buffer.alloc(0);
  /** The identity of each live slot; undefined marks a free or dead slot. */
  private identities: Array<PeerIdentity | undefined> = [];
  /** The next slot whose ID has the same {@link idKey}, or {@link NONE}. */
  private chain = new Int32Array(0);
  /** The first slot of each bucket's chain ({@link idKey} & mask), or {@link NONE}. */
  private heads = new Int32Array(0);
  private mask = 0;
  private capacity = 0;
  private head = 0;
  /** Slots from the head on in use, live or dead. */
  private used = 0;
  private live = 0;
  private evicted = 0;

  constructor(
    private readonly maxEntries = 100_000,
    private readonly lifetimeMs = 24 * 3600_000,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError(`session cache: maxEntries must be a positive integer, got ${maxEntries}`);
  }

  get(id: Buffer): SessionState | undefined {
    const slot = this.find(id);
    if (slot === NONE) return undefined;
    const at = slot * SLOT;
    const createdAt = this.slab.readDoubleLE(at + AT_CREATED);
    if (Date.now() - createdAt > this.lifetimeMs) {
      this.remove(slot, id);
      return undefined;
    }
    const idLength = this.slab[at + AT_ID_LENGTH];
    const msLength = this.slab[at + AT_MS_LENGTH];
    const own = Buffer.allocUnsafeSlow(idLength + msLength);
    this.slab.copy(own, 0, at + AT_ID, at + AT_ID + idLength);
    this.slab.copy(own, idLength, at + AT_MS, at + AT_MS + msLength);
    return {
      id: own.subarray(0, idLength),
      masterSecret: own.subarray(idLength),
      cipherSuite: this.slab.readUInt16LE(at + AT_SUITE),
      extendedMasterSecret: this.slab[at + AT_EMS] === 1,
      identity: this.identities[slot] as PeerIdentity,
      createdAt,
    };
  }

  set(s: SessionState): void {
    // No ID: the server will not resume (RFC 5246 §7.4.1.3); anything longer is not a TLS 1.2 session.
    if (s.id.length === 0 || s.id.length > MAX_ID || s.masterSecret.length > MAX_MS) return;
    this.delete(s.id);
    if (this.live >= this.maxEntries) this.evictOldest();
    this.makeRoom();
    const slot = (this.head + this.used) % this.capacity;
    const at = slot * SLOT;
    const b = this.slab;
    b.writeDoubleLE(s.createdAt, at + AT_CREATED);
    b.writeUInt16LE(s.cipherSuite, at + AT_SUITE);
    b[at + AT_EMS] = s.extendedMasterSecret ? 1 : 0;
    b[at + AT_ID_LENGTH] = s.id.length;
    b[at + AT_MS_LENGTH] = s.masterSecret.length;
    s.id.copy(b, at + AT_ID);
    s.masterSecret.copy(b, at + AT_MS);
    this.identities[slot] = s.identity;
    this.link(slot, idKey(s.id));
    this.used++;
    this.live++;
  }

  delete(id: Buffer): void {
    const slot = this.find(id);
    if (slot !== NONE) this.remove(slot, id);
  }

  get size(): number {
    return this.live;
  }

  /** Live sessions dropped at the bound so far. */
  get evictions(): number {
    return this.evicted;
  }

  /** The oldest live session goes; dead slots before it at the head are freed on the way. */
  private evictOldest(): void {
    while (this.used > 0) {
      const slot = this.head;
      const wasLive = this.identities[slot] !== undefined;
      if (wasLive) {
        this.unlink(slot, this.keyAt(slot));
        this.identities[slot] = undefined;
        this.live--;
        this.evicted++;
      }
      this.head = (this.head + 1) % this.capacity;
      this.used--;
      if (wasLive) return;
    }
  }

  /**
   * Frees the tail slot for a new session. A full ring is compacted in place when a fifth of it is
   * dead, else it grows (doubling, up to a quarter more slots than the bound, so that at the bound
   * a full ring is always a fifth dead and compacting costs O(1) per stored session on average).
   */
  private makeRoom(): void {
    if (this.used < this.capacity) return;
    const dead = this.used - this.live;
    const most = this.maxEntries + Math.ceil(this.maxEntries / 4);
    if (dead > 0 && (dead >= this.capacity / 5 || this.capacity >= most)) this.compact();
    else this.grow(Math.min(most, Math.max(FIRST_SLOTS, this.capacity * 2)));
  }

  /** Moves the live slots together in ring order, from the head on (a slot moves only backwards: nothing unread is overwritten). */
  private compact(): void {
    let kept = 0;
    for (let i = 0; i < this.used; i++) {
      const from = (this.head + i) % this.capacity;
      const identity = this.identities[from];
      if (identity === undefined) continue;
      const to = (this.head + kept++) % this.capacity;
      if (to === from) continue;
      this.slab.copy(this.slab, to * SLOT, from * SLOT, (from + 1) * SLOT);
      this.identities[to] = identity;
      this.identities[from] = undefined;
    }
    this.used = kept;
    this.reindex();
  }

  /** Copies the live slots, oldest first, into a new slab of `capacity` slots. */
  private grow(capacity: number): void {
    const slab = Buffer.alloc(capacity * SLOT);
    const identities: Array<PeerIdentity | undefined> = new Array(capacity).fill(undefined);
    let n = 0;
    for (let i = 0; i < this.used; i++) {
      const from = (this.head + i) % this.capacity;
      const identity = this.identities[from];
      if (identity === undefined) continue;
      this.slab.copy(slab, n * SLOT, from * SLOT, (from + 1) * SLOT);
      identities[n++] = identity;
    }
    this.slab = slab;
    this.identities = identities;
    this.chain = new Int32Array(capacity);
    let buckets = FIRST_SLOTS;
    while (buckets < capacity) buckets *= 2;
    if (buckets !== this.heads.length) {
      this.heads = new Int32Array(buckets);
      this.mask = buckets - 1;
    }
    this.capacity = capacity;
    this.head = 0;
    this.used = n;
    this.reindex();
  }

  /** Rebuilds the ID index and its chains over the `used` slots from the head (all live). */
  private reindex(): void {
    this.heads.fill(NONE);
    for (let i = 0; i < this.used; i++) {
      const slot = (this.head + i) % this.capacity;
      this.link(slot, this.keyAt(slot));
    }
  }

  /** The {@link idKey} of the ID in `slot`. */
  private keyAt(slot: number): number {
    const at = slot * SLOT;
    return idKey(this.slab, at + AT_ID, this.slab[at + AT_ID_LENGTH]);
  }

  private find(id: Buffer): number {
    if (id.length === 0 || id.length > MAX_ID || this.capacity === 0) return NONE;
    for (let slot = this.heads[idKey(id) & this.mask]; slot !== NONE; slot = this.chain[slot]) {
      const at = slot * SLOT;
      if (
        this.slab[at + AT_ID_LENGTH] === id.length &&
        this.slab.compare(id, 0, id.length, at + AT_ID, at + AT_ID + id.length) === 0
      )
        return slot;
    }
    return NONE;
  }

  private remove(slot: number, id: Buffer): void {
    this.unlink(slot, idKey(id));
    this.identities[slot] = undefined;
    this.live--;
  }

  private link(slot: number, key: number): void {
    const bucket = key & this.mask;
    this.chain[slot] = this.heads[bucket];
    this.heads[bucket] = slot;
  }

  private unlink(slot: number, key: number): void {
    const bucket = key & this.mask;
    const first = this.heads[bucket];
    if (first === slot) {
      this.heads[bucket] = this.chain[slot];
      return;
    }
    for (let p = first; p !== NONE; p = this.chain[p]) {
      if (this.chain[p] === slot) {
        this.chain[p] = this.chain[slot];
        return;
      }
    }
  }
}

/** The default association table. */
export class MapAssociationTable<A> implements AssociationTable<A> {
  private readonly map = new Map<PeerKey, A>();
  get(key: PeerKey): A | undefined {
    return this.map.get(key);
  }
  set(key: PeerKey, a: A): void {
    this.map.set(key, a);
  }
  delete(key: PeerKey): void {
    this.map.delete(key);
  }
  get size(): number {
    return this.map.size;
  }
  values(): IterableIterator<A> {
    return this.map.values();
  }
}

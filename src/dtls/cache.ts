/**
 * The two stores the endpoint keeps, as small interfaces (DESIGN.md "Growing past one machine"):
 * the association table (peer address → association) and the session cache (session ID →
 * resumable state). The Map-backed defaults serve one process; a shared store can implement the
 * same interfaces.
 */
import type { SessionState } from './handshake/types.ts';
import { PackedSession } from './session.ts';

/** Resumable sessions by session ID (RFC 5246 §7.3). May be backed by a shared store, hence async-capable. */
export interface SessionCache {
  get(id: Buffer): SessionState | undefined | Promise<SessionState | undefined>;
  set(session: SessionState): void | Promise<void>;
  delete(id: Buffer): void | Promise<void>;
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
 * The Map key of a session ID: its first bytes as a small integer (session IDs are random, RFC
 * 5246 §7.4.1.2), so that the cache keeps no key string per session (~48 bytes each). IDs that share
 * a key sit in one bucket and are told apart by their bytes.
 */
function idKey(id: Buffer): number {
  let h = id.length;
  for (let i = 0; i < 4 && i < id.length; i++) h = ((h << 8) | id[i]) >>> 0;
  return h & 0x3fffffff; // a small integer: stored in the Map without a heap number
}

/**
 * An in-memory session cache with a lifetime and a size bound (oldest evicted first). It keeps
 * sessions packed: one handed over by a handshake as it is (its ID and master secret share the
 * association's record-key buffer, RecordLayer.keepWithKeys), any other as ID ‖ master secret
 * in one allocation of its own. `get` hands out a plain copy.
 */
export class MemorySessionCache implements SessionCache {
  /** One session, or the few whose IDs share a key. In insertion order, oldest first. */
  private readonly map = new Map<number, PackedSession | PackedSession[]>();
  private count = 0;
  constructor(
    private readonly maxEntries = 100_000,
    private readonly lifetimeMs = 24 * 3600_000,
  ) {}
  get(id: Buffer): SessionState | undefined {
    const s = this.find(id);
    if (s && Date.now() - s.createdAt > this.lifetimeMs) {
      this.delete(id);
      return undefined;
    }
    return s?.unpack();
  }
  set(given: SessionState): void {
    if (given.id.length === 0) return;
    const session = PackedSession.from(given);
    this.delete(session.id);
    const k = idKey(session.id);
    const had = this.map.get(k);
    this.map.delete(k); // re-inserted at the end: the newest
    this.map.set(k, had === undefined ? session : Array.isArray(had) ? [...had, session] : [had, session]);
    this.count++;
    while (this.count > this.maxEntries) {
      const oldest = this.map.entries().next().value;
      if (oldest === undefined) break;
      const [key, v] = oldest;
      if (Array.isArray(v) && v.length > 1) this.map.set(key, v.length === 2 ? v[1] : v.slice(1));
      else this.map.delete(key);
      this.count--;
    }
  }
  delete(id: Buffer): void {
    const k = idKey(id);
    const v = this.map.get(k);
    if (v === undefined) return;
    if (!Array.isArray(v)) {
      if (v.hasId(id)) {
        this.map.delete(k);
        this.count--;
      }
      return;
    }
    const rest = v.filter((s) => !s.hasId(id));
    if (rest.length === v.length) return;
    this.count--;
    if (rest.length === 0) this.map.delete(k);
    else this.map.set(k, rest.length === 1 ? rest[0] : rest);
  }
  get size(): number {
    return this.count;
  }
  private find(id: Buffer): PackedSession | undefined {
    const v = this.map.get(idKey(id));
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) return v.hasId(id) ? v : undefined;
    return v.find((s) => s.hasId(id));
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

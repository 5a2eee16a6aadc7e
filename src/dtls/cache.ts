/**
 * The two stores the endpoint keeps, as small interfaces (DESIGN.md "Growing past one machine"):
 * the association table (peer address → association) and the session cache (session ID →
 * resumable state). The Map-backed defaults serve one process; a shared store can implement the
 * same interfaces.
 */
import type { SessionState } from './handshake/types.ts';

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
 * Moves a session's ID and master secret into one allocation of their own (same bytes, same
 * object): one ArrayBuffer per cached session instead of two, ~150 bytes of heap and native memory
 * less for each idle association. Not Node's shared pool: one session would pin a whole 8 KiB slab.
 */
function packSessionBytes(s: SessionState): void {
  if (s.id.buffer === s.masterSecret.buffer && s.id.byteOffset + s.id.length === s.masterSecret.byteOffset) return;
  const packed = Buffer.allocUnsafeSlow(s.id.length + s.masterSecret.length);
  s.id.copy(packed, 0);
  s.masterSecret.copy(packed, s.id.length);
  s.id = packed.subarray(0, s.id.length);
  s.masterSecret = packed.subarray(s.id.length);
}

/** An in-memory session cache with a lifetime and a size bound (oldest evicted first). */
export class MemorySessionCache implements SessionCache {
  private readonly map = new Map<string, SessionState>();
  constructor(
    private readonly maxEntries = 100_000,
    private readonly lifetimeMs = 24 * 3600_000,
  ) {}
  get(id: Buffer): SessionState | undefined {
    const k = id.toString('latin1');
    const s = this.map.get(k);
    if (s && Date.now() - s.createdAt > this.lifetimeMs) {
      this.map.delete(k);
      return undefined;
    }
    return s;
  }
  set(session: SessionState): void {
    if (session.id.length === 0) return;
    packSessionBytes(session);
    const k = session.id.toString('latin1');
    this.map.delete(k);
    this.map.set(k, session);
    while (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next().value;
      if (oldest === undefined) break;
      this.map.delete(oldest);
    }
  }
  delete(id: Buffer): void {
    this.map.delete(id.toString('latin1'));
  }
  get size(): number {
    return this.map.size;
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

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

/** Associations by peer key ("address|port"). */
export interface AssociationTable<A> {
  get(key: string): A | undefined;
  set(key: string, a: A): void;
  delete(key: string): void;
  readonly size: number;
  values(): IterableIterator<A>;
}

/** An in-memory session cache with a lifetime and a size bound (oldest evicted first). */
export class MemorySessionCache implements SessionCache {
  private readonly map = new Map<string, SessionState>();
  constructor(
    private readonly maxEntries = 100_000,
    private readonly lifetimeMs = 24 * 3600_000,
  ) {}
  get(id: Buffer): SessionState | undefined {
    const k = id.toString('hex');
    const s = this.map.get(k);
    if (s && Date.now() - s.createdAt > this.lifetimeMs) {
      this.map.delete(k);
      return undefined;
    }
    return s;
  }
  set(session: SessionState): void {
    if (session.id.length === 0) return;
    const k = session.id.toString('hex');
    this.map.delete(k);
    this.map.set(k, session);
    while (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next().value;
      if (oldest === undefined) break;
      this.map.delete(oldest);
    }
  }
  delete(id: Buffer): void {
    this.map.delete(id.toString('hex'));
  }
  get size(): number {
    return this.map.size;
  }
}

/** The default association table. */
export class MapAssociationTable<A> implements AssociationTable<A> {
  private readonly map = new Map<string, A>();
  get(key: string): A | undefined {
    return this.map.get(key);
  }
  set(key: string, a: A): void {
    this.map.set(key, a);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
  get size(): number {
    return this.map.size;
  }
  values(): IterableIterator<A> {
    return this.map.values();
  }
}

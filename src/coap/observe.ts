/**
 * Observe (RFC 7641): the server's registry of observers and the client's freshness rule.
 * The server side sends notifications from server.ts (it re-runs the resource's handler); the client
 * side's Observation lives in client.ts.
 */
import type { MessageLayer } from './messaging.ts';
import type { TransportPeer } from './transport.ts';

/** Observe sequence numbers are 24-bit (RFC 7641 §3.4, §4.4). */
export const OBSERVE_MODULUS = 1 << 24;
const HALF = 1 << 23;
/** §3.4: after 128 s a notification is fresh whatever its number. */
export const OBSERVE_FRESHNESS_MS = 128_000;

/**
 * RFC 7641 §3.4: is a notification (v1 received at t1) newer than the last one (v2 at t2)?
 * Sequence numbers wrap at 2^24, so "newer" means less than half the space ahead.
 */
export function isFresher(v1: number, t1: number, v2: number, t2: number): boolean {
  return (v1 < v2 && v2 - v1 > HALF) || (v1 > v2 && v1 - v2 < HALF) || t1 > t2 + OBSERVE_FRESHNESS_MS;
}

/** One registration: a client endpoint and the token of its GET with Observe 0 (§4.1). */
export interface Observer {
  key: string;
  layer: MessageLayer;
  peer: TransportPeer;
  token: Buffer;
  /** The concrete path observed ("/time"), which `notify` names. */
  path: string;
  /** Builds the next notification from the original request. */
  requestState: unknown;
  /** Notifications sent since the last Confirmable one. */
  sinceCon: number;
  lastConAt: number;
  /** A Confirmable notification is waiting for its ACK. */
  inFlight: boolean;
  /** The state changed while a Confirmable was in flight: send the latest once it is acknowledged (§4.5.2). */
  pending: boolean;
  /** Removed observers ignore late callbacks. */
  removed: boolean;
}

export interface ObserveServerOptions {
  /** Every Nth notification is Confirmable, so that a vanished client is noticed (§4.5). Default 20. */
  conEvery: number;
  /** And at least one Confirmable this often (§4.5: "at least every 24 hours"). Default 24 h. */
  conIntervalMs: number;
  /** Bound on observers per server. Default 10 000. */
  maxObservers: number;
}

export const DEFAULT_OBSERVE_OPTIONS: ObserveServerOptions = {
  conEvery: 20,
  conIntervalMs: 24 * 3600 * 1000,
  maxObservers: 10_000,
};

/** Observers by path, and a sequence counter that only moves forward (§4.4). */
export class ObserverRegistry {
  private readonly byPath = new Map<string, Map<string, Observer>>();
  private readonly byKey = new Map<string, Observer>();
  private sequence = 1;

  constructor(readonly options: ObserveServerOptions) {}

  static keyOf(layerId: number, peer: { address: string; port: number }, token: Buffer): string {
    return `${layerId}|${peer.address}|${peer.port}|${token.toString('hex')}`;
  }

  /** Registers or replaces (same client endpoint and token re-registering, §4.1). Returns false when full. */
  add(o: Observer): boolean {
    const existing = this.byKey.get(o.key);
    if (existing) this.remove(existing);
    if (this.byKey.size >= this.options.maxObservers) return false;
    this.byKey.set(o.key, o);
    let m = this.byPath.get(o.path);
    if (!m) {
      m = new Map();
      this.byPath.set(o.path, m);
    }
    m.set(o.key, o);
    return true;
  }

  get(key: string): Observer | undefined {
    return this.byKey.get(key);
  }

  remove(o: Observer): void {
    o.removed = true;
    if (this.byKey.get(o.key) === o) this.byKey.delete(o.key);
    const m = this.byPath.get(o.path);
    if (m?.get(o.key) === o) {
      m.delete(o.key);
      if (m.size === 0) this.byPath.delete(o.path);
    }
  }

  /** Removes every observation a client endpoint holds (it answered a notification with Reset, §3.6). */
  removeByToken(layerId: number, peer: { address: string; port: number }, token: Buffer): void {
    const o = this.byKey.get(ObserverRegistry.keyOf(layerId, peer, token));
    if (o) this.remove(o);
  }

  forPath(path: string): Observer[] {
    return [...(this.byPath.get(path)?.values() ?? [])];
  }

  count(path?: string): number {
    return path === undefined ? this.byKey.size : (this.byPath.get(path)?.size ?? 0);
  }

  all(): Observer[] {
    return [...this.byKey.values()];
  }

  /** The next sequence number: strictly increasing modulo 2^24 (§4.4). */
  nextSequence(): number {
    this.sequence = (this.sequence + 1) % OBSERVE_MODULUS;
    return this.sequence;
  }

  /** Whether this notification should be Confirmable (§4.5). */
  wantsConfirmable(o: Observer, now = Date.now()): boolean {
    return o.sinceCon + 1 >= this.options.conEvery || now - o.lastConAt >= this.options.conIntervalMs;
  }
}

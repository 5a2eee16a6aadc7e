/**
 * What the fleet is doing right now, as the dashboard's overview and live events need it: each
 * resource's last DTLS handshake (mode, identity, resumed or full), when a datagram from it last
 * arrived, and the rates the overview's counters show (handshakes, points and errors per minute).
 *
 * Kept in memory per process, on purpose: handshakes and datagrams happen in the CoAPs front end
 * at device rate, and a row written per datagram would compete with the points themselves for the
 * store. What must survive a restart or be seen by every front end is already in the store (the
 * points, each stream's last time, the poll log); this adds only what the front end alone sees, and
 * a restart costs the overview nothing but "last handshake: unknown" until the device talks again.
 *
 * Bounded: one entry per resource that handshook (at most {@link FLEET_MAX_RESOURCES}; the one
 * seen longest ago is evicted and counted), and one minute of event times per counter.
 */
import { EventEmitter } from 'node:events';
import type { DtlsConnection, PeerIdentity } from '../dtls/index.ts';
import type { DeviceMode } from './model.ts';

/** Most resources tracked; beyond it the one seen longest ago is evicted (counted in `evicted`). */
export const FLEET_MAX_RESOURCES = 100_000;
/** A device is online while it was heard from within this window. */
export const ONLINE_WINDOW_MS = 5 * 60_000;

export interface DeviceState {
  resourceId: number;
  mode: DeviceMode;
  /** The PSK identity, the key's SHA-256 (RPK) or the certificate's subject (X.509). */
  identity: string;
  lastHandshake: number;
  resumed: boolean;
  /** The last datagram from this device, ms. */
  lastSeen: number;
}

/** An event the live page receives: a device's new state, or a handshake that failed. */
export type FleetEvent = { kind: 'device'; state: DeviceState } | { kind: 'handshake-error'; time: number };

/** The fleet's counters over the last minute. */
export interface FleetRates {
  handshakesPerMin: number;
  pointsPerMin: number;
  handshakeErrorsPerMin: number;
}

/** Events of the last minute as (time, count) pairs, pruned on read and write. */
class MinuteCounter {
  private readonly entries: { time: number; n: number }[] = [];
  private sum = 0;
  add(now: number, n = 1): void {
    const last = this.entries.at(-1);
    // Events in the same 100 ms share an entry: memory stays bounded at any rate.
    if (last && now - last.time < 100) last.n += n;
    else this.entries.push({ time: now, n });
    this.sum += n;
    this.prune(now);
  }
  count(now: number): number {
    this.prune(now);
    return this.sum;
  }
  private prune(now: number): void {
    let i = 0;
    while (i < this.entries.length && this.entries[i].time <= now - 60_000) this.sum -= this.entries[i++].n;
    if (i > 0) this.entries.splice(0, i);
  }
}

/** How a handshake's identity is shown. */
export function identityOf(id: PeerIdentity): { mode: DeviceMode; identity: string } {
  switch (id.mode) {
    case 'psk':
      return { mode: 'psk', identity: id.identity };
    case 'rpk':
      return { mode: 'rpk', identity: id.fingerprint };
    case 'x509':
      return { mode: 'x509', identity: id.subject };
  }
}

export class FleetMonitor {
  private readonly devices = new Map<number, DeviceState>();
  private readonly handshakes = new MinuteCounter();
  private readonly points = new MinuteCounter();
  private readonly errors = new MinuteCounter();
  private readonly emitter = new EventEmitter();
  /** Resources dropped at {@link FLEET_MAX_RESOURCES}. */
  evicted = 0;

  constructor(private readonly now: () => number = Date.now) {
    this.emitter.setMaxListeners(0);
  }

  /** Records a finished handshake of a device bound to `resourceId`. */
  handshake(resourceId: number, identity: PeerIdentity, resumed: boolean): void {
    const now = this.now();
    this.handshakes.add(now);
    this.devices.delete(resourceId); // re-inserted last: the map's order is least recently seen first
    if (this.devices.size >= FLEET_MAX_RESOURCES) {
      const oldest = this.devices.keys().next().value;
      if (oldest !== undefined) this.devices.delete(oldest);
      this.evicted++;
    }
    const state = { resourceId, ...identityOf(identity), lastHandshake: now, resumed, lastSeen: now };
    this.devices.set(resourceId, state);
    this.emitter.emit('event', { kind: 'device', state: { ...state } } satisfies FleetEvent);
  }

  /** Records a datagram from a device bound to `resourceId`. */
  seen(resourceId: number): void {
    const d = this.devices.get(resourceId);
    if (d) d.lastSeen = this.now();
  }

  /** Records a handshake that failed (no resource known: the peer proved nothing). */
  handshakeError(): void {
    const time = this.now();
    this.errors.add(time);
    this.emitter.emit('event', { kind: 'handshake-error', time } satisfies FleetEvent);
  }

  /** Records `n` points stored. */
  stored(n: number): void {
    this.points.add(this.now(), n);
  }

  device(resourceId: number): DeviceState | undefined {
    const d = this.devices.get(resourceId);
    return d && { ...d };
  }

  rates(): FleetRates {
    const now = this.now();
    return {
      handshakesPerMin: this.handshakes.count(now),
      pointsPerMin: this.points.count(now),
      handshakeErrorsPerMin: this.errors.count(now),
    };
  }

  /** Calls `listener` with every fleet event; returns the unsubscribe. */
  watch(listener: (e: FleetEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }

  /**
   * Follows a DTLS server: each established connection is mapped to its resource by `resolve`
   * (the device directory), and its datagrams mark the device seen.
   */
  follow(
    server: EventEmitter,
    resolve: (identity: PeerIdentity) => Promise<number | undefined>,
    onError: (err: unknown) => void = () => {},
  ): () => void {
    const onConnection = (c: DtlsConnection) => {
      resolve(c.identity).then((rid) => {
        if (rid === undefined) return;
        this.handshake(rid, c.identity, c.resumed);
        c.on('data', () => this.seen(rid));
      }, onError);
    };
    const onHandshakeError = () => this.handshakeError();
    server.on('connection', onConnection);
    server.on('handshakeError', onHandshakeError);
    return () => {
      server.off('connection', onConnection);
      server.off('handshakeError', onHandshakeError);
    };
  }
}

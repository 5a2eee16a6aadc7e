/**
 * Observe (RFC 7641) for both roles: the server's registry of observers (server.ts sends the
 * notifications, re-running the resource's handler), and the client's {@link Observation} with its
 * freshness rule (§3.4), re-registration (§3.3.1) and cancellation (§3.6), over the exchange and
 * block-wise download the client lends it.
 */
import { EventEmitter } from 'node:events';
import { CoapCancelledError } from './errors.ts';
import { type CoapMessage, type CoapOption, getUintOption } from './message.ts';
import type { MessageLayer } from './messaging.ts';
import { Code, encodeUint, OptionNumber } from './options.ts';
import { type CoapResponse, toCoapResponse } from './response.ts';
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

/** What an observation needs of the client, bound to one server endpoint. */
export interface ObservationHost {
  /** The server as the responses name it (address, port and, over DTLS, its identity). */
  readonly peer: TransportPeer;
  /**
   * One request/response exchange with `token`; `persistent` keeps the token registered for the
   * notifications that follow.
   */
  exchange(
    msg: { code: number; options: CoapOption[]; payload: Buffer },
    confirmable: boolean,
    token: Buffer,
    persistent?: (m: CoapMessage, peer: TransportPeer) => void,
  ): Promise<CoapMessage>;
  /** The whole body of a (notification) response, fetching further Block2 blocks. */
  block2(first: CoapMessage, confirmable: boolean): Promise<Buffer>;
  /** Forgets the token: a later notification gets a Reset. */
  forget(token: Buffer): void;
}

const NO_BODY = Buffer.alloc(0);

/**
 * A running observation (RFC 7641 §3). Events: `notification` (CoapResponse), `error` (Error),
 * `end` (the server ended it: a response without Observe or an error code).
 */
export class Observation extends EventEmitter {
  /** The first response (the registration's answer). */
  first?: CoapResponse;
  /** Notifications delivered, including the first response. */
  count = 0;
  private lastSeq?: number;
  private lastAt = 0;
  private active = true;
  private refresh?: NodeJS.Timeout;

  constructor(
    private readonly host: ObservationHost,
    private readonly base: CoapOption[],
    private readonly confirmable: boolean,
    readonly token: Buffer,
  ) {
    super();
  }

  get isActive(): boolean {
    return this.active;
  }

  /** @internal */
  async start(): Promise<void> {
    const options = [...this.base, { number: OptionNumber.Observe, value: encodeUint(0) }];
    const first = await this.host.exchange(
      { code: Code.GET, options, payload: NO_BODY },
      this.confirmable,
      this.token,
      (m, peer) => {
        this.onNotification(m, peer).catch((err: unknown) => this.fail(err));
      },
    );
    const body = await this.host.block2(first, this.confirmable);
    this.first = toCoapResponse(first, this.host.peer, body);
    this.count = 1;
    const seq = getUintOption(first, OptionNumber.Observe);
    if (seq === undefined || first.code >> 5 !== 2) {
      // §3.1: no Observe in the response: the server did not register us.
      this.stop();
      return;
    }
    this.lastSeq = seq;
    this.lastAt = Date.now();
    this.armRefresh(first);
  }

  private fail(err: unknown): void {
    // An 'error' event without a listener would throw: report only to those who listen.
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /**
   * RFC 7641 §3.3.1: when no notification came within Max-Age (default 60 s, RFC 7252 §5.10.5)
   * plus some slack, the server may have lost our registration (a reboot): register again with the
   * same token. The answer is a fresh response, accepted whatever its sequence number (§3.4 orders
   * notifications of one registration).
   */
  private armRefresh(m: CoapMessage): void {
    if (this.refresh) clearTimeout(this.refresh);
    if (!this.active) return;
    const maxAge = getUintOption(m, OptionNumber.MaxAge) ?? 60;
    this.refresh = setTimeout(
      () => {
        this.reregister().catch((err: unknown) => this.fail(err));
      },
      (maxAge + Math.max(2, maxAge / 10)) * 1000,
    );
    this.refresh.unref();
  }

  private async reregister(): Promise<void> {
    if (!this.active) return;
    const options = [...this.base, { number: OptionNumber.Observe, value: encodeUint(0) }];
    let m: CoapMessage;
    try {
      m = await this.host.exchange(
        { code: Code.GET, options, payload: NO_BODY },
        this.confirmable,
        this.token,
        (n, peer) => {
          this.onNotification(n, peer).catch((err: unknown) => this.fail(err));
        },
      );
    } catch (err) {
      if (err instanceof CoapCancelledError) {
        this.stop(); // The client closed.
        return;
      }
      // The server is unreachable: try again after the same delay.
      if (this.active)
        this.armRefresh({
          type: 'ACK',
          code: Code.Content,
          messageId: 0,
          token: this.token,
          options: [],
          payload: NO_BODY,
        });
      this.fail(err);
      return;
    }
    if (!this.active) return;
    const peer = this.host.peer;
    const seq = getUintOption(m, OptionNumber.Observe);
    if (seq === undefined || m.code >> 5 !== 2) {
      this.stop();
      this.emit('end', toCoapResponse(m, peer));
      return;
    }
    this.lastSeq = seq;
    this.lastAt = Date.now();
    this.armRefresh(m);
    const body = await this.host.block2(m, this.confirmable);
    this.count++;
    this.emit('notification', toCoapResponse(m, peer, body));
  }

  private async onNotification(m: CoapMessage, peer: TransportPeer): Promise<void> {
    if (!this.active) return;
    const seq = getUintOption(m, OptionNumber.Observe);
    const now = Date.now();
    if (seq === undefined || m.code >> 5 !== 2) {
      // §3.2: a notification without Observe, or with an error code, ends the observation.
      this.stop();
      this.emit('end', toCoapResponse(m, peer));
      return;
    }
    if (this.lastSeq !== undefined && !isFresher(seq, now, this.lastSeq, this.lastAt)) return; // §3.4: stale.
    this.lastSeq = seq;
    this.lastAt = now;
    this.armRefresh(m);
    const body = await this.host.block2(m, true);
    this.count++;
    this.emit('notification', toCoapResponse(m, peer, body));
  }

  private stop(): void {
    if (!this.active) return;
    this.active = false;
    if (this.refresh) clearTimeout(this.refresh);
    this.host.forget(this.token);
  }

  /**
   * Ends the observation. `proactive` (default) sends a GET with Observe 1 and the same token
   * (RFC 7641 §3.6); otherwise the token is forgotten and the next notification gets a Reset.
   */
  async cancel(proactive = true): Promise<void> {
    if (!this.active) return;
    this.stop();
    if (!proactive) return;
    const options = [...this.base, { number: OptionNumber.Observe, value: encodeUint(1) }];
    try {
      await this.host.exchange({ code: Code.GET, options, payload: NO_BODY }, this.confirmable, this.token);
    } catch {
      // The server may be gone; the observation is over on our side either way.
    }
  }
}

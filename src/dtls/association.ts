/**
 * One DTLS association with one peer: runs the role's handshake (retransmission, reassembly,
 * transcript) and then carries application data. It is the `DtlsConnection` the public API hands
 * out. Records arrive from the endpoint already split from their datagram; they are processed one
 * datagram at a time in order (a PSK lookup may be async).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from './../util/log.ts';
import type { EvictionReason } from './admission.ts';
import type { PeerKey } from './cache.ts';
import type { PeerIdentity } from './credentials/identity.ts';
import { suiteByCode } from './crypto/suites.ts';
import { AlertDescription, AlertLevel, alertName, DtlsAlertError, DtlsTimeoutError } from './errors.ts';
import { type FlightItem, flightDatagrams, meterFlight } from './handshake/flight.ts';
import { ReassemblyBuffer } from './handshake/reassembly.ts';
import { RetransmitTimer } from './handshake/retransmit.ts';
import { Transcript } from './handshake/transcript.ts';
import type { HandshakeResult, PeerAddress, RoleHandshake, SessionState } from './handshake/types.ts';
import type { ListNode } from './lru.ts';
import type { DtlsMeter } from './meter.ts';
import { type PackedSession, RecordLayer } from './session.ts';
import { encodeAlert, parseAlert } from './wire/alert.ts';
import { ownCopy } from './wire/buffer.ts';
import { parseChangeCipherSpec } from './wire/change-cipher-spec.ts';
import { HandshakeType, handshakeTypeName, parseHandshakeFragments } from './wire/handshake.ts';
import { ContentType, type DtlsRecord } from './wire/record.ts';

/**
 * What the endpoint learns of an association's life, through one object it shares among all of
 * them (no listener or closure per association).
 */
export interface AssociationHost {
  established(a: Association): void;
  /** The association closed (after a failure when `err` is set). */
  closed(a: Association, err: Error | undefined): void;
  /** An authenticated record arrived. */
  activity(a: Association): void;
  /** Sends one datagram to `remote`. */
  send(datagram: Buffer, remote: PeerAddress): void;
  /** The peer moved to `to` (RFC 9146 §6); the association's `remote` still names the old address. */
  moved?(a: Association, to: PeerAddress): void;
  /** A datagram was held back from an unverified new address. */
  addressLimited?(a: Association): void;
}

/**
 * How an association runs: the same for many associations (the endpoint shares one object among
 * those made with its defaults, so that an idle session keeps no copy). The peer is the
 * association's own `remote`; datagrams leave through `host.send`.
 */
export interface AssociationOptions {
  role: 'client' | 'server';
  mtu: number;
  retransmitInitialMs: number;
  retransmitMaxMs: number;
  maxRetransmits: number;
  meter?: DtlsMeter;
  logger?: Logger;
  host?: AssociationHost;
}

/**
 * What an established association keeps instead of its handshake's transcript and reassembly
 * buffer: one empty instance of each, shared (nothing is added to them after the handshake).
 */
const RELEASED_TRANSCRIPT = new Transcript();
RELEASED_TRANSCRIPT.free();
const RELEASED_BUFFER = new ReassemblyBuffer({ maxBufferedBytes: 0 });

/** The role state once the handshake is over (the real one is released). */
const FINISHED: RoleHandshake = {
  onMessage: () => {},
  waitingFirst: false,
  awaitingFinished: false,
};

/** A settled promise: what `receive` returns when it processed the datagram at once. */
const DONE: Promise<void> = Promise.resolve();

/** A step of input processing: done when it returns, or a promise when it had to wait. */
type Step = Promise<void> | void;

export type AssociationState = 'handshake' | 'established' | 'closed';

/** Largest application_data plaintext in one record (RFC 5246 §6.2.1). */
export const MAX_PLAINTEXT = 16384;

/** EventEmitter's own field, left undefined until a listener is added (see the constructor). */
interface LazyEvents {
  _events: object | undefined;
}

export class Association extends EventEmitter {
  readonly records: RecordLayer;
  /** The handshake's transcript; a shared, empty one once established. */
  transcript: Transcript;
  readonly remote: PeerAddress;
  readonly meter?: DtlsMeter;
  state: AssociationState = 'handshake';
  role!: RoleHandshake;
  /**
   * Server side: the last four bytes of the random of the ClientHello that started this
   * association, as a signed 32-bit number (a small integer, not a heap number): spots that
   * ClientHello's retransmissions without keeping a buffer per session. A restarted client's new
   * random matches by chance once in 2^32, and then its next ClientHello gets in.
   */
  clientRandomTag = 0;
  /** The endpoint's key for this association's peer. */
  key: PeerKey | undefined = undefined;
  /** The endpoint's key for this association's Connection ID, when it has one. */
  cidKey: string | undefined = undefined;
  /**
   * Bytes we may still send to a peer address not yet proven (after a CID address update), or −1
   * when the address is verified. Until the next authenticated record from the new address, we
   * send there at most as many bytes as came from it.
   */
  private pathBudget = -1;
  /** The latest datagram held back by `pathBudget`, sent when the address is verified. */
  private held: Buffer | undefined;
  /** The endpoint's admission slot (session LRU or half-open handshake list). */
  admission: ListNode<unknown> | undefined = undefined;

  /** Handshake reassembly; a shared, empty one once established. */
  private buffer = new ReassemblyBuffer();
  private nextRecvSeq = 0;
  /**
   * Our last flight, kept to send again, with when it was last sent and whether it ends the
   * handshake (the peer sends nothing after it). One object that goes with the flight, so that a
   * settled session keeps no field for it (a time in a field costs a heap number per association).
   */
  private flight: { items: FlightItem[]; final: boolean; sentAt: number } | undefined;
  /** The flight timer, only while a handshake runs (an established association keeps no timer). */
  private timer: RetransmitTimer | undefined;
  private queue: Promise<void> = DONE;
  /** Datagrams (and runExclusive tasks) waiting in `queue`. */
  private queued = 0;
  /**
   * The established session: its ID and master secret share the record keys' buffer
   * (RecordLayer.keepWithKeys), and the handshake's result is made from it when asked for, so
   * that an idle association keeps no result object and no Buffer views.
   */
  private kept: PackedSession | undefined;
  private keptResumed = false;
  /** Why the handshake failed or the association closed before it finished. */
  private failure: Error | undefined;
  /**
   * Made only when someone awaits the handshake (the client's connect); a server association
   * keeps no promise and no resolver closures.
   */
  private ready:
    | { promise: Promise<HandshakeResult>; resolve(r: HandshakeResult): void; reject(e: Error): void }
    | undefined;

  constructor(
    readonly opts: AssociationOptions,
    remote: PeerAddress,
  ) {
    super();
    // EventEmitter makes an empty dictionary for listeners in every instance (~180 bytes); an idle
    // server session usually has no listener at all. Node's EventEmitter takes `_events ===
    // undefined` as "none yet" and makes the dictionary with the first listener.
    (this as unknown as LazyEvents)._events = undefined;
    this.remote = remote;
    this.meter = opts.meter;
    this.records = new RecordLayer(opts.meter);
    this.transcript = new Transcript(opts.meter);
  }

  /** Resolves when the handshake completes; rejects with DtlsAlertError or DtlsTimeoutError. */
  handshakeDone(): Promise<HandshakeResult> {
    const done = this.result();
    if (done) return Promise.resolve(done);
    if (this.state === 'closed') return Promise.reject(this.failure ?? new Error('DTLS association closed'));
    if (!this.ready) {
      let resolve!: (r: HandshakeResult) => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<HandshakeResult>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.ready = { promise, resolve, reject };
    }
    return this.ready.promise;
  }

  private resolveReady(r: HandshakeResult): void {
    const ready = this.ready;
    this.ready = undefined;
    ready?.resolve(r);
  }

  private rejectReady(e: Error): void {
    this.failure ??= e;
    const ready = this.ready;
    this.ready = undefined;
    ready?.reject(e);
  }

  private flightTimer(): RetransmitTimer {
    this.timer ??= new RetransmitTimer(
      {
        initialMs: this.opts.retransmitInitialMs,
        maxMs: this.opts.retransmitMaxMs,
        maxRetransmits: this.opts.maxRetransmits,
      },
      () => this.resendFlight(),
      () => this.fail(new DtlsTimeoutError(`DTLS handshake with ${this.remote.address}:${this.remote.port} timed out`)),
    );
    return this.timer;
  }

  /** The handshake's result, made from the kept session (undefined before the handshake completed). */
  private result(): HandshakeResult | undefined {
    const s = this.kept;
    const suite = s && suiteByCode(s.cipherSuite);
    if (!s || !suite) return undefined;
    return { suite, identity: s.identity, resumed: this.keptResumed, session: s.unpack() };
  }

  /** An authenticated record arrived: the session is not idle (the endpoint's admission notes when). */
  private touch(): void {
    this.opts.host?.activity(this);
  }

  /**
   * Dropped by the endpoint's admission control: a session with close_notify (the peer learns it
   * must handshake again), a half-open handshake without a word, as on its time-out.
   */
  evict(reason: EvictionReason): void {
    if (this.state === 'established') {
      void this.close();
      return;
    }
    this.fail(
      new DtlsTimeoutError(`DTLS handshake with ${this.remote.address}:${this.remote.port} dropped (${reason})`),
    );
  }

  // --- DtlsConnection -------------------------------------------------------------------------

  get identity(): PeerIdentity {
    if (!this.kept) throw new Error('handshake not finished');
    return this.kept.identity;
  }
  get cipherSuite(): string {
    return this.kept ? (suiteByCode(this.kept.cipherSuite)?.name ?? '') : '';
  }
  get resumed(): boolean {
    return this.keptResumed;
  }
  /** A plain copy of the session (to resume it with `connect({ session })`), made on each call. */
  get session(): SessionState {
    if (!this.kept) throw new Error('handshake not finished');
    return this.kept.unpack();
  }

  get connectionIds(): { own: Buffer | undefined; peer: Buffer | undefined } {
    return { own: this.records.ownCid, peer: this.records.peerCid };
  }

  /** Sends one application_data record. */
  send(data: Buffer): void {
    if (this.state !== 'established') throw new Error(`DTLS connection is ${this.state}`);
    if (data.length > MAX_PLAINTEXT)
      throw new RangeError(`application data of ${data.length} bytes exceeds one record`);
    this.out(this.records.protect(ContentType.application_data, data));
  }

  /** Sends a datagram to the peer, within the budget of an unverified new address. */
  private out(d: Buffer): void {
    if (this.pathBudget < 0) {
      this.opts.host?.send(d, this.remote);
      return;
    }
    if (d.length <= this.pathBudget) {
      this.pathBudget -= d.length;
      this.opts.host?.send(d, this.remote);
      return;
    }
    this.held = d;
    this.opts.host?.addressLimited?.(this);
  }

  /** True while the peer's address changed and it has not sent an authenticated record from there since. */
  get addressPending(): boolean {
    return this.pathBudget >= 0;
  }

  /**
   * Records of one datagram carrying our Connection ID that came from `from`, which is not the
   * peer's address or is one not yet verified (RFC 9146 §6). An authenticated record newer than any
   * seen moves the association to `from`, with a send budget of the datagram's `bytes` until the
   * next authenticated record from there verifies it; an older one is processed but moves nothing.
   * Records that fail authentication or replay are dropped, so forged or replayed records never
   * move anything.
   */
  receiveFrom(records: DtlsRecord[], from: PeerAddress, bytes: number): void {
    const here = from.port === this.remote.port && from.address === this.remote.address;
    if (this.state !== 'established' || this.queued > 0) {
      // Only an established session moves; a handshake's records count only from its own address.
      if (here) void this.receive(records);
      return;
    }
    let movedNow = false;
    for (const rec of records) {
      if (this.state !== 'established') return;
      if (rec.cid === undefined) continue; // only a CID record may speak for the session from elsewhere
      try {
        const pt = this.open(rec);
        if (pt === undefined) continue;
        const atRemote = movedNow || (from.port === this.remote.port && from.address === this.remote.address);
        if (!atRemote) {
          if (this.records.lastAhead) {
            this.opts.host?.moved?.(this, from);
            this.remote.address = from.address;
            this.remote.port = from.port;
            this.remote.family = from.family;
            this.pathBudget = bytes;
            this.held = undefined;
            movedNow = true;
          }
        } else if (!movedNow && this.pathBudget >= 0) {
          this.pathBudget = -1;
          const h = this.held;
          this.held = undefined;
          if (h) this.opts.host?.send(h, this.remote);
        }
        this.onEstablishedRecord(rec, pt);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
    }
  }

  /** Sends close_notify (RFC 5246 §7.2.1) and closes. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'established') this.sendAlert(AlertLevel.warning, AlertDescription.close_notify);
    this.shutdown();
  }

  /** Closes without a word (idle timeout, endpoint shut down). */
  destroy(): void {
    this.shutdown();
  }

  // --- handshake host ---------------------------------------------------------------------------

  sendFlight(items: FlightItem[], final: boolean): void {
    // A handshake evicted while it awaited something (a PSK lookup) must not speak again.
    if (this.state === 'closed') return;
    this.flight = { items, final, sentAt: 0 };
    meterFlight(items, this.meter);
    this.transmitFlight();
    if (final) this.timer?.stop();
    else this.flightTimer().startFlight();
  }

  setNextRecvSeq(seq: number): void {
    this.nextRecvSeq = seq;
  }

  complete(result: HandshakeResult): void {
    if (this.state === 'closed') return;
    this.kept = this.records.keepWithKeys(result.session);
    this.keptResumed = result.resumed;
    this.state = 'established';
    this.timer?.stop();
    this.timer = undefined;
    this.buffer.clear();
    // An idle session should cost little memory: the handshake state is not needed any more, and
    // the flight kept for retransmission gets its own memory instead of pinning buffer pools.
    this.role = FINISHED;
    this.transcript.free();
    this.transcript = RELEASED_TRANSCRIPT;
    this.buffer = RELEASED_BUFFER;
    // Only the side that sent the final flight answers a repeated peer flight after completion; the
    // other side's last flight was acknowledged by the peer's final one (otherwise both would
    // answer each other's retransmissions forever).
    const f = this.flight;
    this.flight = f?.final
      ? { ...f, items: f.items.map((it) => (it.kind === 'handshake' ? { ...it, body: ownCopy(it.body) } : it)) }
      : undefined;
    // The last flight of a full handshake's server (and the client's in an abbreviated one) is kept:
    // it is sent again when the peer repeats its own last flight (RFC 6347 §4.2.4).
    if (this.ready) this.resolveReady(this.result() ?? result);
    this.opts.host?.established(this);
    if (this.listenerCount('established') > 0) this.emit('established', this.result() ?? result);
  }

  /**
   * The peer has had time to repeat its last flight: the flight kept to answer it is released
   * (RFC 6347 §4.2.4 lets the holder of the final flight discard it once the peer has moved on),
   * and with it the plaintext epoch's record state.
   */
  releaseFinalFlight(): void {
    if (this.state !== 'established') return;
    this.flight = undefined;
    // Nothing is left to send or answer at epoch 0: its record state goes too.
    this.records.dropPlaintextEpoch();
  }

  // --- input -----------------------------------------------------------------------------------

  /** True once the handshake completed (even if closed since). */
  get wasEstablished(): boolean {
    return this.kept !== undefined;
  }

  /** Runs `fn` in this association's input order; a thrown error ends the association. */
  runExclusive(fn: () => Step): Promise<void> {
    if (this.queued === 0) return this.settle(fn);
    this.queued++;
    this.queue = this.queue
      .then(fn)
      .catch((err) => this.fail(err as Error))
      .finally(() => {
        this.queued--;
      });
    return this.queue;
  }

  /**
   * Takes the records of one datagram, in arrival order behind any input still being processed
   * (a PSK lookup, a session-cache read or a certificate check may be async). With nothing
   * pending the datagram is processed at once, and only a step that really awaits something
   * costs a promise: none on the data path, few in a handshake.
   */
  receive(records: DtlsRecord[]): Promise<void> {
    if (this.queued === 0) {
      if (this.state === 'established') {
        this.processEstablished(records);
        return DONE;
      }
      return this.settle(() => this.process(records, 0));
    }
    return this.runExclusive(() => this.process(records, 0));
  }

  /** Runs `fn` now; if it goes async, later input queues behind it until it settles. */
  private settle(fn: () => Step): Promise<void> {
    let pending: Step;
    try {
      pending = fn();
    } catch (err) {
      this.fail(err as Error);
      return DONE;
    }
    if (!pending) return DONE;
    this.queued++;
    this.queue = pending
      .catch((err) => this.fail(err as Error))
      .finally(() => {
        this.queued--;
      });
    return this.queue;
  }

  /** The plaintext of `rec`, or undefined when it is dropped; throws when a dropped Finished ends the handshake. */
  private open(rec: DtlsRecord): Buffer | undefined {
    const pt = this.records.unprotect(rec);
    if (pt === undefined) {
      // A handshake record that fails authentication where our Finished is expected means the
      // keys differ (wrong PSK): end the handshake with bad_record_mac rather than time out.
      if (
        this.state === 'handshake' &&
        this.records.lastFailure === 'auth' &&
        rec.type === ContentType.handshake &&
        this.role?.awaitingFinished
      ) {
        throw new DtlsAlertError(AlertDescription.bad_record_mac, 'Finished did not authenticate (wrong key?)');
      }
      return undefined; // RFC 6347 §4.1.2.7: invalid records are dropped silently.
    }
    if (rec.epoch > 0) this.touch();
    return pt;
  }

  /** Handshake input from `records[from]` on; returns a promise only when a step awaits something. */
  private process(records: DtlsRecord[], from: number): Step {
    for (let i = from; i < records.length; i++) {
      if (this.state === 'closed') return;
      if (this.state === 'established') {
        // The handshake completed within this datagram: the rest takes the established path.
        this.processEstablished(i === 0 ? records : records.slice(i));
        return;
      }
      const rec = records[i];
      const pt = this.open(rec);
      if (pt === undefined) continue;
      const pending = this.onRecord(rec, pt);
      if (pending) return pending.then(() => this.process(records, i + 1));
    }
  }

  /** The established association's input: synchronous, and a thrown error ends the association. */
  private processEstablished(records: DtlsRecord[]): void {
    for (const rec of records) {
      if (this.state === 'closed') return;
      try {
        const pt = this.open(rec);
        if (pt === undefined) continue;
        this.onEstablishedRecord(rec, pt);
      } catch (err) {
        // Unauthenticated (epoch 0) input can be forged by anyone: ignore its errors.
        if (rec.epoch === 0) continue;
        this.fail(err as Error);
        return;
      }
    }
  }

  private onEstablishedRecord(rec: DtlsRecord, pt: Buffer): void {
    switch (rec.type) {
      case ContentType.application_data:
        if (rec.epoch > 0) this.emit('data', pt);
        return;
      case ContentType.handshake:
        this.takeHandshakeFragments(rec.epoch, pt);
        return;
      case ContentType.change_cipher_spec:
        parseChangeCipherSpec(pt);
        return;
      case ContentType.alert:
        this.onAlert(rec.epoch, pt);
        return;
    }
  }

  private onRecord(rec: DtlsRecord, pt: Buffer): Step {
    switch (rec.type) {
      case ContentType.handshake:
        this.takeHandshakeFragments(rec.epoch, pt);
        return this.drain();
      case ContentType.change_cipher_spec:
        parseChangeCipherSpec(pt);
        return;
      case ContentType.alert:
        return this.onAlert(rec.epoch, pt);
      case ContentType.application_data:
        if (rec.epoch > 0 && this.state === 'established') this.emit('data', pt);
        return;
    }
  }

  private onAlert(epoch: number, pt: Buffer): void {
    const alert = parseAlert(pt);
    if (this.state === 'established' && epoch === 0) return;
    if (alert.description === AlertDescription.close_notify) {
      if (this.state === 'established') {
        this.sendAlert(AlertLevel.warning, AlertDescription.close_notify);
        this.shutdown();
        return;
      }
    }
    if (alert.level === AlertLevel.fatal || alert.description === AlertDescription.close_notify) {
      this.fail(
        new DtlsAlertError(
          alert.description,
          `${this.remote.address}:${this.remote.port} sent ${alertName(alert.description)}`,
          {
            sent: false,
            level: alert.level,
          },
        ),
        false,
      );
    }
    // Other warnings (no_renegotiation, user_canceled …) are noted and ignored.
  }

  /** Files the handshake fragments of one record: into reassembly, or answered as a peer's retransmission. */
  private takeHandshakeFragments(epoch: number, pt: Buffer): void {
    const frags = parseHandshakeFragments(pt);
    for (const f of frags) {
      if (this.state === 'established') {
        // RFC 5746 §4.2/§4.4: we do not renegotiate; say so with a warning alert.
        if (epoch > 0 && (f.msgType === HandshakeType.client_hello || f.msgType === HandshakeType.hello_request)) {
          this.sendAlert(AlertLevel.warning, AlertDescription.no_renegotiation);
          continue;
        }
        if (f.messageSeq < this.nextRecvSeq) this.peerRetransmitted();
        continue;
      }
      if (f.messageSeq < this.nextRecvSeq && !this.role.waitingFirst) {
        this.peerRetransmitted();
        continue;
      }
      this.buffer.add(f, this.role.waitingFirst ? 0 : this.nextRecvSeq, epoch);
    }
  }

  /** Hands complete messages to the role in order; returns a promise only when the role awaits something. */
  private drain(): Step {
    if (this.state !== 'handshake') return;
    if (this.role.waitingFirst) {
      const picking = this.role.pickFirst?.(this.buffer);
      if (picking) return picking.then(() => this.drainAfterFirst());
      return this.drainAfterFirst();
    }
    return this.drainMessages();
  }

  private drainAfterFirst(): Step {
    if (this.role.waitingFirst && this.buffer.findComplete(HandshakeType.server_hello) === undefined) return;
    return this.drainMessages();
  }

  private drainMessages(): Step {
    for (;;) {
      if (this.state !== 'handshake') return;
      const m = this.buffer.take(this.nextRecvSeq);
      if (!m) return;
      this.nextRecvSeq++;
      this.meter?.handshakeMessage('in', handshakeTypeName(m.msgType), m.body.length);
      const pending = this.role.onMessage(m);
      if (pending) return pending.then(() => this.drainMessages());
    }
  }

  /** The peer sent its previous flight again: it lost ours, so send ours again (RFC 6347 §4.2.4). */
  private peerRetransmitted(): void {
    const gap = Math.max(20, this.opts.retransmitInitialMs / 4);
    if (this.flight && Date.now() - this.flight.sentAt >= gap) this.transmitFlight();
  }

  private resendFlight(): void {
    if (this.state === 'handshake' && this.flight) this.transmitFlight();
  }

  private transmitFlight(): void {
    const f = this.flight;
    if (!f) return;
    f.sentAt = Date.now();
    for (const d of flightDatagrams(f.items, this.records, this.opts.mtu)) this.out(d);
  }

  // --- failure and shutdown ----------------------------------------------------------------------

  private sendAlert(level: AlertLevel, description: AlertDescription): void {
    try {
      this.out(this.records.protect(ContentType.alert, encodeAlert({ level, description })));
    } catch {
      // Nothing more to do: the association is going away.
    }
  }

  /** Ends the association with an error; sends our fatal alert when `err` is one we raise. */
  fail(err: Error, mayAlert = true): void {
    if (this.state === 'closed') return;
    if (mayAlert && err instanceof DtlsAlertError && err.sent) this.sendAlert(AlertLevel.fatal, err.description);
    else if (mayAlert && !(err instanceof DtlsAlertError) && !(err instanceof DtlsTimeoutError)) {
      this.sendAlert(AlertLevel.fatal, AlertDescription.internal_error);
    }
    const wasEstablished = this.state === 'established';
    this.opts.logger?.debug({ peer: this.remote, err: err.message }, 'dtls association failed');
    this.rejectReady(err);
    this.shutdown(err, wasEstablished);
  }

  private shutdown(err?: Error, wasEstablished = this.state === 'established'): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.timer?.stop();
    this.timer = undefined;
    this.records.release();
    this.buffer.clear();
    this.flight = undefined;
    this.held = undefined;
    // An Error (with its stack) only when there is a failure to tell or someone awaits the handshake.
    if (err) this.rejectReady(err);
    else if (this.ready) this.rejectReady(new Error('DTLS association closed'));
    this.opts.host?.closed(this, err);
    if (err && wasEstablished && this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('closed', err);
    if (wasEstablished || this.kept) this.emit('close');
  }
}

/**
 * The message layer (RFC 7252 §4): reliability and deduplication between one transport and the
 * request/response layers above it, in the manner of aiocoap's message manager.
 *
 * - Confirmable messages are retransmitted with exponential back-off from a random initial timeout in
 *   [ACK_TIMEOUT, ACK_TIMEOUT × ACK_RANDOM_FACTOR] until acknowledged or reset, at most MAX_RETRANSMIT
 *   times (§4.2, §4.8); at most NSTART of them are outstanding per peer (§4.7).
 * - Received Confirmable and Non-confirmable messages are deduplicated by (peer, Message ID) for
 *   EXCHANGE_LIFETIME / NON_LIFETIME (§4.5): the ACK or Reset we sent is sent again for a duplicate
 *   Confirmable, and the message itself is handed up only once — a request is never executed twice.
 * - A request gets a piggybacked response when the handler answers quickly, otherwise an Empty ACK
 *   and later a separate response (§5.2.1, §5.2.2).
 * - An Empty Confirmable is a CoAP ping, answered with Reset (§4.3).
 * - Message IDs come from a keyed permutation of a counter, so that none repeats within 65536
 *   messages (§4.4) and yet a peer cannot predict the next one; tokens are random (§5.3.1).
 */
import type { Logger } from '../util/log.ts';
import { childLogger } from '../util/log.ts';
import { type Deadline, DeadlineQueue } from './deadlines.ts';
import { DedupTable } from './dedup.ts';
import { CoapCancelledError, CoapResetError, CoapTimeoutError } from './errors.ts';
import { type OutgoingMessage, ServerExchange } from './exchange.ts';

export type { OutgoingMessage } from './exchange.ts';

import { MessageIdSequence, randomToken } from './ids.ts';
import {
  type CoapMessage,
  decodeMessage,
  describeMessage,
  emptyAckFor,
  encodeMessage,
  isRequest,
  isResponse,
  resetFor,
} from './message.ts';
import { Code } from './options.ts';
import { peerKey, type Transport, type TransportPeer } from './transport.ts';

export { randomToken, ServerExchange };

/** RFC 7252 §4.8 transmission parameters (milliseconds where a time). */
export interface TransmissionParameters {
  /** ACK_TIMEOUT, default 2000 ms. */
  ackTimeout: number;
  /** ACK_RANDOM_FACTOR, default 1.5. */
  ackRandomFactor: number;
  /** MAX_RETRANSMIT, default 4. */
  maxRetransmit: number;
  /** NSTART: outstanding Confirmable messages per peer, default 1. */
  nstart: number;
  /** MAX_LATENCY, default 100 s. */
  maxLatency: number;
  /** PROCESSING_DELAY, default ACK_TIMEOUT. */
  processingDelay?: number;
  /**
   * How long a request handler may take before an Empty ACK is sent and the response follows as a
   * separate message (§5.2.2). Default ACK_TIMEOUT / 2, so that the client does not retransmit.
   */
  separateResponseAfter?: number;
  /** Bound on remembered message IDs for deduplication (oldest are forgotten first). Default 200 000. */
  maxDedupEntries: number;
}

export const DEFAULT_PARAMETERS: TransmissionParameters = {
  ackTimeout: 2000,
  ackRandomFactor: 1.5,
  maxRetransmit: 4,
  nstart: 1,
  maxLatency: 100_000,
  maxDedupEntries: 200_000,
};

/** §4.8.2 derived times. */
export function derivedTimes(p: TransmissionParameters): {
  maxTransmitSpan: number;
  maxTransmitWait: number;
  exchangeLifetime: number;
  nonLifetime: number;
} {
  const maxTransmitSpan = p.ackTimeout * (2 ** p.maxRetransmit - 1) * p.ackRandomFactor;
  const maxTransmitWait = p.ackTimeout * (2 ** (p.maxRetransmit + 1) - 1) * p.ackRandomFactor;
  const processingDelay = p.processingDelay ?? p.ackTimeout;
  return {
    maxTransmitSpan,
    maxTransmitWait,
    exchangeLifetime: maxTransmitSpan + 2 * p.maxLatency + processingDelay,
    nonLifetime: maxTransmitSpan + p.maxLatency,
  };
}

/** §4.8.2 derived times of the given parameters, the defaults filling in the ones not given. */
export function derivedTimesOf(params: Partial<TransmissionParameters>): ReturnType<typeof derivedTimes> {
  return derivedTimes({ ...DEFAULT_PARAMETERS, ...params });
}

/** An outstanding Confirmable message. */
export interface ConfirmableHandle {
  readonly messageId: number;
  /** Resolves with the ACK (which carries a piggybacked response when its code is not Empty). */
  readonly acknowledged: Promise<CoapMessage>;
  /** Stops retransmitting; `acknowledged` rejects with CoapCancelledError. */
  cancel(): void;
}

/**
 * What the layer keeps per peer endpoint: its NSTART accounting and a numeric id that keys the
 * deduplication and outstanding tables (`id × 2^17 + …`), so that no string is built per datagram.
 * It lives while anything refers to it (dedup entries, Confirmables, remembered NONs).
 */
interface PeerState {
  readonly id: number;
  readonly address: string;
  readonly port: number;
  refs: number;
  /** Confirmables on the wire (NSTART, §4.7). */
  outstanding: number;
  /** Confirmables waiting for a free NSTART slot, in order. */
  waiting: Array<() => void>;
}

interface Outstanding {
  messageId: number;
  peer: { address: string; port: number };
  state: PeerState;
  key: number;
  datagram: Buffer;
  timeout: number;
  retransmissions: number;
  deadline?: Deadline;
  resolve(m: CoapMessage): void;
  reject(e: Error): void;
}

interface SentNon {
  peer: PeerState;
  expires: number;
  onReset: () => void;
}

/** Counters for tests, logs and benchmarks. */
export interface MessageLayerStats {
  sent: number;
  received: number;
  retransmitted: number;
  duplicates: number;
  malformed: number;
  timeouts: number;
  /** Dedup entries forgotten before their lifetime because the table was full (`maxDedupEntries`). */
  dedupEvicted: number;
  /** Duplicate Confirmables ignored because their cached reply had been overwritten (see dedup.ts). */
  dedupRepliesLost: number;
}

export type RequestListener = (exchange: ServerExchange) => void;
/**
 * Receives a separate response (or notification) that arrived as CON or NON. Returns true when it
 * belongs to a known request: the layer then ACKs a Confirmable; otherwise it answers Reset (§4.2,
 * §4.3; RFC 7641 §3.6 relies on this to end observations a client forgot).
 */
export type ResponseListener = (message: CoapMessage, peer: TransportPeer) => boolean;

export interface MessageLayerOptions {
  params?: Partial<TransmissionParameters>;
  logger?: Logger;
}

/** Key of one of our Confirmables or NONs: peer id and Message ID. */
const sentKey = (peer: PeerState, mid: number): number => peer.id * 0x10000 + mid;

export class MessageLayer {
  readonly params: TransmissionParameters;
  readonly stats: MessageLayerStats = {
    sent: 0,
    received: 0,
    retransmitted: 0,
    duplicates: 0,
    malformed: 0,
    timeouts: 0,
    dedupEvicted: 0,
    dedupRepliesLost: 0,
  };
  private readonly log: Logger;
  private readonly ids = new MessageIdSequence();
  private readonly exchangeLifetime: number;
  private readonly nonLifetime: number;
  private readonly separateAfter: number;
  /** Peer endpoints by address, then port. */
  private readonly peers = new Map<string, Map<number, PeerState>>();
  private nextPeerId = 1;
  /** Received CON and NON by (peer, Message ID), each for its lifetime (§4.5). */
  private readonly seenCon: DedupTable<PeerState>;
  private readonly seenNon: DedupTable<PeerState>;
  /** Our outstanding Confirmables by {@link sentKey}. */
  private readonly outstanding = new Map<number, Outstanding>();
  /** Our recent Non-confirmables by {@link sentKey}, so that a Reset to one reaches its sender. */
  private readonly sentNon = new Map<number, SentNon>();
  /** Retransmissions and separate-response delays. */
  private readonly deadlines = new DeadlineQueue();
  private requestListener?: RequestListener;
  private responseListener?: ResponseListener;
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(
    readonly transport: Transport,
    opts: MessageLayerOptions = {},
  ) {
    this.params = { ...DEFAULT_PARAMETERS, ...opts.params };
    const d = derivedTimes(this.params);
    this.exchangeLifetime = d.exchangeLifetime;
    this.nonLifetime = d.nonLifetime;
    this.separateAfter = this.params.separateResponseAfter ?? this.params.ackTimeout / 2;
    this.log = opts.logger ?? childLogger('coap.messaging');
    const forget = (p: PeerState) => this.unref(p);
    this.seenCon = new DedupTable(this.params.maxDedupEntries, this.exchangeLifetime, forget);
    this.seenNon = new DedupTable(this.params.maxDedupEntries, this.nonLifetime, forget);
    transport.onDatagram((datagram, peer) => this.receive(datagram, peer));
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  onRequest(listener: RequestListener): void {
    this.requestListener = listener;
  }

  onResponse(listener: ResponseListener): void {
    this.responseListener = listener;
  }

  nextMessageId(): number {
    return this.ids.next();
  }

  /** Peer endpoints the layer holds state for (dedup entries, Confirmables, NONs). */
  get peerCount(): number {
    let n = 0;
    for (const ports of this.peers.values()) n += ports.size;
    return n;
  }

  /** @internal Used by {@link ServerExchange}. */
  cancelDeadline(d: Deadline): void {
    this.deadlines.cancel(d);
  }

  private peerState(address: string, port: number): PeerState {
    let ports = this.peers.get(address);
    if (ports === undefined) {
      ports = new Map();
      this.peers.set(address, ports);
    }
    let p = ports.get(port);
    if (p === undefined) {
      p = { id: this.nextPeerId++, address, port, refs: 0, outstanding: 0, waiting: [] };
      ports.set(port, p);
    }
    return p;
  }

  private lookupPeer(address: string, port: number): PeerState | undefined {
    return this.peers.get(address)?.get(port);
  }

  private unref(p: PeerState): void {
    p.refs--;
    this.dropIfUnused(p);
  }

  private dropIfUnused(p: PeerState): void {
    if (p.refs > 0) return;
    const ports = this.peers.get(p.address);
    if (ports?.get(p.port) === p) {
      ports.delete(p.port);
      if (ports.size === 0) this.peers.delete(p.address);
    }
  }

  /** Sends an already encoded datagram (ACK/RST replies). */
  sendRaw(datagram: Buffer, peer: { address: string; port: number }): void {
    if (this.closed) return;
    this.stats.sent++;
    try {
      const r = this.transport.send(datagram, peer);
      if (r !== undefined) r.catch((err: unknown) => this.log.debug({ err }, 'send failed'));
    } catch (err) {
      this.log.debug({ err }, 'send failed');
    }
  }

  /** Sends a Non-confirmable message; `onReset` runs if the peer answers it with Reset. */
  sendNonConfirmable(m: OutgoingMessage, peer: { address: string; port: number }, onReset?: () => void): number {
    const messageId = this.ids.next();
    const datagram = encodeOutgoing('NON', messageId, m);
    if (onReset && !this.closed) {
      const state = this.peerState(peer.address, peer.port);
      const key = sentKey(state, messageId);
      const old = this.sentNon.get(key);
      if (old) this.forgetNon(key, old);
      state.refs++;
      this.sentNon.set(key, { peer: state, expires: Date.now() + this.nonLifetime, onReset });
      // Bounded like the deduplication tables: a Reset to a long-forgotten NON is then ignored.
      if (this.sentNon.size > this.params.maxDedupEntries) {
        const oldest = this.sentNon.entries().next().value;
        if (oldest !== undefined) this.forgetNon(oldest[0], oldest[1]);
      }
    }
    this.sendRaw(datagram, peer);
    return messageId;
  }

  private forgetNon(key: number, non: SentNon): void {
    this.sentNon.delete(key);
    this.unref(non.peer);
  }

  /** Sends a Confirmable message with retransmission, queued behind NSTART outstanding ones to the peer. */
  sendConfirmable(m: OutgoingMessage, peer: { address: string; port: number }): ConfirmableHandle {
    const messageId = this.ids.next();
    const datagram = encodeOutgoing('CON', messageId, m);
    const state = this.peerState(peer.address, peer.port);
    const key = sentKey(state, messageId);
    state.refs++;
    let cancelled = false;
    let started = false;
    let settled = false;
    let out: Outstanding | undefined;
    let rejectEarly: ((e: Error) => void) | undefined;
    const acknowledged = new Promise<CoapMessage>((resolve, reject) => {
      rejectEarly = (e) => {
        if (settled) return;
        settled = true;
        this.unref(state);
        reject(e);
      };
      const start = () => {
        if (cancelled || this.closed) {
          this.release(state);
          rejectEarly?.(new CoapCancelledError(this.closed ? 'message layer closed' : undefined));
          return;
        }
        started = true;
        const p = this.params;
        const o: Outstanding = {
          messageId,
          peer,
          state,
          key,
          datagram,
          // §4.2: initial timeout random between ACK_TIMEOUT and ACK_TIMEOUT * ACK_RANDOM_FACTOR.
          timeout: p.ackTimeout * (1 + Math.random() * (p.ackRandomFactor - 1)),
          retransmissions: 0,
          resolve: (msg) => {
            this.finish(o);
            settled = true;
            resolve(msg);
          },
          reject: (e) => {
            this.finish(o);
            settled = true;
            reject(e);
          },
        };
        out = o;
        this.outstanding.set(key, o);
        this.sendRaw(datagram, peer);
        this.arm(o);
      };
      if (state.outstanding < this.params.nstart) {
        state.outstanding++;
        start();
      } else {
        state.waiting.push(() => {
          state.outstanding++;
          start();
        });
      }
    });
    return {
      messageId,
      acknowledged,
      cancel: () => {
        if (cancelled) return;
        cancelled = true;
        if (started && out && this.outstanding.get(key) === out) out.reject(new CoapCancelledError());
        else if (!started) rejectEarly?.(new CoapCancelledError());
      },
    };
  }

  /** Frees an NSTART slot of the peer and starts the next waiting Confirmable. */
  private release(state: PeerState): void {
    state.outstanding--;
    const next = state.waiting.shift();
    if (next) next();
  }

  private arm(out: Outstanding): void {
    out.deadline = this.deadlines.add(Date.now() + out.timeout, () => this.expire(out));
  }

  private expire(out: Outstanding): void {
    if (this.outstanding.get(out.key) !== out) return;
    if (out.retransmissions >= this.params.maxRetransmit) {
      this.stats.timeouts++;
      out.reject(
        new CoapTimeoutError(`no ACK for message ${out.messageId} after ${out.retransmissions} retransmissions`),
      );
      return;
    }
    out.retransmissions++;
    out.timeout *= 2;
    this.stats.retransmitted++;
    this.sendRaw(out.datagram, out.peer);
    this.arm(out);
  }

  private finish(out: Outstanding): void {
    if (out.deadline) this.deadlines.cancel(out.deadline);
    if (this.outstanding.get(out.key) === out) {
      this.outstanding.delete(out.key);
      this.release(out.state);
      this.unref(out.state);
    }
  }

  /** Entry point for every datagram from the transport. Never throws. */
  receive(datagram: Buffer, peer: TransportPeer): void {
    if (this.closed) return;
    this.stats.received++;
    const r = decodeMessage(datagram);
    if (!r.ok) {
      this.stats.malformed++;
      this.log.debug({ peer: peerKey(peer), error: r.error }, 'malformed message');
      // §4.2: a Confirmable with a message format error is rejected; everything else is ignored.
      if (r.reaction === 'reset' && r.header) this.sendRaw(encodeMessage(resetFor(r.header.messageId)), peer);
      return;
    }
    const m = r.message;
    if (this.log.isLevelEnabled('trace')) this.log.trace({ peer: peerKey(peer) }, `recv ${describeMessage(m)}`);
    try {
      if (m.type === 'ACK' || m.type === 'RST') this.receiveReply(m, peer);
      else this.receiveMessage(m, peer);
    } catch (err) {
      // A bug above us must not take the endpoint down with it.
      this.log.error({ err }, 'error while handling a CoAP message');
    }
  }

  private receiveReply(m: CoapMessage, peer: TransportPeer): void {
    const state = this.lookupPeer(peer.address, peer.port);
    if (state === undefined) return;
    const key = sentKey(state, m.messageId);
    if (m.type === 'RST') {
      // §4.2: a Reset is always Empty; anything else is silently ignored.
      if (m.code !== Code.Empty) return;
      const out = this.outstanding.get(key);
      if (out) {
        out.reject(new CoapResetError());
        return;
      }
      const non = this.sentNon.get(key);
      if (non) {
        this.forgetNon(key, non);
        non.onReset();
      }
      return;
    }
    // ACK: Empty or carrying a response; an ACK carrying a request is a format error, ignored (§4.2).
    if (isRequest(m)) return;
    const out = this.outstanding.get(key);
    if (out) out.resolve(m);
  }

  private receiveMessage(m: CoapMessage, peer: TransportPeer): void {
    const con = m.type === 'CON';
    const state = this.peerState(peer.address, peer.port);
    const table = con ? this.seenCon : this.seenNon;
    const seen = table.find(state.id, m.messageId);
    if (seen >= 0) {
      this.stats.duplicates++;
      // §4.5: acknowledge each duplicate Confirmable the same way, process it only once.
      if (con) {
        const reply = table.reply(seen);
        if (reply) this.sendRaw(reply, peer);
        else this.stats.dedupRepliesLost = this.seenCon.stats.repliesLost;
      }
      return;
    }
    if (m.code === Code.Empty) {
      // §4.3: an Empty Confirmable is a ping, answered with Reset; an Empty NON is ignored.
      if (con) {
        const slot = this.remember(table, state, m.messageId);
        this.sendReply(m, slot, table.serialOf(slot), encodeMessage(resetFor(m.messageId)), peer);
      } else {
        this.dropIfUnused(state);
      }
      return;
    }
    const slot = this.remember(table, state, m.messageId);
    const serial = table.serialOf(slot);
    if (isResponse(m)) {
      const matched = this.responseListener?.(m, peer) ?? false;
      if (con) {
        this.sendReply(
          m,
          slot,
          serial,
          encodeMessage(matched ? emptyAckFor(m.messageId) : resetFor(m.messageId)),
          peer,
        );
      } else if (!matched) {
        this.sendRaw(encodeMessage(resetFor(m.messageId)), peer);
      }
      return;
    }
    if (isRequest(m)) {
      const ex = new ServerExchange(this, m, peer, slot, serial);
      if (this.requestListener) this.requestListener(ex);
      else if (con) ex.reject();
      // A handler that did not answer at once gets an Empty ACK after a while (§5.2.2), so that
      // the client does not retransmit; the response then follows as a separate one.
      if (con && !ex.isAnswered && !this.closed) {
        ex.separateAfter = this.deadlines.add(Date.now() + this.separateAfter, () => ex.acceptEmpty());
      }
      return;
    }
    // Class 2..5 codes are responses and 0.xx requests; what remains cannot be processed: §4.2/§4.3.
    if (con) this.sendReply(m, slot, serial, encodeMessage(resetFor(m.messageId)), peer);
  }

  /** @internal Sends the ACK or Reset for a received message and keeps it for its duplicates (§4.5). */
  sendReply(m: CoapMessage, slot: number, serial: number, reply: Buffer, peer: TransportPeer): void {
    // Only a Confirmable's reply is sent again; a NON's duplicates are silently dropped.
    if (m.type === 'CON') this.seenCon.setReply(slot, serial, reply);
    this.sendRaw(reply, peer);
  }

  private remember(table: DedupTable<PeerState>, peer: PeerState, mid: number): number {
    const before = table.stats.evicted;
    // The reference is taken first: the eviction add() may do could otherwise drop this very peer.
    peer.refs++;
    const slot = table.add(peer, mid, Date.now());
    if (slot < 0) this.unref(peer);
    this.stats.dedupEvicted += table.stats.evicted - before;
    return slot;
  }

  private sweep(): void {
    const now = Date.now();
    this.seenCon.sweep(now);
    this.seenNon.sweep(now);
    for (const [k, e] of this.sentNon) {
      if (e.expires > now) break;
      this.forgetNon(k, e);
    }
  }

  /** Sends a CoAP ping (Empty CON, §4.3) and resolves true when the peer answers with Reset. */
  async ping(peer: { address: string; port: number }): Promise<boolean> {
    const h = this.sendConfirmable({ code: Code.Empty, token: EMPTY, options: [], payload: EMPTY }, peer);
    try {
      await h.acknowledged;
      return true; // An Empty ACK also proves liveness.
    } catch (err) {
      if (err instanceof CoapResetError) return true;
      throw err;
    }
  }

  /** Stops timers and fails outstanding Confirmables; the transport stays with its owner. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const out of [...this.outstanding.values()]) out.reject(new CoapCancelledError('message layer closed'));
    for (const ports of [...this.peers.values()])
      for (const p of [...ports.values()]) for (const start of p.waiting.splice(0)) start();
    this.deadlines.close();
    clearInterval(this.sweeper);
  }
}

const EMPTY = Buffer.alloc(0);

/** `m` as one datagram: the type and Message ID are the message layer's to give. */
function encodeOutgoing(type: 'CON' | 'NON', messageId: number, m: OutgoingMessage): Buffer {
  return encodeMessage({ type, code: m.code, messageId, token: m.token, options: m.options, payload: m.payload });
}

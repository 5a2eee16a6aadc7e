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
import { randomBytes, randomInt } from 'node:crypto';
import type { Logger } from '../util/log.ts';
import { childLogger } from '../util/log.ts';
import { CoapCancelledError, CoapResetError, CoapTimeoutError } from './errors.ts';
import {
  type CoapMessage,
  type CoapOption,
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

/** Content of an outgoing message; the layer fills in type and Message ID. */
export interface OutgoingMessage {
  code: number;
  token: Buffer;
  options: CoapOption[];
  payload: Buffer;
}

/** An outstanding Confirmable message. */
export interface ConfirmableHandle {
  readonly messageId: number;
  /** Resolves with the ACK (which carries a piggybacked response when its code is not Empty). */
  readonly acknowledged: Promise<CoapMessage>;
  /** Stops retransmitting; `acknowledged` rejects with CoapCancelledError. */
  cancel(): void;
}

/** A received request and the means to answer it exactly once. */
export class ServerExchange {
  private answered = false;
  private acked = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly layer: MessageLayer,
    readonly request: CoapMessage,
    readonly peer: TransportPeer,
    private readonly entry: DedupEntry,
    separateAfter: number,
  ) {
    if (request.type === 'CON') {
      this.timer = setTimeout(() => this.acceptEmpty(), separateAfter);
      this.timer.unref?.();
    }
  }

  get isAnswered(): boolean {
    return this.answered;
  }

  /**
   * Sends an Empty ACK now, so that the response becomes a separate one (§5.2.2). Called
   * automatically when the handler is slow.
   */
  acceptEmpty(): void {
    if (this.answered || this.acked || this.request.type !== 'CON') return;
    this.acked = true;
    const ack = encodeMessage(emptyAckFor(this.request.messageId));
    this.entry.reply = ack;
    this.layer.sendRaw(ack, this.peer);
  }

  /**
   * Sends the response: piggybacked in the ACK when the request was Confirmable and not yet
   * acknowledged, as a separate Confirmable after an Empty ACK, and as a Non-confirmable for a
   * Non-confirmable request (§5.2). Later calls are ignored.
   */
  respond(response: OutgoingMessage): void {
    if (this.answered) return;
    this.answered = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.request.type === 'CON' && !this.acked) {
      this.acked = true;
      const ack = encodeMessage({ type: 'ACK', messageId: this.request.messageId, ...response });
      this.entry.reply = ack;
      this.layer.sendRaw(ack, this.peer);
    } else if (this.request.type === 'CON') {
      // §5.2.2: the separate response is Confirmable (it may be lost; the client cannot ask again).
      this.layer.sendConfirmable(response, this.peer).acknowledged.catch(() => {});
    } else {
      this.layer.sendNonConfirmable(response, this.peer);
    }
  }

  /** Rejects the request with a Reset (a Confirmable we cannot process at all, §4.2). */
  reject(): void {
    if (this.answered) return;
    this.answered = true;
    if (this.timer) clearTimeout(this.timer);
    const rst = encodeMessage(resetFor(this.request.messageId));
    this.entry.reply = rst;
    this.layer.sendRaw(rst, this.peer);
  }

  /** Answers nothing (a Non-confirmable that needs no response). */
  drop(): void {
    this.answered = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

interface DedupEntry {
  expires: number;
  /** The ACK or RST we sent, to send again for a duplicate Confirmable. */
  reply?: Buffer;
}

interface Outstanding {
  messageId: number;
  peer: { address: string; port: number };
  key: string;
  datagram: Buffer;
  timeout: number;
  retransmissions: number;
  timer?: NodeJS.Timeout;
  resolve(m: CoapMessage): void;
  reject(e: Error): void;
}

interface PeerQueue {
  outstanding: number;
  waiting: Array<() => void>;
}

/** Counters for tests, logs and benchmarks. */
export interface MessageLayerStats {
  sent: number;
  received: number;
  retransmitted: number;
  duplicates: number;
  malformed: number;
  timeouts: number;
}

export type RequestListener = (exchange: ServerExchange) => void;
/**
 * Receives a separate response (or notification) that arrived as CON or NON. Returns true when it
 * belongs to a known request: the layer then ACKs a Confirmable; otherwise it answers Reset (§4.2,
 * §4.3; RFC 7641 §3.6 relies on this to end observations a client forgot).
 */
export type ResponseListener = (message: CoapMessage, peer: TransportPeer) => boolean;

/** A 16-bit keyed permutation (4-round Feistel on bytes with random S-boxes). */
class MessageIdSequence {
  private counter = randomInt(0, 0x10000);
  private readonly sboxes: Uint8Array[] = [];
  constructor() {
    for (let r = 0; r < 4; r++) this.sboxes.push(new Uint8Array(randomBytes(256)));
  }
  next(): number {
    this.counter = (this.counter + 1) & 0xffff;
    let l = this.counter >> 8;
    let r = this.counter & 0xff;
    for (const s of this.sboxes) {
      const t = l ^ s[r];
      l = r;
      r = t;
    }
    return (l << 8) | r;
  }
}

/** Random bytes drawn from a pool refilled by crypto.randomBytes (one syscall per 4 KiB). */
class RandomPool {
  private pool = randomBytes(4096);
  private off = 0;
  take(n: number): Buffer {
    if (this.off + n > this.pool.length) {
      this.pool = randomBytes(4096);
      this.off = 0;
    }
    const out = Buffer.from(this.pool.subarray(this.off, this.off + n));
    this.off += n;
    return out;
  }
}

const randomPool = new RandomPool();

/** A fresh token of `length` (default 8) random bytes (RFC 7252 §5.3.1). */
export function randomToken(length = 8): Buffer {
  return randomPool.take(length);
}

export interface MessageLayerOptions {
  params?: Partial<TransmissionParameters>;
  logger?: Logger;
}

export class MessageLayer {
  readonly params: TransmissionParameters;
  readonly stats: MessageLayerStats = {
    sent: 0,
    received: 0,
    retransmitted: 0,
    duplicates: 0,
    malformed: 0,
    timeouts: 0,
  };
  private readonly log: Logger;
  private readonly ids = new MessageIdSequence();
  private readonly exchangeLifetime: number;
  private readonly nonLifetime: number;
  private readonly separateAfter: number;
  /** Received CON by peer|mid. Insertion order ≈ expiry order, so the sweep stops at the first live one. */
  private readonly seenCon = new Map<string, DedupEntry>();
  private readonly seenNon = new Map<string, DedupEntry>();
  /** Our outstanding Confirmables by peer|mid. */
  private readonly outstanding = new Map<string, Outstanding>();
  /** Our recent Non-confirmables by peer|mid, so that a Reset to one reaches its sender. */
  private readonly sentNon = new Map<string, { expires: number; onReset: () => void }>();
  private readonly queues = new Map<string, PeerQueue>();
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

  /** Sends an already encoded datagram (ACK/RST replies). */
  sendRaw(datagram: Buffer, peer: { address: string; port: number }): void {
    if (this.closed) return;
    this.stats.sent++;
    try {
      const r = this.transport.send(datagram, peer);
      if (r && typeof (r as Promise<void>).catch === 'function') {
        (r as Promise<void>).catch((err: unknown) => this.log.debug({ err }, 'send failed'));
      }
    } catch (err) {
      this.log.debug({ err }, 'send failed');
    }
  }

  /** Sends a Non-confirmable message; `onReset` runs if the peer answers it with Reset. */
  sendNonConfirmable(m: OutgoingMessage, peer: { address: string; port: number }, onReset?: () => void): number {
    const messageId = this.ids.next();
    const datagram = encodeMessage({ type: 'NON', messageId, ...m });
    if (onReset) {
      this.sentNon.set(`${peerKey(peer)}|${messageId}`, { expires: Date.now() + this.nonLifetime, onReset });
      // Bounded like the deduplication tables: a Reset to a long-forgotten NON is then ignored.
      if (this.sentNon.size > this.params.maxDedupEntries) {
        const oldest = this.sentNon.keys().next().value;
        if (oldest !== undefined) this.sentNon.delete(oldest);
      }
    }
    this.sendRaw(datagram, peer);
    return messageId;
  }

  /** Sends a Confirmable message with retransmission, queued behind NSTART outstanding ones to the peer. */
  sendConfirmable(m: OutgoingMessage, peer: { address: string; port: number }): ConfirmableHandle {
    const messageId = this.ids.next();
    const pk = peerKey(peer);
    const key = `${pk}|${messageId}`;
    const datagram = encodeMessage({ type: 'CON', messageId, ...m });
    let cancelled = false;
    let started = false;
    let out: Outstanding | undefined;
    let rejectEarly: ((e: Error) => void) | undefined;
    const acknowledged = new Promise<CoapMessage>((resolve, reject) => {
      rejectEarly = reject;
      const start = () => {
        if (cancelled || this.closed) {
          this.release(pk);
          reject(new CoapCancelledError(this.closed ? 'message layer closed' : undefined));
          return;
        }
        started = true;
        const p = this.params;
        out = {
          messageId,
          peer,
          key,
          datagram,
          // §4.2: initial timeout random between ACK_TIMEOUT and ACK_TIMEOUT * ACK_RANDOM_FACTOR.
          timeout: p.ackTimeout * (1 + Math.random() * (p.ackRandomFactor - 1)),
          retransmissions: 0,
          resolve: (msg) => {
            this.finish(out!);
            resolve(msg);
          },
          reject: (e) => {
            this.finish(out!);
            reject(e);
          },
        };
        this.outstanding.set(key, out);
        this.sendRaw(datagram, peer);
        this.arm(out);
      };
      const q = this.queue(pk);
      if (q.outstanding < this.params.nstart) {
        q.outstanding++;
        start();
      } else {
        q.waiting.push(() => {
          q.outstanding++;
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

  private queue(pk: string): PeerQueue {
    let q = this.queues.get(pk);
    if (!q) {
      q = { outstanding: 0, waiting: [] };
      this.queues.set(pk, q);
    }
    return q;
  }

  private release(pk: string): void {
    const q = this.queues.get(pk);
    if (!q) return;
    q.outstanding--;
    const next = q.waiting.shift();
    if (next) next();
    else if (q.outstanding <= 0) this.queues.delete(pk);
  }

  private arm(out: Outstanding): void {
    out.timer = setTimeout(() => {
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
    }, out.timeout);
  }

  private finish(out: Outstanding): void {
    if (out.timer) clearTimeout(out.timer);
    if (this.outstanding.get(out.key) === out) {
      this.outstanding.delete(out.key);
      this.release(peerKey(out.peer));
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
      switch (m.type) {
        case 'ACK':
        case 'RST':
          this.receiveReply(m, peer);
          return;
        case 'CON':
        case 'NON':
          this.receiveMessage(m, peer);
          return;
      }
    } catch (err) {
      // A bug above us must not take the endpoint down with it.
      this.log.error({ err }, 'error while handling a CoAP message');
    }
  }

  private receiveReply(m: CoapMessage, peer: TransportPeer): void {
    const key = `${peerKey(peer)}|${m.messageId}`;
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
        this.sentNon.delete(key);
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
    const pk = peerKey(peer);
    const key = `${pk}|${m.messageId}`;
    const table = m.type === 'CON' ? this.seenCon : this.seenNon;
    const seen = table.get(key);
    if (seen) {
      this.stats.duplicates++;
      // §4.5: acknowledge each duplicate Confirmable the same way, process it only once.
      if (m.type === 'CON' && seen.reply) this.sendRaw(seen.reply, peer);
      return;
    }
    if (m.code === Code.Empty) {
      // §4.3: an Empty Confirmable is a ping, answered with Reset; an Empty NON is ignored.
      if (m.type === 'CON') {
        const rst = encodeMessage(resetFor(m.messageId));
        this.remember(table, key, m.type, rst);
        this.sendRaw(rst, peer);
      }
      return;
    }
    const entry = this.remember(table, key, m.type);
    if (isResponse(m)) {
      const matched = this.responseListener?.(m, peer) ?? false;
      if (m.type === 'CON') {
        entry.reply = encodeMessage(matched ? emptyAckFor(m.messageId) : resetFor(m.messageId));
        this.sendRaw(entry.reply, peer);
      } else if (!matched) {
        this.sendRaw(encodeMessage(resetFor(m.messageId)), peer);
      }
      return;
    }
    if (isRequest(m)) {
      const ex = new ServerExchange(this, m, peer, entry, this.separateAfter);
      if (this.requestListener) this.requestListener(ex);
      else if (m.type === 'CON') ex.reject();
      return;
    }
    // Class 2..5 codes are responses and 0.xx requests; what remains cannot be processed: §4.2/§4.3.
    if (m.type === 'CON') {
      entry.reply = encodeMessage(resetFor(m.messageId));
      this.sendRaw(entry.reply, peer);
    }
  }

  private remember(table: Map<string, DedupEntry>, key: string, type: string, reply?: Buffer): DedupEntry {
    const entry: DedupEntry = {
      expires: Date.now() + (type === 'CON' ? this.exchangeLifetime : this.nonLifetime),
      reply,
    };
    table.set(key, entry);
    if (table.size > this.params.maxDedupEntries) {
      const oldest = table.keys().next().value;
      if (oldest !== undefined) table.delete(oldest);
    }
    return entry;
  }

  private sweep(): void {
    const now = Date.now();
    for (const table of [this.seenCon, this.seenNon]) {
      for (const [k, e] of table) {
        if (e.expires > now) break;
        table.delete(k);
      }
    }
    for (const [k, e] of this.sentNon) {
      if (e.expires > now) break;
      this.sentNon.delete(k);
    }
  }

  /** Sends a CoAP ping (Empty CON, §4.3) and resolves true when the peer answers with Reset. */
  async ping(peer: { address: string; port: number }): Promise<boolean> {
    const h = this.sendConfirmable(
      { code: Code.Empty, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) },
      peer,
    );
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
    for (const q of [...this.queues.values()]) for (const start of q.waiting.splice(0)) start();
    clearInterval(this.sweeper);
  }
}

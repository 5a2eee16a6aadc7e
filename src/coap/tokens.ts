/**
 * The token layer between the message layer and the client, in the manner of aiocoap's token
 * manager: it sends a request as CON or NON and matches what comes back to it by (peer, token)
 * (RFC 7252 §5.3.2) — a response piggybacked in the ACK, a separate response after an Empty ACK
 * (§5.2.2), or the response to a NON — and keeps a token registered for the notifications of an
 * observation (RFC 7641 §3). One per message layer; the client's block-wise and observe logic sit
 * on top of it.
 */
import { CoapError, CoapTimeoutError } from './errors.ts';
import { type CoapMessage, type CoapOption, checkOptions } from './message.ts';
import type { MessageLayer } from './messaging.ts';
import { Code } from './options.ts';
import { peerKey, type TransportPeer } from './transport.ts';

/** Receives the responses (and notifications) that carry a registered token. */
export type TokenListener = (m: CoapMessage, peer: TransportPeer) => void;

export interface TokenManagerOptions {
  /** How long to wait for a separate response after an Empty ACK, ms. */
  responseTimeout: number;
  /** How long to wait for the response to a Non-confirmable request, ms. */
  nonTimeout: number;
}

/** The content of a request; the token layer adds the token, the message layer type and Message ID. */
export interface RequestContent {
  code: number;
  options: CoapOption[];
  payload: Buffer;
}

export class TokenManager {
  /** Listeners by peer ("address|port"), then token (hex). */
  private readonly listeners = new Map<string, Map<string, TokenListener>>();
  /** How to fail each exchange awaiting a response, by peer ("address|port"). */
  private readonly pending = new Map<string, Set<(err: Error) => void>>();

  constructor(
    readonly layer: MessageLayer,
    private readonly opts: TokenManagerOptions,
  ) {
    layer.onResponse((m, peer) => {
      const listener = this.listeners.get(peerKey(peer))?.get(m.token.toString('hex'));
      if (!listener) return false;
      // RFC 7252 §5.4.1: a response with an unrecognized critical option is rejected.
      if (!checkOptions(m).ok) return false;
      listener(m, peer);
      return true;
    });
  }

  /** Tokens currently registered (requests awaiting a response, observations). */
  get size(): number {
    let n = 0;
    for (const m of this.listeners.values()) n += m.size;
    return n;
  }

  private set(peer: string, token: string, listener: TokenListener): void {
    let m = this.listeners.get(peer);
    if (!m) {
      m = new Map();
      this.listeners.set(peer, m);
    }
    m.set(token, listener);
  }

  private delete(peer: string, token: string): void {
    const m = this.listeners.get(peer);
    if (!m) return;
    m.delete(token);
    if (m.size === 0) this.listeners.delete(peer);
  }

  /** Forgets a token: a later response or notification carrying it gets a Reset. */
  forget(peer: { address: string; port: number }, token: Buffer): void {
    this.delete(peerKey(peer), token.toString('hex'));
  }

  /** Forgets every token. */
  clear(): void {
    this.listeners.clear();
  }

  /**
   * Ends every exchange awaiting an answer from `peer` with `err` (the peer proved unreachable), so
   * that none waits out its retransmissions. Observations already established are left alone.
   */
  failPeer(peer: { address: string; port: number }, err: Error): void {
    const set = this.pending.get(peerKey(peer));
    if (set) for (const fail of [...set]) fail(err);
  }

  /**
   * One request/response exchange on the wire (no block-wise logic): resolves with the response,
   * piggybacked or separate. `persistent` keeps the token registered afterwards (observations).
   * `onUnacknowledged` runs when a Confirmable got no ACK through all its retransmissions.
   */
  exchange(
    peer: { address: string; port: number },
    msg: RequestContent,
    confirmable: boolean,
    token: Buffer,
    persistent?: TokenListener,
    onUnacknowledged?: () => void,
  ): Promise<CoapMessage> {
    const pk = peerKey(peer);
    const tk = token.toString('hex');
    return new Promise<CoapMessage>((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      let cancel: (() => void) | undefined;
      let pending = this.pending.get(pk);
      if (!pending) {
        pending = new Set();
        this.pending.set(pk, pending);
      }
      const fail = (err: Error) => finish(err);
      pending.add(fail);
      const finish = (err: Error | undefined, m?: CoapMessage) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        const set = this.pending.get(pk);
        if (set?.delete(fail) && set.size === 0) this.pending.delete(pk);
        if (persistent && !err) this.set(pk, tk, persistent);
        else this.delete(pk, tk);
        // §5.2.2: a separate response before the ACK implies the ACK was lost: stop retransmitting.
        cancel?.();
        if (err) reject(err);
        else resolve(m as CoapMessage);
      };
      this.set(pk, tk, (m) => finish(undefined, m));
      const wait = (ms: number) => {
        timer = setTimeout(() => finish(new CoapTimeoutError('no response')), ms);
      };
      const out = { code: msg.code, token, options: msg.options, payload: msg.payload };
      if (confirmable) {
        const h = this.layer.sendConfirmable(out, peer);
        cancel = () => h.cancel();
        h.acknowledged.then(
          (ack) => {
            if (ack.code !== Code.Empty) {
              // §5.3.2: a piggybacked response carries the request's token; another one means the
              // Message ID was reused within EXCHANGE_LIFETIME and the ACK belongs to another exchange.
              if (!ack.token.equals(token))
                finish(new CoapError(Code.BadGateway, 'ACK carries a response with another token'));
              else if (!checkOptions(ack).ok)
                finish(new CoapError(Code.BadOption, 'response with an unrecognized critical option'));
              else finish(undefined, ack);
            } else if (!done) wait(this.opts.responseTimeout);
          },
          (err: Error) => {
            if (err instanceof CoapTimeoutError) onUnacknowledged?.();
            finish(err);
          },
        );
      } else {
        this.layer.sendNonConfirmable(out, peer);
        wait(this.opts.nonTimeout);
      }
    });
  }
}

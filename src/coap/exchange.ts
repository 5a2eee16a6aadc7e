/** The server side of one received request: answering it exactly once (RFC 7252 §5.2). */
import type { Deadline } from './deadlines.ts';
import { type CoapMessage, type CoapOption, emptyAckFor, encodeMessage, resetFor } from './message.ts';
import type { TransportPeer } from './transport.ts';

/** A received request and the means to answer it exactly once. */
/** Content of an outgoing message; the layer fills in type and Message ID. */
export interface OutgoingMessage {
  code: number;
  token: Buffer;
  options: CoapOption[];
  payload: Buffer;
}

/** What an exchange needs of the message layer (messaging.ts's MessageLayer), named here so the two do not import each other. */
export interface ReplyChannel {
  sendReply(request: CoapMessage, slot: number, serial: number, reply: Buffer, peer: TransportPeer): void;
  cancelDeadline(d: Deadline): void;
  sendConfirmable(m: OutgoingMessage, peer: TransportPeer): { readonly acknowledged: Promise<unknown> };
  sendNonConfirmable(m: OutgoingMessage, peer: TransportPeer): number;
}

export class ServerExchange {
  private answered = false;
  private acked = false;
  /** Armed by the layer when the handler did not answer at once (§5.2.2). */
  separateAfter?: Deadline;

  constructor(
    private readonly layer: ReplyChannel,
    readonly request: CoapMessage,
    readonly peer: TransportPeer,
    /** The request's dedup slot and its serial, where the ACK or Reset we send is kept (§4.5). */
    private readonly slot: number,
    private readonly serial: number,
  ) {}

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
    this.layer.sendReply(this.request, this.slot, this.serial, ack, this.peer);
  }

  private settle(): void {
    this.answered = true;
    if (this.separateAfter) this.layer.cancelDeadline(this.separateAfter);
  }

  /**
   * Sends the response: piggybacked in the ACK when the request was Confirmable and not yet
   * acknowledged, as a separate Confirmable after an Empty ACK, and as a Non-confirmable for a
   * Non-confirmable request (§5.2). Later calls are ignored.
   */
  respond(response: OutgoingMessage): void {
    if (this.answered) return;
    this.settle();
    if (this.request.type === 'CON' && !this.acked) {
      this.acked = true;
      const ack = encodeMessage({
        type: 'ACK',
        code: response.code,
        messageId: this.request.messageId,
        token: response.token,
        options: response.options,
        payload: response.payload,
      });
      this.layer.sendReply(this.request, this.slot, this.serial, ack, this.peer);
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
    this.settle();
    const rst = encodeMessage(resetFor(this.request.messageId));
    this.layer.sendReply(this.request, this.slot, this.serial, rst, this.peer);
  }

  /** Answers nothing (a Non-confirmable that needs no response). */
  drop(): void {
    if (this.answered) return;
    this.settle();
  }
}

/**
 * The server side of OSCORE (RFC 8613 §8.2, §8.3): finds the Recipient Context of a protected
 * request by its kid (and kid context), checks the replay window, decrypts, and protects what the
 * handler answers. The CoAP server calls it before routing, so a handler sees the inner request and
 * the caller's {@link OscoreIdentity} as it sees a DTLS identity.
 *
 * After a reboot whose replay window was not persisted, a request that decrypts is answered with a
 * protected 4.01 carrying an Echo value (RFC 9175 §2.4, RFC 8613 Appendix B.1.2); the repeated
 * request with that Echo establishes the window.
 */
import type { CoapMessage } from '../coap/message.ts';
import { Code, OptionNumber } from '../coap/options.ts';
import { EDHOC_OPTION, hasEdhocOption, splitCombinedPayload } from './combined.ts';
import type { OscoreContext } from './context.ts';
import { OscoreError } from './errors.ts';
import { type OscoreOptionValue, sequenceOf } from './option.ts';
import {
  type MessageContent,
  oscoreOptionOf,
  protectResponse,
  type RequestBinding,
  unprotectRequest,
} from './protect.ts';

/** A request that decrypted, with what its responses need. */
export interface OscoreRequest {
  inner: MessageContent;
  context: OscoreContext;
  binding: RequestBinding;
}

export type UnprotectOutcome =
  | ({ status: 'ok' } & OscoreRequest)
  /** Freshness unknown: answer with {@link OscoreServerContexts.echoChallenge}. */
  | ({ status: 'echo' } & OscoreRequest)
  | { status: 'error'; error: OscoreError };

/** Counters of what the OSCORE layer refused, by kind. */
export interface OscoreServerStats {
  unprotected: number;
  malformed: number;
  unknownContext: number;
  replayed: number;
  decryptFailed: number;
  echoChallenges: number;
  /** EDHOC + OSCORE requests whose EDHOC part failed. */
  edhocFailed: number;
}

/** Makes the context of a kid (and kid context) not yet known, e.g. from a device directory. */
export type ContextResolver = (kid: Buffer, kidContext: Buffer | undefined) => Promise<OscoreContext | undefined>;

export interface OscoreServerOptions {
  /** Looks up contexts the server was not given; those it makes are kept (at most `maxContexts`). */
  resolve?: ContextResolver;
  /** Bound on contexts kept from `resolve`; the least recently added is evicted beyond it. Default 10 000. */
  maxContexts?: number;
  /**
   * A context from `resolve` older than this is resolved again before its next request: kept (with
   * its replay window) when the keys are unchanged, replaced when the credential changed, dropped
   * when it is gone — so a removed or re-keyed device loses access within this time. Default 30 s.
   */
  revalidateMs?: number;
}

const keyOf = (kid: Buffer, kidContext: Buffer | undefined): string =>
  `${kid.toString('hex')}|${kidContext ? kidContext.toString('hex') : ''}`;

/** The contexts a server accepts requests under, by the kid (and ID context) of their clients. */
export class OscoreServerContexts {
  private readonly contexts = new Map<string, OscoreContext>();
  readonly stats: OscoreServerStats = {
    unprotected: 0,
    malformed: 0,
    unknownContext: 0,
    replayed: 0,
    decryptFailed: 0,
    echoChallenges: 0,
    edhocFailed: 0,
  };
  /** Contexts evicted to stay within `maxContexts`. */
  evicted = 0;
  /**
   * Completes the EDHOC exchange named by C_R (the request's kid) with the message_3 of an EDHOC +
   * OSCORE request (RFC 9668) and adds its context; rejects when EDHOC fails, with an OscoreError
   * of kind 'edhoc' whose `response` is the EDHOC error message to send. Without it such a request
   * is refused 4.02.
   */
  edhocCombined?: (cR: Buffer, message3: Buffer) => Promise<void>;
  /** Keys of contexts made by the resolver, oldest first, with when they were last resolved. */
  private readonly resolved = new Map<string, number>();

  constructor(
    contexts: OscoreContext[] = [],
    private readonly opts: OscoreServerOptions = {},
  ) {
    for (const c of contexts) this.add(c);
  }

  add(ctx: OscoreContext): void {
    this.contexts.set(keyOf(ctx.params.recipientId, ctx.params.idContext), ctx);
  }

  remove(ctx: OscoreContext): void {
    this.contexts.delete(keyOf(ctx.params.recipientId, ctx.params.idContext));
  }

  get size(): number {
    return this.contexts.size;
  }

  private find(kid: Buffer, kidContext: Buffer | undefined): OscoreContext | undefined {
    if (kidContext) return this.contexts.get(keyOf(kid, kidContext));
    // §6.1: without a kid context the kid alone names the context, when it does so uniquely.
    const exact = this.contexts.get(keyOf(kid, undefined));
    if (exact) return exact;
    let found: OscoreContext | undefined;
    const prefix = `${kid.toString('hex')}|`;
    for (const [k, c] of this.contexts) {
      if (!k.startsWith(prefix)) continue;
      if (found) return undefined;
      found = c;
    }
    return found;
  }

  /** Keeps a context made by the resolver, evicting the oldest beyond the bound. */
  private keep(ctx: OscoreContext): void {
    const key = keyOf(ctx.params.recipientId, ctx.params.idContext);
    this.add(ctx);
    this.resolved.delete(key);
    this.resolved.set(key, Date.now());
    const max = this.opts.maxContexts ?? 10_000;
    while (this.resolved.size > max) {
      const oldest = this.resolved.keys().next().value as string;
      this.resolved.delete(oldest);
      this.contexts.delete(oldest);
      this.evicted++;
    }
  }

  /**
   * §8.2: decodes, finds the context, checks for replay and decrypts. Never throws; a promise only
   * when the context has to be resolved first.
   */
  unprotect(m: CoapMessage): UnprotectOutcome | Promise<UnprotectOutcome> {
    let option: ReturnType<typeof oscoreOptionOf>;
    try {
      option = oscoreOptionOf(m.options);
      if (!option) throw new OscoreError('malformed', 'no OSCORE option');
      if (!option.kid) throw new OscoreError('malformed', 'request without a kid');
      if (!option.partialIv) throw new OscoreError('malformed', 'request without a Partial IV');
    } catch (err) {
      return this.failure(err);
    }
    if (hasEdhocOption(m.options)) return this.combined(m, option.kid);
    const context = this.find(option.kid, option.kidContext);
    const resolve = this.opts.resolve;
    if (!resolve || (context && !this.stale(context))) return this.open(m, option, context);
    const { kid, kidContext } = option;
    const found = option;
    return resolve(kid, kidContext).then(
      (made) => {
        // Another request may have resolved it meanwhile: keep the first, its window is the live one.
        let current = this.find(kid, kidContext);
        if (current && this.stale(current)) {
          const key = keyOf(current.params.recipientId, current.params.idContext);
          if (made && sameKeys(made, current)) this.resolved.set(key, Date.now());
          else {
            this.resolved.delete(key);
            this.contexts.delete(key);
            current = undefined;
          }
        }
        if (made && !current) {
          this.keep(made);
          current = made;
        }
        return this.open(m, found, current);
      },
      (err: unknown) =>
        this.failure(new OscoreError('unknown-context', `context lookup failed: ${(err as Error).message}`)),
    );
  }

  /** RFC 9668 §3.3.1: EDHOC first, then the request as an ordinary OSCORE request. */
  private combined(m: CoapMessage, cR: Buffer): UnprotectOutcome | Promise<UnprotectOutcome> {
    let split: ReturnType<typeof splitCombinedPayload>;
    try {
      if (!this.edhocCombined) throw new OscoreError('malformed', 'EDHOC option not supported here');
      split = splitCombinedPayload(m.payload);
    } catch (err) {
      return this.failure(err);
    }
    const inner: CoapMessage = {
      ...m,
      options: m.options.filter((o) => o.number !== EDHOC_OPTION),
      payload: split.rest,
    };
    return this.edhocCombined(cR, split.message3).then(
      () => this.unprotect(inner),
      (err: unknown): UnprotectOutcome => {
        this.stats.edhocFailed++;
        // The binding answers with the EDHOC error message (RFC 9668 §3.3.1); anything else is a 4.01.
        if (err instanceof OscoreError && err.kind === 'edhoc') return { status: 'error', error: err };
        return this.failure(new OscoreError('unknown-context', `EDHOC failed: ${(err as Error).message}`));
      },
    );
  }

  /** True for a context from the resolver due to be resolved again. */
  private stale(ctx: OscoreContext): boolean {
    const at = this.resolved.get(keyOf(ctx.params.recipientId, ctx.params.idContext));
    return at !== undefined && Date.now() - at >= (this.opts.revalidateMs ?? 30_000);
  }

  private failure(err: unknown): UnprotectOutcome {
    const error = err instanceof OscoreError ? err : new OscoreError('malformed', (err as Error).message);
    if (error.kind === 'malformed') this.stats.malformed++;
    else if (error.kind === 'unknown-context') this.stats.unknownContext++;
    else if (error.kind === 'replay') this.stats.replayed++;
    else if (error.kind === 'decrypt') this.stats.decryptFailed++;
    return { status: 'error', error };
  }

  private open(m: CoapMessage, option: OscoreOptionValue, context: OscoreContext | undefined): UnprotectOutcome {
    try {
      if (!context) throw new OscoreError('unknown-context', 'Security context not found');
      if (!option.partialIv) throw new OscoreError('malformed', 'request without a Partial IV');
      const seq = sequenceOf(option.partialIv);
      if (context.replay.isKnown && !context.replay.isFresh(seq)) throw new OscoreError('replay', 'Replay detected');
      const { inner, binding } = unprotectRequest(context.recipient, option, m);
      if (!context.replay.isKnown) {
        const i = inner.options.findIndex((o) => o.number === OptionNumber.Echo);
        if (i < 0 || !context.takeEcho(inner.options[i].value)) {
          this.stats.echoChallenges++;
          return { status: 'echo', inner, context, binding };
        }
        context.replay.reset(seq);
        inner.options = inner.options.filter((_, j) => j !== i);
        return { status: 'ok', inner, context, binding };
      }
      context.replay.accept(seq);
      return { status: 'ok', inner, context, binding };
    } catch (err) {
      return this.failure(err);
    }
  }

  /** The protected 4.01 with a fresh Echo, under our own Partial IV (Appendix B.1.2). */
  async echoChallenge(req: OscoreRequest): Promise<MessageContent> {
    const echo = req.context.issueEcho();
    const piv = await req.context.nextPartialIv();
    return protectResponse(
      req.context.sender,
      req.binding,
      {
        code: Code.Unauthorized,
        options: [{ number: OptionNumber.Echo, value: echo }],
        payload: Buffer.alloc(0),
      },
      piv,
    );
  }
}

function sameKeys(a: OscoreContext, b: OscoreContext): boolean {
  return a.keys.senderKey.equals(b.keys.senderKey) && a.keys.recipientKey.equals(b.keys.recipientKey);
}

/** Protects the response to `req`, reusing its nonce (§8.3). */
export function protectReply(req: OscoreRequest, inner: MessageContent): MessageContent {
  return protectResponse(req.context.sender, req.binding, inner);
}

/** Protects a notification (or any later response) of `req` under our own Partial IV (§8.3, §4.1.3.5). */
export async function protectNotification(req: OscoreRequest, inner: MessageContent): Promise<MessageContent> {
  return protectResponse(req.context.sender, req.binding, inner, await req.context.nextPartialIv());
}

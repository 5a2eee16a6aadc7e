/**
 * EDHOC over CoAP (RFC 9528 Appendix A.2): the Initiator is the CoAP client and POSTs to
 * `/.well-known/edhoc`. Requests carry content-format application/cid-edhoc+cbor-seq (65): message_1
 * prefixed with CBOR `true`, message_3 prefixed with C_R so that the server finds the exchange.
 * Responses carry application/edhoc+cbor-seq (64): message_2, then message_4 (or an empty 2.04);
 * an EDHOC error message travels in a 4.00 response (5.00 for our own faults).
 *
 * The resource keeps at most `maxPending` half-done exchanges, each for `pendingTtlMs`; the oldest
 * is evicted (and counted) when a new message_1 would exceed the limit, so a flood of message_1
 * costs a bounded amount of memory.
 */
import { randomBytes } from 'node:crypto';
import type { CoapClient, CoapRequest, CoapResponseInit, CoapServer } from '../coap/index.ts';
import { OscoreError } from '../oscore/errors.ts';
import { decodeSequence } from '../util/cbor.ts';
import { childLogger, type Logger } from '../util/log.ts';
import { EdhocError, EdhocPeerError, ErrCode } from './errors.ts';
import { EdhocInitiator, type InitiatorOptions } from './initiator.ts';
import { type ConnectionId, decodeError, decodeMessage1, encodeConnectionId } from './messages.ts';
import { EdhocResponder, errorMessageFor, type ResponderOptions } from './responder.ts';
import type { EdhocSession } from './session.ts';
import { SUPPORTED_SUITES } from './suites.ts';

export const EDHOC_PATH = '/.well-known/edhoc';
/** application/edhoc+cbor-seq */
export const CF_EDHOC = 64;
/** application/cid-edhoc+cbor-seq */
export const CF_CID_EDHOC = 65;
const CBOR_TRUE = 0xf5;
const BAD_REQUEST = (4 << 5) | 0;
const INTERNAL_ERROR = (5 << 5) | 0;
const CHANGED = (2 << 5) | 4;

export interface EdhocResourceOptions extends Omit<ResponderOptions, 'connectionId' | 'ephemeral'> {
  /** Half-done exchanges kept (default 64). */
  readonly maxPending?: number;
  /** How long one waits for message_3 (default 60 s). */
  readonly pendingTtlMs?: number;
  /** Told of each completed session (the OSCORE context is `session.oscore()`). */
  readonly onSession?: (session: EdhocSession, req: CoapRequest) => void;
  /**
   * Decides on a completed session before message_3 is answered (e.g. a store lookup of the
   * peer's key, or installing its OSCORE context); an `EdhocError` it throws is sent as the EDHOC
   * error message instead of the 2.04, and `onSession` is not told.
   */
  readonly accept?: (session: EdhocSession, req: CoapRequest | undefined) => Promise<void>;
  /** C_R values taken elsewhere (OSCORE Recipient IDs still in use): a new C_R avoids them. */
  readonly connectionIdInUse?: (id: ConnectionId) => boolean;
  readonly logger?: Logger;
}

export interface EdhocResourceStats {
  started: number;
  completed: number;
  failed: number;
  evicted: number;
  expired: number;
  pending: number;
}

/** An exchange whose message_3 verified, not yet answered. */
interface Completed {
  readonly session: EdhocSession;
  readonly req: CoapRequest;
  readonly m4: Buffer | undefined;
}

interface Pending {
  readonly responder: EdhocResponder;
  readonly expires: number;
}

/** The `/.well-known/edhoc` resource: an EDHOC Responder per exchange, keyed by C_R. */
export class EdhocResource {
  private readonly pending = new Map<string, Pending>();
  private readonly counters = { started: 0, completed: 0, failed: 0, evicted: 0, expired: 0 };
  private nextId = 0;

  private readonly log: Logger;

  constructor(private readonly opts: EdhocResourceOptions) {
    this.log = opts.logger ?? childLogger('edhoc.resource');
  }

  get stats(): EdhocResourceStats {
    return { ...this.counters, pending: this.pending.size };
  }

  /** Registers POST /.well-known/edhoc on the server. */
  register(server: CoapServer): void {
    // Without a hook the answer is synchronous, so `onSession` runs as the response goes out.
    server.post(EDHOC_PATH, (req) => (this.opts.accept ? this.respond(req) : this.handle(req)), { rt: 'core.edhoc' });
  }

  /** Answers one request; synchronous, for a resource without an `accept` hook. */
  handle(req: CoapRequest): CoapResponseInit {
    if (this.opts.accept) throw new TypeError('this EDHOC resource decides asynchronously: use respond()');
    const step = this.step(req);
    return 'session' in step ? this.complete(step) : this.logged(step, req);
  }

  /** Answers one request, running the `accept` hook on a completed exchange first. */
  async respond(req: CoapRequest): Promise<CoapResponseInit> {
    const step = this.step(req);
    if (!('session' in step)) return this.logged(step, req);
    try {
      await this.opts.accept?.(step.session, req);
    } catch (e) {
      return this.logged(this.refuse(e), req);
    }
    return this.complete(step);
  }

  private step(req: CoapRequest): CoapResponseInit | Completed {
    this.expire();
    const body = req.payload;
    if (body.length === 0) return this.refuse(new EdhocError('empty EDHOC request'));
    if (body[0] === CBOR_TRUE) return this.message1(body.subarray(1));
    return this.message3(body, req);
  }

  private logged(res: CoapResponseInit, req: CoapRequest): CoapResponseInit {
    if (res.code !== CHANGED) {
      const peer = `${req.peer.address}:${req.peer.port}`;
      this.log.info({ peer, code: res.code, error: this.lastError }, 'EDHOC exchange refused');
    }
    return res;
  }

  private complete(c: Completed): CoapResponseInit {
    this.counters.completed++;
    const { session, req, m4 } = c;
    this.log.debug({ peer: `${req.peer.address}:${req.peer.port}`, cR: session.cR.toString('hex') }, 'EDHOC done');
    this.opts.onSession?.(session, req);
    return m4 ? { code: CHANGED, payload: m4, contentFormat: CF_EDHOC } : { code: CHANGED };
  }

  private message1(m1: Buffer): CoapResponseInit {
    // C_R must differ from C_I (Appendix A.1): look at C_I first; a bad message_1 fails below anyway.
    let cI: Buffer | undefined;
    try {
      cI = decodeMessage1(m1).cI;
    } catch {
      cI = undefined;
    }
    const cR = this.freshConnectionId(cI);
    const responder = new EdhocResponder({ ...this.opts, connectionId: cR });
    try {
      const m2 = responder.handleMessage1(m1);
      const max = this.opts.maxPending ?? 64;
      while (this.pending.size >= max) {
        const oldest = this.pending.keys().next().value as string;
        this.pending.delete(oldest);
        this.counters.evicted++;
      }
      this.pending.set(cR.toString('hex'), { responder, expires: Date.now() + (this.opts.pendingTtlMs ?? 60_000) });
      this.counters.started++;
      return { code: CHANGED, payload: m2, contentFormat: CF_EDHOC };
    } catch (e) {
      return this.refuse(e);
    }
  }

  private message3(body: Buffer, req: CoapRequest): CoapResponseInit | Completed {
    let cR: ConnectionId;
    let rest: Buffer;
    try {
      // C_R followed by message_3 (one byte string): exactly two items.
      const seq = decodeSequence(body, { maxDepth: 1, maxSequenceItems: 2 });
      const first = seq[0];
      if (seq.length !== 2) throw new EdhocError(`expected C_R and message_3, got ${seq.length} items`);
      if (typeof first.value === 'number' && first.bytes.length === 1) cR = Buffer.from(first.bytes);
      else if (Buffer.isBuffer(first.value)) cR = first.value;
      else throw new EdhocError('C_R before message_3 is neither a one-byte integer nor a byte string');
      rest = body.subarray(first.bytes.length);
    } catch (e) {
      return this.refuse(e instanceof EdhocError ? e : new EdhocError(`C_R + message_3 is not a CBOR sequence`));
    }
    const key = cR.toString('hex');
    const p = this.pending.get(key);
    if (!p) return this.refuse(new EdhocError(`no EDHOC exchange with C_R ${key}`));
    this.pending.delete(key);
    try {
      const m4 = p.responder.handleMessage3(rest);
      return { session: p.responder.session, req, m4 };
    } catch (e) {
      return this.refuse(e);
    }
  }

  /**
   * Completes the exchange named by `cR` with the message_3 an EDHOC + OSCORE request carried
   * (RFC 9668 §3.3.1), running the `accept` hook. A failure rejects with an OscoreError of kind
   * 'edhoc' carrying the EDHOC error message (4.00, or 5.00 for our own fault) that the OSCORE
   * layer sends instead of a response; there is no message_4 in this flow.
   */
  async completeCombined(cR: ConnectionId, message3: Buffer): Promise<EdhocSession> {
    this.expire();
    const key = cR.toString('hex');
    const p = this.pending.get(key);
    try {
      if (!p) throw new EdhocError(`no EDHOC exchange with C_R ${key}`);
      this.pending.delete(key);
      p.responder.handleMessage3(message3);
      await this.opts.accept?.(p.responder.session, undefined);
    } catch (e) {
      const res = this.failure(e);
      this.log.info({ cR: key, error: this.lastError }, 'EDHOC + OSCORE request refused');
      // RFC 9668 §3.3.1: the OSCORE layer answers with this EDHOC error message, unprotected.
      throw new OscoreError('edhoc', `EDHOC failed: ${this.lastError}`, { ...res, contentFormat: CF_EDHOC });
    }
    this.counters.completed++;
    return p.responder.session;
  }

  private lastError = '';

  private refuse(e: unknown): CoapResponseInit {
    return { ...this.failure(e), contentFormat: CF_EDHOC };
  }

  /** Counts a failed exchange and makes its EDHOC error message: 4.00 for the peer's fault, 5.00 for ours. */
  private failure(e: unknown): { code: number; payload: Buffer } {
    this.counters.failed++;
    this.lastError = e instanceof Error ? e.message : String(e);
    const ours = e instanceof EdhocError || e instanceof EdhocPeerError;
    return { code: ours ? BAD_REQUEST : INTERNAL_ERROR, payload: errorMessageFor(e) };
  }

  private expire(): void {
    const now = Date.now();
    for (const [k, p] of this.pending) {
      if (p.expires > now) break;
      this.pending.delete(k);
      this.counters.expired++;
    }
  }

  /** C_R: a free one-byte integer value when there is one (shortest on the wire), else 4 random bytes. */
  private freshConnectionId(avoid: Buffer | undefined): ConnectionId {
    for (let i = 0; i < 48; i++) {
      const n = this.nextId++ % 48;
      const id = Buffer.from([n < 24 ? n : 0x20 + (n - 24)]);
      if (this.free(id) && !avoid?.equals(id)) return id;
    }
    for (;;) {
      const id = randomBytes(4);
      if (this.free(id)) return id;
    }
  }

  private free(id: ConnectionId): boolean {
    return !this.pending.has(id.toString('hex')) && !this.opts.connectionIdInUse?.(id);
  }
}

/**
 * The EDHOC error message inside an OscoreError of kind 'edhoc' (the answer to an EDHOC + OSCORE
 * request whose EDHOC part failed, RFC 9668 §3.3.1), decoded; undefined for anything else.
 */
export function edhocPeerErrorOf(e: unknown): EdhocPeerError | undefined {
  if (!(e instanceof OscoreError) || e.kind !== 'edhoc' || !e.response) return undefined;
  try {
    const m = decodeError(e.response.payload);
    return new EdhocPeerError(m.errCode, m.diagnostic, m.suitesR);
  } catch {
    return undefined;
  }
}

export interface EdhocClientOptions extends Omit<InitiatorOptions, 'connectionId'> {
  /** C_I; default a random one-byte integer value. */
  readonly connectionId?: ConnectionId;
  /** Retry once with a suite from SUITES_R after an ERR_CODE 2 (default true). */
  readonly retrySuites?: boolean;
  /** Send both requests through this coap:// forward proxy. */
  readonly proxy?: string;
}

/**
 * The Initiator's side of the EDHOC + OSCORE request (RFC 9668): message_1 → message_2 only, and
 * message_3 is returned to be carried in the first OSCORE request (set it as the context's
 * `edhocMessage3`). The Responder must not need message_4 to complete.
 */
export async function edhocCombinedOverCoap(
  client: CoapClient,
  uri: string,
  opts: EdhocClientOptions,
): Promise<{ session: EdhocSession; message3: Buffer }> {
  const connectionId = opts.connectionId ?? Buffer.from([randomBytes(1)[0] % 24]);
  const initiator = new EdhocInitiator({ ...opts, connectionId });
  const r2 = await client.post(uri, Buffer.concat([Buffer.from([CBOR_TRUE]), initiator.message1()]), {
    contentFormat: CF_CID_EDHOC,
    proxy: opts.proxy,
    oscore: false,
  });
  if (!r2.ok && r2.contentFormat !== CF_EDHOC) throw new EdhocError(`EDHOC server answered ${r2.status}`);
  const message3 = initiator.handleMessage2(r2.payload);
  return { session: initiator.complete(), message3 };
}

/** Runs an EDHOC Initiator against `uri` (…/.well-known/edhoc) over our CoAP client. */
export async function edhocOverCoap(client: CoapClient, uri: string, opts: EdhocClientOptions): Promise<EdhocSession> {
  const connectionId = opts.connectionId ?? Buffer.from([randomBytes(1)[0] % 24]);
  const run = async (suites: readonly number[]): Promise<EdhocSession> => {
    const initiator = new EdhocInitiator({ ...opts, suites, connectionId });
    const r2 = await client.post(uri, Buffer.concat([Buffer.from([CBOR_TRUE]), initiator.message1()]), {
      contentFormat: CF_CID_EDHOC,
      proxy: opts.proxy,
      oscore: false,
    });
    if (!r2.ok && r2.contentFormat !== CF_EDHOC) throw new EdhocError(`EDHOC server answered ${r2.status}`);
    const m3 = initiator.handleMessage2(r2.payload);
    const cR = initiator.session.cR;
    const r4 = await client.post(uri, Buffer.concat([encodeConnectionId(cR), m3]), {
      contentFormat: CF_CID_EDHOC,
      proxy: opts.proxy,
      oscore: false,
    });
    if (!r4.ok) {
      if (r4.contentFormat !== CF_EDHOC) throw new EdhocError(`EDHOC server answered ${r4.status} to message_3`);
      return initiator.handleMessage4(r4.payload);
    }
    return r4.payload.length > 0 ? initiator.handleMessage4(r4.payload) : initiator.complete();
  };
  try {
    return await run(opts.suites);
  } catch (e) {
    if (!(e instanceof EdhocPeerError) || e.errCode !== ErrCode.wrongSelectedCipherSuite || opts.retrySuites === false)
      throw e;
    const ours = SUPPORTED_SUITES.map((s) => s.id).filter((id) => opts.suites.includes(id));
    const pick = e.suitesR?.find((s) => ours.includes(s));
    if (pick === undefined) throw e;
    // RFC 9528 §5.2.2: the new SUITES_I ends with the selected suite, preceded by our preferred ones.
    const idx = opts.suites.indexOf(pick);
    return run(opts.suites.slice(0, idx + 1).filter((s) => s === pick || !e.suitesR?.includes(s)));
  }
}

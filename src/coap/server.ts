/**
 * The CoAP server: a router of method + path patterns (`/users/:uid/resources`) over one or more
 * transports at once (plain UDP and DTLS), with Block1/Block2 (RFC 7959), Observe (RFC 7641),
 * `/.well-known/core` (RFC 6690) and the request checks of RFC 7252 §5.4 (4.02 Bad Option for
 * critical options we do not understand, 4.00 for malformed Block values) — a malformed request
 * gets an answer, never an exception out of the server.
 */
import { createHash } from 'node:crypto';
import {
  type OscoreRequest,
  type OscoreServerContexts,
  protectNotification,
  protectReply,
  type UnprotectOutcome,
} from '../oscore/server.ts';
import type { Logger } from '../util/log.ts';
import { childLogger } from '../util/log.ts';
import { Block1Assembler, Block2Cache, sliceBlock } from './block.ts';
import { CoapError } from './errors.ts';
import { formatLinks, type Link } from './linkformat.ts';
import { type CoapMessage, type CoapOption, checkOptions, getOptions } from './message.ts';
import {
  derivedTimesOf,
  MessageLayer,
  type OutgoingMessage,
  type ServerExchange,
  type TransmissionParameters,
} from './messaging.ts';
import { DEFAULT_OBSERVE_OPTIONS, type Observer, ObserverRegistry, type ObserveServerOptions } from './observe.ts';
import {
  type BlockValue,
  blockSize,
  Code,
  ContentFormat,
  codeString,
  decodeBlock,
  decodeUint,
  encodeBlock,
  encodeUint,
  type Method,
  methodName,
  OptionNumber,
  szxFor,
  uintValue,
} from './options.ts';
import { matchPattern, parsePattern, Router, type RouteShape } from './router.ts';
import { peerKey, type Transport, type TransportPeer } from './transport.ts';

export { matchPattern };

/** What a handler sees of a request. */
export interface CoapRequest {
  method: Method;
  /** "/users/7/resources" (decoded segments joined with "/"). */
  path: string;
  pathSegments: string[];
  /** Values of `:name` segments of the route pattern; `*` for the rest after a trailing wildcard. */
  params: Record<string, string>;
  /** Uri-Query items as key → value (the last wins; `k` alone gives ""). */
  query: Record<string, string>;
  queryItems: string[];
  options: CoapOption[];
  /** The whole body (reassembled when it came in Block1 blocks). */
  payload: Buffer;
  contentFormat?: number;
  accept?: number;
  /** Observe option value of the request (0 register, 1 deregister). */
  observe?: number;
  /** True when this handler call produces a notification for an existing observer. */
  notification: boolean;
  peer: TransportPeer;
  scheme: 'coap' | 'coaps';
  token: Buffer;
}

export interface CoapResponseInit {
  /** Default: 2.05 for GET, 2.04 for POST/PUT, 2.02 for DELETE, 2.01 when locationPath is set. */
  code?: number;
  payload?: Buffer | Uint8Array | string;
  contentFormat?: number;
  etag?: Buffer;
  maxAge?: number;
  locationPath?: string[];
  locationQuery?: string[];
  /** Further options, sent as given. */
  options?: CoapOption[];
}

export type CoapHandler = (req: CoapRequest) => CoapResponseInit | undefined | Promise<CoapResponseInit | undefined>;

export interface RouteOptions {
  /** GET on this route may be observed (RFC 7641); `server.notify(path)` sends notifications. */
  observable?: boolean;
  /** Link attributes for `/.well-known/core` (RFC 6690 §3). */
  title?: string;
  rt?: string;
  if?: string;
  /** Content formats the handler can produce: a request with another Accept gets 4.06 (RFC 7252 §5.10.4). */
  produces?: number[];
  /** Content formats the handler takes: a request with another Content-Format gets 4.15. */
  consumes?: number[];
  /** Leave out of `/.well-known/core`. */
  hidden?: boolean;
}

interface Route extends RouteShape {
  pattern: string;
  handler: CoapHandler;
  opts: RouteOptions;
}

export interface CoapServerOptions {
  params?: Partial<TransmissionParameters>;
  /** Largest Block2 size we send (16..1024). Default 1024. */
  blockSize?: number;
  /** Bound on a request body reassembled from Block1 blocks; beyond → 4.13. Default 1 MiB. */
  maxBodySize?: number;
  observe?: Partial<ObserveServerOptions>;
  /** Serve `/.well-known/core` from the routes. Default true. */
  wellKnownCore?: boolean;
  /**
   * OSCORE contexts (RFC 8613): a request with an OSCORE option is unprotected before routing, its
   * handler sees `peer.oscore`, and its responses and notifications are protected. Without it such
   * a request gets 4.02 Bad Option.
   */
  oscore?: OscoreServerContexts;
  logger?: Logger;
}

/** What the request handling uses of an exchange: a {@link ServerExchange}, or its OSCORE inner view. */
type Exchange = Pick<ServerExchange, 'request' | 'peer' | 'isAnswered' | 'respond' | 'reject'>;

interface Layer {
  id: number;
  layer: MessageLayer;
  transport: Transport;
  owned: boolean;
}

interface ObserveState {
  route: Route;
  req: CoapRequest;
  szx: number;
}

const EMPTY = Buffer.alloc(0);
const NO_OPTIONS: CoapOption[] = [];

/** Names a block-wise transfer (Block1 reassembly, Block2 cache): layer, peer, method and target. */
function transferKey(layerId: number, peer: TransportPeer, method: Method, path: string, query: string[]): string {
  return `${layerId}|${peerKey(peer)}|${method}|${path}?${query.join('&')}`;
}

/** True when a message carries the OSCORE option (a plain loop: this runs for every request). */
function hasOscore(options: CoapOption[]): boolean {
  for (let i = 0; i < options.length; i++) if (options[i].number === OptionNumber.Oscore) return true;
  return false;
}

/** A transfer key, or what makes one, so that the string is only built when a transfer is in play. */
type TransferKey = string | { layerId: number; req: CoapRequest };

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> =>
  typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';

function toBuffer(p: Buffer | Uint8Array | string | undefined): Buffer {
  if (p === undefined) return EMPTY;
  if (typeof p === 'string') return Buffer.from(p, 'utf8');
  return Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

export class CoapServer {
  private readonly router = new Router<Route>();
  private readonly routes: readonly Route[] = this.router.routes;
  private readonly layers: Layer[] = [];
  private nextLayerId = 1;
  private readonly log: Logger;
  private readonly szx: number;
  private readonly block1: Block1Assembler;
  private readonly block2: Block2Cache;
  readonly observers: ObserverRegistry;
  private readonly params: Partial<TransmissionParameters>;
  private closed = false;
  private readonly oscore: OscoreServerContexts | undefined;
  /** The OSCORE request behind a handler's peer object, for protecting its notifications. */
  private readonly oscoreRequests = new WeakMap<object, OscoreRequest>();

  constructor(opts: CoapServerOptions = {}) {
    this.oscore = opts.oscore;
    this.log = opts.logger ?? childLogger('coap.server');
    this.params = opts.params ?? {};
    this.szx = szxFor(opts.blockSize ?? 1024);
    const lifetime = derivedTimesOf(this.params).exchangeLifetime;
    this.block1 = new Block1Assembler(opts.maxBodySize ?? 1024 * 1024, lifetime, this.szx);
    this.block2 = new Block2Cache(lifetime);
    this.observers = new ObserverRegistry({ ...DEFAULT_OBSERVE_OPTIONS, ...opts.observe });
    if (opts.wellKnownCore !== false) {
      this.route('GET', '/.well-known/core', (req) => this.wellKnownCore(req), {
        hidden: true,
        produces: [ContentFormat['application/link-format']],
      });
    }
  }

  /** Adds a route. Patterns: `/a/b`, `/users/:uid/resources`, `/files/*` (the rest, in params['*']). */
  route(method: Method, pattern: string, handler: CoapHandler, opts: RouteOptions = {}): this {
    const { segments, dynamic } = parsePattern(pattern);
    this.router.add({ method, pattern, segments, handler, opts, index: this.routes.length, dynamic });
    return this;
  }
  get(pattern: string, handler: CoapHandler, opts?: RouteOptions): this {
    return this.route('GET', pattern, handler, opts);
  }
  post(pattern: string, handler: CoapHandler, opts?: RouteOptions): this {
    return this.route('POST', pattern, handler, opts);
  }
  put(pattern: string, handler: CoapHandler, opts?: RouteOptions): this {
    return this.route('PUT', pattern, handler, opts);
  }
  delete(pattern: string, handler: CoapHandler, opts?: RouteOptions): this {
    return this.route('DELETE', pattern, handler, opts);
  }

  /** Serves requests arriving on `transport`. The server closes it on close() unless `owned` is false. */
  listen(transport: Transport, owned = true): MessageLayer {
    const id = this.nextLayerId++;
    const layer = new MessageLayer(transport, { params: this.params, logger: this.log });
    const entry: Layer = { id, layer, transport, owned };
    layer.onRequest((ex) => {
      try {
        const pending = this.handle(ex, entry);
        if (pending !== undefined) pending.catch((err: unknown) => this.failed(ex, err));
      } catch (err) {
        this.failed(ex, err);
      }
    });
    // A server expects no responses; any that arrive are rejected (the layer sends Reset).
    layer.onResponse(() => false);
    this.layers.push(entry);
    return layer;
  }

  private failed(ex: Exchange, err: unknown): void {
    this.log.error({ err }, 'request handling failed');
    if (!ex.isAnswered)
      ex.respond({ code: Code.InternalServerError, token: ex.request.token, options: [], payload: EMPTY });
  }

  /** Answers a request with an error code and a diagnostic payload (RFC 7252 §5.5.2, no Content-Format). */
  private refuse(ex: Exchange, code: number, reason: string, extra: CoapOption[] = []): undefined {
    this.log.debug({ code: codeString(code), reason }, 'request refused');
    ex.respond({ code, token: ex.request.token, options: extra, payload: Buffer.from(reason) });
    return undefined;
  }

  /**
   * Handles one request. Everything up to the handler runs synchronously, and so does the rest when
   * the handler answers synchronously: then the response leaves piggybacked before the layer's
   * receive returns, with no promise, timer or microtask per request. Returns a promise only when
   * the handler returned one.
   */
  private handle(ex: Exchange, layer: Layer): Promise<void> | undefined {
    const m = ex.request;
    if (hasOscore(m.options)) return this.handleOscore(ex, layer);
    const chk = checkOptions(m);
    if (!chk.ok) {
      // RFC 7252 §5.4.1: a bad critical option in a Confirmable request gets 4.02 Bad Option; in a
      // Non-confirmable one the message is rejected (§4.3): a Reset, and no response at all.
      if (m.type === 'NON') {
        this.log.debug({ reason: chk.reason }, 'NON request rejected');
        ex.reject();
        return undefined;
      }
      return this.refuse(ex, chk.code, chk.reason);
    }
    const options = chk.options;
    const method = methodName(m.code);
    if (!method) return this.refuse(ex, Code.MethodNotAllowed, `method code ${codeString(m.code)} not supported`);
    // One pass over the options; for a non-repeatable option the first occurrence counts (a repeated
    // one was dropped or refused by checkOptions).
    const pathSegments: string[] = [];
    let queryItems: string[] | undefined;
    let b1: Buffer | undefined;
    let b2: Buffer | undefined;
    let contentFormat: number | undefined;
    let accept: number | undefined;
    let observe: number | undefined;
    let size1: number | undefined;
    let proxy = false;
    let tags: string[] | undefined;
    for (let i = 0; i < options.length; i++) {
      const o = options[i];
      switch (o.number) {
        case OptionNumber.UriPath:
          pathSegments.push(o.value.toString('utf8'));
          break;
        case OptionNumber.UriQuery:
          if (queryItems === undefined) queryItems = [];
          queryItems.push(o.value.toString('utf8'));
          break;
        case OptionNumber.Block1:
          b1 ??= o.value;
          break;
        case OptionNumber.Block2:
          b2 ??= o.value;
          break;
        case OptionNumber.ContentFormat:
          contentFormat ??= decodeUint(o.value);
          break;
        case OptionNumber.Accept:
          accept ??= decodeUint(o.value);
          break;
        case OptionNumber.Observe:
          observe ??= decodeUint(o.value);
          break;
        case OptionNumber.Size1:
          size1 ??= decodeUint(o.value);
          break;
        case OptionNumber.ProxyUri:
        case OptionNumber.ProxyScheme:
          proxy = true;
          break;
        case OptionNumber.RequestTag:
          if (tags === undefined) tags = [];
          tags.push(o.value.toString('hex'));
          break;
      }
    }
    // RFC 7252 §5.7.2: we are no forward-proxy.
    if (proxy) return this.refuse(ex, Code.ProxyingNotSupported, 'this server is not a proxy');
    let block1: BlockValue | undefined;
    let block2: BlockValue | undefined;
    try {
      block1 = b1 ? decodeBlock(b1) : undefined;
      block2 = b2 ? decodeBlock(b2) : undefined;
    } catch (err) {
      // RFC 7959 §2.2: the reserved SZX 7 leads to 4.00.
      return this.refuse(ex, Code.BadRequest, (err as Error).message);
    }
    // RFC 7252 §6.4 step 8 removes "." and ".." when building options: receiving them is an error.
    for (const seg of pathSegments) {
      if (seg === '.' || seg === '..') return this.refuse(ex, Code.BadRequest, 'Uri-Path with . or ..');
    }
    const path = pathSegments.length === 1 ? `/${pathSegments[0]}` : `/${pathSegments.join('/')}`;
    const matched = this.router.match(method, pathSegments, path);
    if (matched === undefined) return this.refuse(ex, Code.NotFound, `no resource ${path}`);
    if (matched === 'method') return this.refuse(ex, Code.MethodNotAllowed, `${method} not allowed on ${path}`);
    const { route, params } = matched;
    if (accept !== undefined && route.opts.produces && !route.opts.produces.includes(accept)) {
      return this.refuse(ex, Code.NotAcceptable, `cannot produce content format ${accept}`);
    }
    if (contentFormat !== undefined && route.opts.consumes && !route.opts.consumes.includes(contentFormat)) {
      return this.refuse(ex, Code.UnsupportedContentFormat, `content format ${contentFormat} not supported here`);
    }
    const items = queryItems ?? [];
    // Names a block-wise transfer: only built when one is in play.

    // RFC 7959 §2.4: a later Block2 block of a representation we are serving comes from the cache.
    if (block2 && block2.num > 0 && !block1) {
      const key = transferKey(layer.id, ex.peer, method, path, items);
      const rep = this.block2.get(key);
      if (rep) {
        this.sendRepresentation(ex, { ...rep, extra: [] }, block2, key, undefined);
        return undefined;
      }
      if (method !== 'GET' && method !== 'FETCH') {
        return this.refuse(ex, Code.RequestEntityIncomplete, 'no representation in transfer for this Block2 request');
      }
    }

    let payload = m.payload;
    let block1Echo: BlockValue | undefined;
    if (block1) {
      // RFC 9175 §3.3: the Request-Tag tells concurrent block-wise uploads to one resource apart.
      const key = transferKey(layer.id, ex.peer, method, path, items);
      const out = this.block1.accept(tags ? `${key}#${tags.join(',')}` : key, block1, m.payload, size1, contentFormat);
      if (out.status === 'error') {
        const extra = out.size1 !== undefined ? [{ number: OptionNumber.Size1, value: encodeUint(out.size1) }] : [];
        return this.refuse(ex, out.code, out.reason, extra);
      }
      if (out.status === 'continue') {
        ex.respond({
          code: Code.Continue,
          token: m.token,
          options: [{ number: OptionNumber.Block1, value: encodeBlock(out.block) }],
          payload: EMPTY,
        });
        return undefined;
      }
      payload = out.body;
      block1Echo = { ...block1, more: false };
    } else if (payload.length > this.block1.maxBodySize) {
      return this.refuse(ex, Code.RequestEntityTooLarge, `body exceeds ${this.block1.maxBodySize} bytes`, [
        { number: OptionNumber.Size1, value: encodeUint(this.block1.maxBodySize) },
      ]);
    }

    const query: Record<string, string> = {};
    for (const q of items) {
      const i = q.indexOf('=');
      const k = i < 0 ? q : q.slice(0, i);
      const v = i < 0 ? '' : q.slice(i + 1);
      // An own property even for "__proto__", as Object.fromEntries makes it.
      if (k === '__proto__')
        Object.defineProperty(query, k, { value: v, enumerable: true, writable: true, configurable: true });
      else query[k] = v;
    }
    const req: CoapRequest = {
      method,
      path,
      pathSegments,
      params,
      query,
      queryItems: items,
      options,
      payload,
      contentFormat,
      accept,
      observe,
      notification: false,
      peer: ex.peer,
      scheme: layer.transport.scheme,
      token: m.token,
    };
    const res = this.invoke(route, req);
    if (isPromise(res)) {
      return res.then((r) => this.answer(ex, layer, route, req, r, block2, block1Echo));
    }
    this.answer(ex, layer, route, req, res, block2, block1Echo);
    return undefined;
  }

  /**
   * RFC 8613 §8.2: unprotects, then handles the inner request with an exchange whose responses are
   * protected. OSCORE's own refusals (4.02, 4.01, 4.00) go out unprotected with Max-Age 0 (§8.2).
   */
  private handleOscore(ex: Exchange, layer: Layer): Promise<void> | undefined {
    if (!this.oscore) return this.refuse(ex, Code.BadOption, 'OSCORE is not supported here');
    const whole = this.outerBlock1(ex, layer);
    if (whole === undefined) return undefined;
    const outcome = this.oscore.unprotect(whole);
    if (isPromise(outcome)) return outcome.then((o) => this.afterUnprotect(ex, layer, o));
    return this.afterUnprotect(ex, layer, outcome);
  }

  /**
   * RFC 8613 §4.1.3.4.2: a proxy may have split a protected request into outer Block1 blocks; they
   * are put together before OSCORE runs. Returns the whole protected request, or undefined once the
   * block has been answered (2.31 Continue or an error, unprotected like any outer exchange).
   */
  private outerBlock1(ex: Exchange, layer: Layer): CoapMessage | undefined {
    const m = ex.request;
    let b1: Buffer | undefined;
    let size1: number | undefined;
    for (const o of m.options) {
      if (o.number === OptionNumber.Block1) b1 ??= o.value;
      else if (o.number === OptionNumber.Size1) size1 ??= decodeUint(o.value);
    }
    if (b1 === undefined) return m;
    let block: BlockValue;
    try {
      block = decodeBlock(b1);
    } catch (err) {
      this.refuse(ex, Code.BadRequest, (err as Error).message);
      return undefined;
    }
    const tag = getOptions(m, OptionNumber.RequestTag)
      .map((t) => t.toString('hex'))
      .join(',');
    const key = `oscore|${transferKey(layer.id, ex.peer, 'POST', '', [])}#${tag}`;
    const out = this.block1.accept(key, block, m.payload, size1);
    if (out.status === 'error') {
      this.refuse(ex, out.code, out.reason);
      return undefined;
    }
    if (out.status === 'continue') {
      ex.respond({
        code: Code.Continue,
        token: m.token,
        options: [{ number: OptionNumber.Block1, value: encodeBlock(out.block) }],
        payload: EMPTY,
      });
      return undefined;
    }
    const outer = m.options.filter(
      (o) =>
        o.number !== OptionNumber.Block1 && o.number !== OptionNumber.Size1 && o.number !== OptionNumber.RequestTag,
    );
    return { ...m, options: outer, payload: out.body };
  }

  private afterUnprotect(ex: Exchange, layer: Layer, out: UnprotectOutcome): Promise<void> | undefined {
    const m = ex.request;
    if (out.status === 'error') {
      // RFC 9668 §3.3.1: a failed EDHOC + OSCORE request gets the EDHOC error message, unprotected.
      const r = out.error.response;
      if (r) {
        const options = [{ number: OptionNumber.ContentFormat, value: encodeUint(r.contentFormat) }];
        ex.respond({ code: r.code, token: m.token, options, payload: r.payload });
        return undefined;
      }
      return this.refuse(ex, out.error.code, out.error.message, [{ number: OptionNumber.MaxAge, value: EMPTY }]);
    }
    const token = m.token;
    if (out.status === 'echo') {
      return (this.oscore as OscoreServerContexts).echoChallenge(out).then((c) => ex.respond({ ...c, token }));
    }
    const inner: CoapMessage = { ...m, code: out.inner.code, options: out.inner.options, payload: out.inner.payload };
    const peer = { ...ex.peer, oscore: out.context.identity };
    this.oscoreRequests.set(peer, out);
    const view: Exchange = {
      request: inner,
      peer,
      get isAnswered() {
        return ex.isAnswered;
      },
      respond: (r) => ex.respond({ ...r, ...protectReply(out, r), token: r.token }),
      reject: () => ex.reject(),
    };
    return this.handle(view, layer);
  }

  /** Observe bookkeeping, the 2.03 shortcut and the response, once the handler has answered. */
  private answer(
    ex: Exchange,
    layer: Layer,
    route: Route,
    req: CoapRequest,
    res: Normalised,
    block2: BlockValue | undefined,
    block1Echo: BlockValue | undefined,
  ): void {
    const m = ex.request;
    const { method, observe } = req;
    let observeSeq: number | undefined;
    if (observe !== undefined) {
      const observerKey = ObserverRegistry.keyOf(layer.id, ex.peer, m.token);
      if (method === 'GET' && observe === 1) {
        // RFC 7641 §3.6: a GET with Observe 1 deregisters and is otherwise a normal GET.
        const o = this.observers.get(observerKey);
        if (o) this.observers.remove(o);
      } else if (method === 'GET' && observe === 0 && route.opts.observable && res.code >> 5 === 2) {
        const szx = Math.min(this.szx, block2?.szx ?? 6);
        const state: ObserveState = { route, req, szx };
        const added = this.observers.add({
          key: observerKey,
          layer: layer.layer,
          peer: ex.peer,
          token: Buffer.from(m.token),
          path: req.path,
          requestState: state,
          sinceCon: 0,
          lastConAt: Date.now(),
          inFlight: false,
          pending: false,
          removed: false,
        });
        if (added) observeSeq = this.observers.nextSequence();
      } else if (observe === 0) {
        // Not observable (or failed): a normal response without Observe means "not added" (§4.1).
        const o = this.observers.get(observerKey);
        if (o) this.observers.remove(o);
      }
    }
    // RFC 7252 §5.10.6.2: a GET naming the current ETag gets 2.03 Valid without the body.
    if (method === 'GET' && res.code === Code.Content && res.etag && observeSeq === undefined) {
      const etag = res.etag;
      const tags = getOptions(req, OptionNumber.ETag);
      if (tags.some((t) => t.equals(etag))) {
        ex.respond({
          code: Code.Valid,
          token: m.token,
          options: [{ number: OptionNumber.ETag, value: etag }],
          payload: EMPTY,
        });
        return;
      }
    }
    this.sendRepresentation(ex, res, block2, { layerId: layer.id, req }, observeSeq, block1Echo);
  }

  /** Runs a handler; the result is a promise only when the handler returned one. */
  private invoke(route: Route, req: CoapRequest): Normalised | Promise<Normalised> {
    let init: ReturnType<CoapHandler>;
    try {
      init = route.handler(req);
    } catch (err) {
      return this.handlerError(err, req);
    }
    if (isPromise(init)) {
      return init.then(
        (i) => normalise(i ?? {}, req.method),
        (err: unknown) => this.handlerError(err, req),
      );
    }
    return normalise(init ?? {}, req.method);
  }

  private async runHandler(route: Route, req: CoapRequest): Promise<Normalised> {
    return this.invoke(route, req);
  }

  private handlerError(err: unknown, req: CoapRequest): Normalised {
    // Only a code a handler chose is answered as given; a time-out or Reset from a request the
    // handler made itself is a failure of the handler, answered 5.00 like any other.
    if (err instanceof CoapError && err.kind === 'response') {
      return { code: err.code, body: Buffer.from(err.message), extra: NO_OPTIONS };
    }
    this.log.error({ err, path: req.path }, 'handler threw');
    return { code: Code.InternalServerError, body: Buffer.from('internal error'), extra: NO_OPTIONS };
  }

  /** Sends a representation whole or as the requested Block2 slice, caching it for the next blocks. */
  private sendRepresentation(
    ex: Exchange,
    rep: Normalised,
    block2: BlockValue | undefined,
    cacheKey: TransferKey,
    observeSeq: number | undefined,
    block1Echo?: BlockValue,
  ): void {
    const built = this.build(rep, block2, cacheKey, observeSeq, block1Echo, ex.request.token);
    if (!built) {
      ex.respond({
        code: Code.BadOption,
        token: ex.request.token,
        options: [],
        payload: Buffer.from('Block2 beyond the end'),
      });
      return;
    }
    ex.respond(built);
  }

  private build(
    rep: Normalised,
    block2: BlockValue | undefined,
    cacheKey: TransferKey,
    observeSeq: number | undefined,
    block1Echo: BlockValue | undefined,
    token: Buffer,
  ): OutgoingMessage | undefined {
    const options: CoapOption[] = rep.extra.length > 0 ? rep.extra.slice() : [];
    if (observeSeq !== undefined) options.push({ number: OptionNumber.Observe, value: encodeUint(observeSeq) });
    if (rep.contentFormat !== undefined)
      options.push({ number: OptionNumber.ContentFormat, value: uintValue(rep.contentFormat) });
    if (rep.maxAge !== undefined) options.push({ number: OptionNumber.MaxAge, value: uintValue(rep.maxAge) });
    if (block1Echo) options.push({ number: OptionNumber.Block1, value: encodeBlock(block1Echo) });
    let body = rep.body;
    const szx = Math.min(this.szx, block2?.szx ?? 6);
    let etag = rep.etag;
    if (body.length > blockSize(szx) || (block2 && block2.num > 0)) {
      // §2.4: without an ETag a client cannot tell whether blocks belong to one representation.
      if (!etag) etag = createHash('sha256').update(body).digest().subarray(0, 8);
      const num = block2?.num ?? 0;
      const slice = sliceBlock(body, num, szx);
      if (!slice) return undefined;
      options.push({ number: OptionNumber.Block2, value: encodeBlock({ num, more: slice.more, szx }) });
      // RFC 7959 §4: Size2 tells the client the whole size up front.
      if (num === 0) options.push({ number: OptionNumber.Size2, value: encodeUint(body.length) });
      if (slice.more) {
        const key =
          typeof cacheKey === 'string'
            ? cacheKey
            : transferKey(
                cacheKey.layerId,
                cacheKey.req.peer,
                cacheKey.req.method,
                cacheKey.req.path,
                cacheKey.req.queryItems,
              );
        this.block2.set(key, { code: rep.code, body, contentFormat: rep.contentFormat, etag, maxAge: rep.maxAge });
      }
      body = slice.payload;
    }
    if (etag) options.push({ number: OptionNumber.ETag, value: etag });
    return { code: rep.code, token, options, payload: body };
  }

  /**
   * Sends a notification to every observer of `path` (RFC 7641 §4.2): the route's handler runs
   * again for each. Every `conEvery`-th notification (and one per `conIntervalMs`) is Confirmable;
   * an observer that does not acknowledge it, or answers any notification with Reset, is removed.
   */
  async notify(path: string): Promise<void> {
    await Promise.all(this.observers.forPath(path).map((o) => this.notifyOne(o)));
  }

  /** Observers of `path` (or all). */
  observerCount(path?: string): number {
    return this.observers.count(path);
  }

  private async notifyOne(o: Observer): Promise<void> {
    if (o.removed || this.closed) return;
    if (o.inFlight) {
      o.pending = true;
      return;
    }
    const state = o.requestState as ObserveState;
    const rep = await this.runHandler(state.route, { ...state.req, notification: true });
    if (o.removed || this.closed) return;
    const success = rep.code >> 5 === 2;
    const seq = success ? this.observers.nextSequence() : undefined;
    const cacheKey = transferKey(this.layerIdOf(o.layer), o.peer, 'GET', state.req.path, state.req.queryItems);
    let message = this.build(rep, { num: 0, more: false, szx: state.szx }, cacheKey, seq, undefined, o.token);
    if (!message) return;
    const secured = this.oscoreRequests.get(state.req.peer);
    if (secured) message = { ...message, ...(await protectNotification(secured, message)) };
    // §3.2/§4.2: an error response ends the observation.
    if (!success) this.observers.remove(o);
    const con = !success || this.observers.wantsConfirmable(o);
    if (con) {
      o.sinceCon = 0;
      o.lastConAt = Date.now();
      o.inFlight = true;
      try {
        await o.layer.sendConfirmable(message, o.peer).acknowledged;
        o.inFlight = false;
        if (o.pending && !o.removed) {
          o.pending = false;
          await this.notifyOne(o);
        }
      } catch {
        // §4.5: no ACK (timeout) or a Reset: the client is no longer interested.
        o.inFlight = false;
        this.observers.remove(o);
      }
    } else {
      o.sinceCon++;
      o.layer.sendNonConfirmable(message, o.peer, () => this.observers.remove(o));
    }
  }

  private layerIdOf(layer: MessageLayer): number {
    return this.layers.find((l) => l.layer === layer)?.id ?? 0;
  }

  private wellKnownCore(req: CoapRequest): CoapResponseInit {
    const seen = new Set<string>();
    const links: Link[] = [];
    for (const r of this.routes) {
      if (r.opts.hidden || r.segments.some((s) => s.startsWith(':') || s === '*') || seen.has(r.pattern)) continue;
      seen.add(r.pattern);
      const attrs: Link['attrs'] = {};
      const all = this.routes.filter((x) => x.pattern === r.pattern);
      const opts = Object.assign({}, ...all.map((x) => x.opts)) as RouteOptions;
      if (opts.title) attrs.title = opts.title;
      if (opts.rt) attrs.rt = opts.rt;
      if (opts.if) attrs.if = opts.if;
      if (opts.produces?.length) attrs.ct = opts.produces.length === 1 ? opts.produces[0] : opts.produces;
      if (all.some((x) => x.opts.observable)) attrs.obs = true;
      links.push({ href: r.pattern, attrs });
    }
    // RFC 6690 §4.1: a query filters by one attribute; a trailing '*' matches a prefix.
    const filters = Object.entries(req.query);
    const kept = links.filter((l) =>
      filters.every(([k, v]) => {
        const val = k === 'href' ? l.href : l.attrs[k];
        if (val === undefined) return false;
        const values = (Array.isArray(val) ? val : [val]).flatMap((x) => String(x).split(' '));
        return values.some((x) => (v.endsWith('*') ? x.startsWith(v.slice(0, -1)) : x === v));
      }),
    );
    return { payload: formatLinks(kept), contentFormat: ContentFormat['application/link-format'] };
  }

  /** Stops serving; closes the transports handed to listen() as owned. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.layers) l.layer.close();
    await Promise.all(this.layers.filter((l) => l.owned).map((l) => l.transport.close()));
  }
}

interface Normalised {
  code: number;
  body: Buffer;
  contentFormat?: number;
  etag?: Buffer;
  maxAge?: number;
  extra: CoapOption[];
}

function normalise(init: CoapResponseInit, method: Method): Normalised {
  // `extra` is never modified afterwards (build() copies it), so the handler's own array can serve.
  let extra: CoapOption[] = init.options ?? NO_OPTIONS;
  if (init.locationPath || init.locationQuery) {
    extra = [...extra];
    for (const p of init.locationPath ?? []) extra.push({ number: OptionNumber.LocationPath, value: Buffer.from(p) });
    for (const q of init.locationQuery ?? []) extra.push({ number: OptionNumber.LocationQuery, value: Buffer.from(q) });
  }
  const code =
    init.code ??
    (init.locationPath
      ? Code.Created
      : method === 'GET' || method === 'FETCH'
        ? Code.Content
        : method === 'DELETE'
          ? Code.Deleted
          : Code.Changed);
  return {
    code,
    body: toBuffer(init.payload),
    contentFormat: init.contentFormat,
    etag: init.etag,
    maxAge: init.maxAge,
    extra,
  };
}

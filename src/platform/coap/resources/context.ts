/**
 * What every CoAP resource module is given, and the helpers they share: the request body and
 * Uri-Query checked against the same TypeBox schemas as the HTTP API (schema/*), path ids, paging
 * and JSON answers. A resource handler is a few lines: its schema parses, one service call, a view
 * renders (as in `http/routes/*`).
 */
import type { Static, TSchema } from '@sinclair/typebox';
import {
  CoapError,
  type CoapRequest,
  type CoapResponseInit,
  type CoapServer,
  Code,
  ContentFormat,
} from '../../../coap/index.ts';
import type { Caller } from '../../model.ts';
import { PageQuery } from '../../schema/queries.ts';
import { type Check, check, compileText } from '../../schema/validate.ts';
import type { PageRequest, PlatformService } from '../../service.ts';
import type { CoapLimits } from '../rate-limit.ts';

export const JSON_CF = ContentFormat['application/json'];

/** The handler options of a route that answers JSON. */
export const JSON_ONLY = { produces: [JSON_CF] };

export type Handler = (req: CoapRequest) => Promise<CoapResponseInit>;

export interface CoapContext {
  server: CoapServer;
  service: PlatformService;
  limits: CoapLimits;
  /** Who is asking: the DTLS identity's device over coaps://, the `?key=` over coap://. */
  caller(req: CoapRequest): Promise<Caller>;
  /** Wraps a handler: the rate limits first; domain errors become CoAP codes (coap/errors.ts). */
  h(fn: Handler): Handler;
}

/** One aggregate's resources, registered on `ctx.server`; may return what to stop on close. */
export type Resources = (ctx: CoapContext) => undefined | (() => void);

/**
 * The request body as JSON, checked against its entity schema: the same strict validation as the
 * HTTP API, so the same input gets the same refusal (4.00 naming the field). 4.15 for another
 * content format.
 */
export function body<T extends TSchema>(req: CoapRequest, schema: T): Static<T> {
  if (req.payload.length === 0) return check(schema, undefined);
  if (req.contentFormat !== undefined && req.contentFormat !== JSON_CF)
    throw new CoapError(Code.UnsupportedContentFormat, 'the body must be JSON (Content-Format 50)');
  let v: unknown;
  try {
    v = JSON.parse(req.payload.toString('utf8'));
  } catch {
    throw new CoapError(Code.BadRequest, 'the body is not valid JSON');
  }
  return check(schema, v);
}

/** Uri-Query items against their schema, as HTTP reads its query string. */
export function query<T extends TSchema>(req: CoapRequest, schema: T): Static<T> {
  let c = queryChecks.get(schema);
  if (!c) {
    c = compileText(schema, 'query');
    queryChecks.set(schema, c);
  }
  return c(req.query) as Static<T>;
}
const queryChecks = new WeakMap<TSchema, Check<unknown>>();

/** A path id: 1..2^31-1 decimal digits, else 4.04 as no such object. */
export function id(req: CoapRequest, name: string): number {
  const s = req.params[name];
  if (!/^[1-9]\d{0,9}$/.test(s) || Number(s) > 2_147_483_647) throw new CoapError(Code.NotFound, `bad ${name} ${s}`);
  return Number(s);
}

/**
 * `limit`/`offset` from Uri-Query, as on the HTTP list routes (the service checks the ranges). CoAP
 * has no response header for the total, so a client walks until a page comes back short.
 */
export function page(req: CoapRequest): PageRequest | undefined {
  const q = query(req, PageQuery);
  // Without either, no page: the whole list and no count query.
  return req.query.limit === undefined && req.query.offset === undefined ? undefined : q;
}

export function json(value: unknown, code?: number): CoapResponseInit {
  return { code, payload: JSON.stringify(value), contentFormat: JSON_CF };
}

/**
 * What every route plugin is given, and the helpers they share: paging headers and query times.
 * A route is a few lines: its schema parses, one service call, a view renders.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifyTypeProvider,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Caller } from '../../model.ts';

export { queryTime } from '../../schema/queries.ts';

import type { Credentials } from '../../schema/users.ts';
import type { PageRequest, PlatformService } from '../../service.ts';
import type { PlatformInfo } from '../../views.ts';
import * as S from '../schemas.ts';

/** Types each handler's params, query and body from its route's TypeBox schemas. */
export interface TypeBoxProvider extends FastifyTypeProvider {
  validator: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
  serializer: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
}

/** The Fastify instance a route plugin registers on. */
export type Api = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxProvider
>;

export interface RouteContext {
  service: PlatformService;
  /** Who is asking: the secret taken before validation, authenticated by the service. */
  caller(req: FastifyRequest): Promise<Caller>;
  /** What `GET /info` reports. */
  info(): PlatformInfo;
  /** Largest raw payload (`POST …/resources/:rid/data`), bytes. */
  bodyLimit: number;
  /** Runs before a sign-in attempt is checked: slows password guessing (throws a 429). */
  loginGuard(req: FastifyRequest<{ Body: Credentials }>, reply: FastifyReply): Promise<void>;
}

/** A route plugin: one aggregate's routes. */
export type Routes = (app: Api, ctx: RouteContext) => Promise<void>;

/** The page a list route was asked for (its `total` filled in by the service). */
export function pageOf(q: { limit?: number; offset?: number }): PageRequest {
  return { limit: q.limit, offset: q.offset ?? 0 };
}

/**
 * `X-Total-Count` and, when items remain after this page, an RFC 8288 `Link` with rel="next":
 * the same request with `offset` moved on (other query parameters kept; relative to this URL).
 */
export function paged<T>(req: FastifyRequest, reply: FastifyReply, page: PageRequest, items: T[]): T[] {
  const total = page.total ?? items.length;
  reply.header('x-total-count', String(total));
  const offset = page.offset ?? 0;
  if (page.limit !== undefined && offset + items.length < total) {
    const [path, search = ''] = req.url.split('?');
    const q = new URLSearchParams(search);
    q.set('limit', String(page.limit));
    q.set('offset', String(offset + page.limit));
    reply.header('link', `<${path}?${q.toString()}>; rel="next"`);
  }
  return items;
}

interface RouteDoc<P extends TSchema> {
  tags: string[];
  params: P;
  summary?: string;
}

/**
 * A paged list route: `GET path?limit=&offset=` → the items of one page, with `X-Total-Count`
 * and a `Link rel="next"` (see {@link paged}). `items` is the response schema (an array).
 */
export function listRoute<P extends TSchema, T>(
  app: Api,
  path: string,
  doc: RouteDoc<P> & { items: object; query?: TSchema },
  list: (params: Static<P>, page: PageRequest, req: FastifyRequest) => Promise<T[]>,
): void {
  const { items, query, ...rest } = doc;
  app.get(
    path,
    { schema: { ...rest, querystring: query ?? S.PageQuery, response: { 200: items, ...S.errors } } },
    async (req, reply) => {
      const page = pageOf(req.query as { limit?: number; offset?: number });
      return paged(req, reply, page, await list(req.params as Static<P>, page, req));
    },
  );
}

/** A delete route: `DELETE path` → the service call, then 204 with no body. */
export function deleteRoute<P extends TSchema>(
  app: Api,
  path: string,
  doc: RouteDoc<P>,
  remove: (params: Static<P>, req: FastifyRequest) => Promise<unknown>,
): void {
  app.delete(
    path,
    { schema: { ...doc, querystring: S.AuthQuery, response: { ...S.noContent, ...S.errors } } },
    async (req, reply) => {
      await remove(req.params as Static<P>, req);
      return reply.status(204).send();
    },
  );
}

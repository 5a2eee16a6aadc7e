/**
 * The HTTP(S) API: Fastify routes in SicsthSense's shape over the service layer. Each route
 * parses (by its JSON schema), calls one service function with the caller, and renders a view.
 *
 * Authentication: `Authorization: Bearer SECRET` or `?key=SECRET`, where SECRET is one of a user's
 * API tokens, a sign-in session (`POST /login`), a resource's key or a stream's key (SicsthSense
 * compatible). Every 4xx/5xx answers a JSON
 * body `{ error, message }`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TSchema } from '@sinclair/typebox';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Logger } from '../../util/log.ts';
import { type Caller, PlatformError } from '../model.ts';
import { parseTime } from '../parsers.ts';
import { compile, compileText } from '../schema/validate.ts';
import type { PageRequest, PlatformService, PointInput } from '../service.ts';
import {
  apiTokenView,
  deviceCredentialView,
  type PlatformInfo,
  parserView,
  pointsCsv,
  pollLogView,
  resourceView,
  streamView,
  userView,
} from '../views.ts';
import { RateLimiter } from './rate-limit.ts';
import * as S from './schemas.ts';

export interface HttpAppOptions {
  /** Largest request body in bytes. Default 1 MiB. */
  bodyLimit?: number;
  /** TLS certificate chain and key (PEM) to serve HTTPS. */
  https?: { cert: string | Buffer; key: string | Buffer };
  logger?: Logger;
  /** Serve the OpenAPI document (/docs/json) and its browsable reference (/docs). Default true. */
  docs?: boolean;
  /** Log every request and response at info level (Fastify's default). Default false: errors only. */
  logRequests?: boolean;
  /** Serve the dashboard in `web/` at `/`. Default true (skipped when the files are absent). */
  dashboard?: boolean;
  /**
   * What `GET /info` reports. A function, because the app is built before the CoAP API binds its
   * ports (src/platform/index.ts); default: no CoAP listeners, PSK only.
   */
  info?: () => PlatformInfo;
  /**
   * Requests per second per credential (the secret presented, else the client IP); 0 = off.
   * Default 200 (config `api.rateLimit`).
   */
  rateLimit?: number;
  /** Token-bucket size per credential. Default 400 (config `api.rateBurst`). */
  rateBurst?: number;
  /** `POST /login` attempts per minute per client IP and username (bucket of the same size). Default 10; 0 = off. */
  loginPerMinute?: number;
}

/** The platform's version, as `GET /info` and the OpenAPI document report it. */
export const PLATFORM_VERSION = '0.1.0';

const WEB_DIR = new URL('../../../web/', import.meta.url);
const WEB_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/web/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/web/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/web/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** The static dashboard: its files read once, served with a CSP that allows only this origin. */
function dashboard(app: FastifyInstance): void {
  const bodies = new Map<string, Buffer>();
  try {
    for (const [path, { file }] of Object.entries(WEB_FILES)) bodies.set(path, readFileSync(new URL(file, WEB_DIR)));
  } catch {
    return; // an installation without web/: the API alone
  }
  for (const [path, { type }] of Object.entries(WEB_FILES)) {
    const body = bodies.get(path)!;
    app.get(path, { schema: { hide: true } }, async (_req, reply) => {
      reply
        .type(type)
        .header(
          'content-security-policy',
          "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        )
        .header('x-content-type-options', 'nosniff');
      return body;
    });
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The secret presented by header or ?key=, read before validation. */
    secret?: string;
  }
}

type Uid = { uid: number };
type Rid = Uid & { rid: number };
type Sid = Rid & { sid: number };
type Pid = Rid & { pid: number };

/** A `from`/`until` query value: digits are ms since the epoch, anything else ISO 8601. */
function queryTime(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  return parseTime(v, /^\d+$/.test(v) ? 'unix-ms' : 'iso8601', name);
}

/**
 * The rate-limit key of a request: a digest of the secret it presents (so no secret is kept in
 * the limiter's map), or its client IP when it presents none. Lenient: a malformed header still
 * counts against the IP, and the 401 comes later.
 */
function limitKey(req: FastifyRequest): string {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  const q = req.query as { key?: unknown } | undefined;
  const secret = m ? m[1] : typeof q?.key === 'string' ? q.key : undefined;
  if (secret === undefined || secret === '') return `ip:${req.ip}`;
  return `s:${createHash('sha256').update(secret).digest('base64url').slice(0, 22)}`;
}

/** 429 with `Retry-After` in seconds (RFC 6585 §4, RFC 9110 §10.2.3). */
function tooMany(reply: FastifyReply, wait: number, what: string): never {
  reply.header('retry-after', String(wait));
  throw new PlatformError(429, `${what}: retry after ${wait} s`);
}

type PageQuery = { limit?: number; offset?: number };

/** The page a list route was asked for (its `total` filled in by the service). */
function pageOf(req: FastifyRequest): PageRequest {
  const q = req.query as PageQuery;
  return { limit: q.limit, offset: q.offset ?? 0 };
}

/**
 * `X-Total-Count` and, when items remain after this page, an RFC 8288 `Link` with rel="next":
 * the same request with `offset` moved on (other query parameters kept; relative to this URL).
 */
function pageHeaders<T>(req: FastifyRequest, reply: FastifyReply, page: PageRequest, items: T[]): T[] {
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

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) throw new PlatformError(401, 'Authorization must be "Bearer TOKEN"');
    return m[1];
  }
  const q = req.query as { key?: unknown } | undefined;
  return typeof q?.key === 'string' ? q.key : undefined;
}

/** Builds the Fastify app (not listening). */
export async function buildHttpApp(service: PlatformService, opts: HttpAppOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: opts.bodyLimit ?? 1_048_576,
    ...(opts.logger ? { loggerInstance: opts.logger } : {}),
    logController: new LogController({ disableRequestLogging: opts.logRequests !== true }),
    ...(opts.https ? { https: { cert: opts.https.cert, key: opts.https.key } } : {}),
    // Ids in paths are small integers; this bounds the router's work on hostile URLs.
    routerOptions: { maxParamLength: 100 },
  }) as unknown as FastifyInstance;

  // One strict validator for HTTP and CoAP: bodies exactly as typed (no coercion); query strings
  // and path parameters read declared integers from decimal digits. A refusal is an InvalidInput.
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const check =
      httpPart === 'body' ? compile(schema as TSchema) : compileText(schema as TSchema, httpPart ?? 'input');
    return (data: unknown) => {
      try {
        return { value: check(data) };
      } catch (error) {
        return { error: error as Error };
      }
    };
  });

  for (const s of S.sharedSchemas) app.addSchema(s);

  app.setErrorHandler((err: FastifyError | PlatformError, req, reply) => {
    let status: number;
    let message: string;
    if (err instanceof PlatformError) {
      status = err.status;
      message = err.message;
    } else if ((err as FastifyError).validation) {
      status = 400;
      message = err.message;
    } else if ((err as FastifyError).code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      status = 415;
      message = `the body must be JSON: send Content-Type: application/json (got ${req.headers['content-type'] ?? 'none'})`;
    } else if ((err as FastifyError).statusCode && (err as FastifyError).statusCode! < 500) {
      // Fastify's own client errors: malformed JSON (400), body too large (413), media type (415).
      status = (err as FastifyError).statusCode!;
      message = err.message;
    } else {
      status = 500;
      message = 'internal error';
      req.log.error({ err }, 'request failed');
    }
    if (status >= 500 && err instanceof PlatformError) req.log.error({ err }, 'request failed');
    reply
      .status(status)
      .type('application/json')
      .send({ error: STATUS_CODES[status] ?? 'Error', message });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ error: 'Not Found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  // Per-credential token bucket, before any other work (authentication costs a store lookup).
  const rate = opts.rateLimit ?? 200;
  if (rate > 0) {
    const limiter = new RateLimiter({ rate, burst: Math.max(1, opts.rateBurst ?? 400) });
    app.addHook('onRequest', async (req, reply) => {
      const wait = limiter.take(limitKey(req));
      if (wait > 0) tooMany(reply, wait, 'too many requests');
    });
  }

  // The secret is taken before validation, so a bad Authorization header is a 401 on every route.
  app.addHook('preValidation', async (req) => {
    req.secret = bearer(req);
  });
  const caller = (req: FastifyRequest): Promise<Caller> => service.authenticate(req.secret);

  if (opts.docs !== false) {
    await app.register(swagger, {
      openapi: {
        info: {
          title: 'SecureSense platform API',
          version: PLATFORM_VERSION,
          description:
            'Users, resources, parsers, streams and data points (SicsthSense shape). Authenticate with ' +
            '`Authorization: Bearer TOKEN` or `?key=` (API token, sign-in session, resource key or stream key).',
        },
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer' },
            key: { type: 'apiKey', in: 'query', name: 'key' },
          },
        },
        security: [{ bearer: [] }, { key: [] }],
      },
      refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
  }

  const info = opts.info ?? (() => ({ version: PLATFORM_VERSION, coap: null, coaps: null, modes: ['psk'] }));
  const perMinute = opts.loginPerMinute ?? 10;
  const login = perMinute > 0 ? new RateLimiter({ rate: perMinute / 60, burst: perMinute, maxKeys: 50_000 }) : null;
  await app.register(async (api) => routes(api, service, caller, opts.bodyLimit ?? 1_048_576, info, login));
  if (opts.dashboard !== false) dashboard(app);
  return app;
}

async function routes(
  app: FastifyInstance,
  service: PlatformService,
  caller: (req: FastifyRequest) => Promise<Caller>,
  bodyLimit: number,
  info: () => PlatformInfo,
  loginLimiter: RateLimiter | null,
): Promise<void> {
  // --- platform

  app.get(
    '/info',
    {
      schema: {
        tags: ['platform'],
        summary: 'Version, the CoAP/CoAPs ports and the DTLS modes (no authentication)',
        security: [],
        response: { 200: S.InfoView },
      },
    },
    async () => info(),
  );

  // --- users

  app.post<{ Body: { username: string; password: string } }>(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: 'Create a user (open, or admin-gated by config); returns the API token once',
        body: S.Credentials,
        querystring: S.AuthQuery,
        response: { 201: S.UserWithToken, ...S.errors },
      },
    },
    async (req, reply) => {
      const { user, token } = await service.createUser(await caller(req), req.body);
      reply.status(201);
      return { ...userView(user), token };
    },
  );

  app.post<{ Body: { username: string; password: string } }>(
    '/login',
    {
      schema: {
        tags: ['users'],
        summary: 'Sign in: a session token that expires (api.sessionLifetime); the API tokens are left alone',
        body: S.Credentials,
        security: [],
        response: { 200: S.SessionView, ...S.errors },
      },
      // Password guessing is slowed per client IP and username, after the body is parsed.
      preHandler: async (req, reply) => {
        const wait = loginLimiter?.take(`${req.ip}\u0000${req.body.username}`) ?? 0;
        if (wait > 0) tooMany(reply, wait, 'too many sign-in attempts');
      },
    },
    async (req) => {
      const { user, token, expiresAt } = await service.login(req.body);
      return { ...userView(user), token, expires_at: expiresAt };
    },
  );

  app.post<{ Querystring: { key?: string } }>(
    '/logout',
    {
      schema: {
        tags: ['users'],
        summary: 'Sign out: the session token presented stops working',
        querystring: S.AuthQuery,
        response: { ...S.errors },
      },
    },
    async (req, reply) => {
      await service.logout(req.secret);
      reply.status(204).send();
    },
  );

  // A static segment wins over `:uid` in Fastify's router, so `/users/me` never reaches the id route.
  app.get(
    '/users/me',
    {
      schema: {
        tags: ['users'],
        summary: 'The user whose token this is',
        querystring: S.AuthQuery,
        response: { 200: { $ref: 'User#' }, ...S.errors },
      },
    },
    async (req) => userView(await service.whoami(await caller(req))),
  );

  app.get<{ Params: Uid }>(
    '/users/:uid',
    {
      schema: {
        tags: ['users'],
        params: S.UidParams,
        querystring: S.AuthQuery,
        response: { 200: { $ref: 'User#' }, ...S.errors },
      },
    },
    async (req) => userView(await service.getUser(await caller(req), req.params.uid)),
  );

  // --- named API tokens

  app.get<{ Params: Uid }>(
    '/users/:uid/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: "The user's API tokens: names, created, last used (never the secrets)",
        params: S.UidParams,
        querystring: S.PageQuery,
        response: { 200: S.ApiTokenList, ...S.errors },
      },
    },
    async (req, reply) => {
      const page = pageOf(req);
      const items = await service.listTokens(await caller(req), req.params.uid, page);
      return pageHeaders(req, reply, page, items.map(apiTokenView));
    },
  );

  app.post<{ Params: Uid; Body: { name: string } }>(
    '/users/:uid/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'A new named API token; its secret is returned only now',
        params: S.UidParams,
        querystring: S.AuthQuery,
        body: S.TokenCreate,
        response: { 201: S.ApiTokenCreated, ...S.errors },
      },
    },
    async (req, reply) => {
      const { token, secret } = await service.createToken(await caller(req), req.params.uid, req.body);
      reply.status(201);
      return { ...apiTokenView(token), token: secret };
    },
  );

  app.delete<{ Params: Uid & { tid: number } }>(
    '/users/:uid/tokens/:tid',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Revoke an API token: it gets 401 from now on',
        params: S.TidParams,
        querystring: S.AuthQuery,
        response: { ...S.errors },
      },
    },
    async (req, reply) => {
      await service.deleteToken(await caller(req), req.params.uid, req.params.tid);
      reply.status(204).send();
    },
  );

  app.put<{ Params: Uid; Body: { password?: string; rotate_token?: boolean } }>(
    '/users/:uid',
    {
      schema: {
        tags: ['users'],
        summary: 'Change the password and/or rotate the "default" API token (the new token is returned once)',
        params: S.UidParams,
        querystring: S.AuthQuery,
        body: S.UserPatch,
        response: { 200: S.UserWithToken, ...S.errors },
      },
    },
    async (req) => {
      const r = await service.updateUser(await caller(req), req.params.uid, {
        password: req.body.password,
        rotateToken: req.body.rotate_token,
      });
      return r.token ? { ...userView(r.user), token: r.token } : userView(r.user);
    },
  );

  app.delete<{ Params: Uid }>(
    '/users/:uid',
    { schema: { tags: ['users'], params: S.UidParams, querystring: S.AuthQuery, response: { ...S.errors } } },
    async (req, reply) => {
      await service.deleteUser(await caller(req), req.params.uid);
      reply.status(204).send();
    },
  );

  // --- resources

  const R = '/users/:uid/resources';
  app.get<{ Params: Uid }>(
    R,
    {
      schema: {
        tags: ['resources'],
        params: S.UidParams,
        querystring: S.PageQuery,
        response: { 200: { type: 'array', items: { $ref: 'Resource#' } }, ...S.errors },
      },
    },
    async (req, reply) => {
      const page = pageOf(req);
      const items = await service.listResources(await caller(req), req.params.uid, page);
      return pageHeaders(req, reply, page, items.map(resourceView));
    },
  );

  type PollingBody = {
    polling_url?: string | null;
    polling_period?: number | null;
    polling_retransmits?: number | null;
    polling_timeout_ms?: number | null;
  };
  app.post<{ Params: Uid; Body: { label: string } & PollingBody }>(
    R,
    {
      schema: {
        tags: ['resources'],
        summary: 'Create a resource; returns its secret key once',
        params: S.UidParams,
        querystring: S.AuthQuery,
        body: S.ResourceCreate,
        response: { 201: S.ResourceWithKey, ...S.errors },
      },
    },
    async (req, reply) => {
      const { resource, key } = await service.createResource(await caller(req), req.params.uid, {
        label: req.body.label,
        pollingUrl: req.body.polling_url,
        pollingPeriod: req.body.polling_period,
        pollingRetransmits: req.body.polling_retransmits,
        pollingTimeoutMs: req.body.polling_timeout_ms,
      });
      reply.status(201);
      return { ...resourceView(resource), key };
    },
  );

  app.get<{ Params: Rid }>(
    `${R}/:rid`,
    {
      schema: {
        tags: ['resources'],
        params: S.RidParams,
        querystring: S.AuthQuery,
        response: { 200: { $ref: 'Resource#' }, ...S.errors },
      },
    },
    async (req) => resourceView(await service.getResource(await caller(req), req.params.uid, req.params.rid)),
  );

  app.put<{
    Params: Rid;
    Body: { label?: string; rotate_key?: boolean } & PollingBody;
  }>(
    `${R}/:rid`,
    {
      schema: {
        tags: ['resources'],
        summary: 'Change a resource; rotate_key returns a new key once',
        params: S.RidParams,
        querystring: S.AuthQuery,
        body: S.ResourcePatch,
        response: { 200: S.ResourceWithKey, ...S.errors },
      },
    },
    async (req) => {
      const r = await service.updateResource(await caller(req), req.params.uid, req.params.rid, {
        label: req.body.label,
        pollingUrl: req.body.polling_url,
        pollingPeriod: req.body.polling_period,
        pollingRetransmits: req.body.polling_retransmits,
        pollingTimeoutMs: req.body.polling_timeout_ms,
        rotateKey: req.body.rotate_key,
      });
      return r.key ? { ...resourceView(r.resource), key: r.key } : resourceView(r.resource);
    },
  );

  app.delete<{ Params: Rid }>(
    `${R}/:rid`,
    { schema: { tags: ['resources'], params: S.RidParams, querystring: S.AuthQuery, response: { ...S.errors } } },
    async (req, reply) => {
      await service.deleteResource(await caller(req), req.params.uid, req.params.rid);
      reply.status(204).send();
    },
  );

  // --- device credentials (issue 6): the DTLS identities that act as a resource

  type DeviceBody = {
    mode: 'psk' | 'rpk' | 'x509';
    label?: string | null;
    psk_identity?: string;
    psk_key?: string;
    rpk_fingerprint?: string;
    rpk?: string;
    x509_fingerprint?: string;
    x509_certificate?: string;
    x509_name?: string;
    x509_ca?: string;
  };
  app.get<{ Params: Rid }>(
    `${R}/:rid/devices`,
    {
      schema: {
        tags: ['devices'],
        summary: "The resource's device credentials (identities and fingerprints; keys are never shown)",
        params: S.RidParams,
        querystring: S.PageQuery,
        response: { 200: { type: 'array', items: { $ref: 'DeviceCredential#' } }, ...S.errors },
      },
    },
    async (req, reply) => {
      const page = pageOf(req);
      const items = await service.listDeviceCredentials(await caller(req), req.params.uid, req.params.rid, page);
      return pageHeaders(req, reply, page, items.map(deviceCredentialView));
    },
  );

  app.post<{ Params: Rid; Body: DeviceBody }>(
    `${R}/:rid/devices`,
    {
      schema: {
        tags: ['devices'],
        summary: 'Bind a device identity (PSK, raw public key or X.509) to the resource; usable at once over coaps://',
        params: S.RidParams,
        querystring: S.AuthQuery,
        body: S.DeviceCredentialCreate,
        response: { 201: S.DeviceCredentialCreated, ...S.errors },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const r = await service.addDeviceCredential(await caller(req), req.params.uid, req.params.rid, {
        mode: b.mode,
        label: b.label,
        pskIdentity: b.psk_identity,
        pskKey: b.psk_key,
        rpkFingerprint: b.rpk_fingerprint,
        rpk: b.rpk,
        x509Fingerprint: b.x509_fingerprint,
        x509Certificate: b.x509_certificate,
        x509Name: b.x509_name,
        x509Ca: b.x509_ca,
      });
      reply.status(201);
      const view = deviceCredentialView(r.credential);
      return r.pskKey ? { ...view, psk_key: r.pskKey } : view;
    },
  );

  app.delete<{ Params: Rid & { cid: number } }>(
    `${R}/:rid/devices/:cid`,
    { schema: { tags: ['devices'], params: S.CidParams, querystring: S.AuthQuery, response: { ...S.errors } } },
    async (req, reply) => {
      await service.deleteDeviceCredential(await caller(req), req.params.uid, req.params.rid, req.params.cid);
      reply.status(204).send();
    },
  );

  app.get<{ Params: Rid; Querystring: { limit?: number; offset?: number } }>(
    `${R}/:rid/log`,
    {
      schema: {
        tags: ['resources'],
        summary: "The resource's newest poll outcomes, newest first",
        params: S.RidParams,
        querystring: S.PollLogQuery,
        response: { 200: S.PollLogList, ...S.errors },
      },
    },
    async (req, reply) => {
      const page = pageOf(req);
      const items = await service.getPollLog(await caller(req), req.params.uid, req.params.rid, page.limit, page);
      return pageHeaders(req, reply, page, items.map(pollLogView));
    },
  );

  // --- parsers

  const P = `${R}/:rid/parsers`;
  type ParserBody = {
    stream_id: number;
    kind: 'json-path' | 'regex' | 'senml';
    expression: string;
    time_format?: 'unix-s' | 'unix-ms' | 'iso8601';
  };
  app.get<{ Params: Rid }>(
    P,
    {
      schema: {
        tags: ['parsers'],
        params: S.RidParams,
        querystring: S.PageQuery,
        response: { 200: { type: 'array', items: { $ref: 'Parser#' } }, ...S.errors },
      },
    },
    async (req, reply) => {
      const page = pageOf(req);
      const items = await service.listParsers(await caller(req), req.params.uid, req.params.rid, page);
      return pageHeaders(req, reply, page, items.map(parserView));
    },
  );

  app.post<{ Params: Rid; Body: ParserBody }>(
    P,
    {
      schema: {
        tags: ['parsers'],
        params: S.RidParams,
        querystring: S.AuthQuery,
        body: S.ParserCreate,
        response: { 201: { $ref: 'Parser#' }, ...S.errors },
      },
    },
    async (req, reply) => {
      const p = await service.createParser(await caller(req), req.params.uid, req.params.rid, {
        streamId: req.body.stream_id,
        kind: req.body.kind,
        expression: req.body.expression,
        timeFormat: req.body.time_format,
      });
      reply.status(201);
      return parserView(p);
    },
  );

  app.get<{ Params: Pid }>(
    `${P}/:pid`,
    {
      schema: {
        tags: ['parsers'],
        params: S.PidParams,
        querystring: S.AuthQuery,
        response: { 200: { $ref: 'Parser#' }, ...S.errors },
      },
    },
    async (req) =>
      parserView(await service.getParser(await caller(req), req.params.uid, req.params.rid, req.params.pid)),
  );

  app.put<{ Params: Pid; Body: Partial<ParserBody> }>(
    `${P}/:pid`,
    {
      schema: {
        tags: ['parsers'],
        params: S.PidParams,
        querystring: S.AuthQuery,
        body: S.ParserPatch,
        response: { 200: { $ref: 'Parser#' }, ...S.errors },
      },
    },
    async (req) =>
      parserView(
        await service.updateParser(await caller(req), req.params.uid, req.params.rid, req.params.pid, {
          streamId: req.body.stream_id,
          kind: req.body.kind,
          expression: req.body.expression,
          timeFormat: req.body.time_format,
        }),
      ),
  );

  app.delete<{ Params: Pid }>(
    `${P}/:pid`,
    { schema: { tags: ['parsers'], params: S.PidParams, querystring: S.AuthQuery, response: { ...S.errors } } },
    async (req, reply) => {
      await service.deleteParser(await caller(req), req.params.uid, req.params.rid, req.params.pid);
      reply.status(204).send();
    },
  );

  // --- raw resource data: any content type, kept as bytes for the parsers

  await app.register(async (raw) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
    raw.post<{ Params: Rid; Body: Buffer }>(
      `${R}/:rid/data`,
      {
        schema: {
          tags: ['data'],
          summary: "A raw payload through the resource's parsers (JSON, text, SenML JSON/CBOR)",
          description:
            'All points of the payload are stored in one transaction, or none. The first JSON or SenML payload ' +
            'to a resource with no parsers creates one stream and parser per value.',
          params: S.RidParams,
          querystring: S.AuthQuery,
          response: { 200: S.IngestResponse, ...S.errors },
        },
      },
      async (req) => {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        if (body.length === 0) throw new PlatformError(400, 'empty payload');
        const r = await service.postResourceData(await caller(req), req.params.uid, req.params.rid, {
          body,
          contentType: req.headers['content-type'] ?? null,
        });
        return { stored: r.stored, created: r.created.map(streamView) };
      },
    );
  });

  // --- streams

  const ST = `${R}/:rid/streams`;
  type StreamBody = {
    label?: string;
    unit?: string | null;
    type?: 'numeric' | 'text';
    public?: boolean;
    retention_max_points?: number | null;
    retention_max_age_ms?: number | null;
    rotate_key?: boolean;
  };
  app.get<{ Params: Rid }>(
    ST,
    {
      schema: {
        tags: ['streams'],
        params: S.RidParams,
        querystring: S.PageQuery,
        response: { 200: { type: 'array', items: { $ref: 'Stream#' } }, ...S.errors },
      },
    },
    async (req, reply) => {
      const page = pageOf(req);
      const items = await service.listStreams(await caller(req), req.params.uid, req.params.rid, page);
      return pageHeaders(req, reply, page, items.map(streamView));
    },
  );

  app.post<{ Params: Rid; Body: StreamBody & { label: string } }>(
    ST,
    {
      schema: {
        tags: ['streams'],
        summary: 'Create a stream; returns its secret key once',
        params: S.RidParams,
        querystring: S.AuthQuery,
        body: S.StreamCreate,
        response: { 201: S.StreamWithKey, ...S.errors },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const { stream, key } = await service.createStream(await caller(req), req.params.uid, req.params.rid, {
        label: b.label,
        unit: b.unit,
        type: b.type,
        public: b.public,
        retentionMaxPoints: b.retention_max_points,
        retentionMaxAgeMs: b.retention_max_age_ms,
      });
      reply.status(201);
      return { ...streamView(stream), key };
    },
  );

  app.get<{ Params: Sid }>(
    `${ST}/:sid`,
    {
      schema: {
        tags: ['streams'],
        summary: 'A stream (public streams are readable by anyone)',
        params: S.SidParams,
        querystring: S.AuthQuery,
        response: { 200: { $ref: 'Stream#' }, ...S.errors },
      },
    },
    async (req) =>
      streamView(await service.getStream(await caller(req), req.params.uid, req.params.rid, req.params.sid)),
  );

  app.put<{ Params: Sid; Body: StreamBody }>(
    `${ST}/:sid`,
    {
      schema: {
        tags: ['streams'],
        params: S.SidParams,
        querystring: S.AuthQuery,
        body: S.StreamPatch,
        response: { 200: S.StreamWithKey, ...S.errors },
      },
    },
    async (req) => {
      const b = req.body;
      const r = await service.updateStream(await caller(req), req.params.uid, req.params.rid, req.params.sid, {
        label: b.label,
        unit: b.unit,
        public: b.public,
        retentionMaxPoints: b.retention_max_points,
        retentionMaxAgeMs: b.retention_max_age_ms,
        rotateKey: b.rotate_key,
      });
      return r.key ? { ...streamView(r.stream), key: r.key } : streamView(r.stream);
    },
  );

  app.delete<{ Params: Sid }>(
    `${ST}/:sid`,
    { schema: { tags: ['streams'], params: S.SidParams, querystring: S.AuthQuery, response: { ...S.errors } } },
    async (req, reply) => {
      await service.deleteStream(await caller(req), req.params.uid, req.params.rid, req.params.sid);
      reply.status(204).send();
    },
  );

  // --- stream data

  app.get<{ Params: Sid; Querystring: { from?: string; until?: string; limit?: number; format?: 'json' | 'csv' } }>(
    `${ST}/:sid/data`,
    {
      schema: {
        tags: ['data'],
        summary: 'The newest `limit` points in [from, until], oldest first, as JSON or CSV',
        params: S.SidParams,
        querystring: S.DataQuery,
        response: {
          200: {
            description: 'JSON (application/json) or RFC 4180 CSV (text/csv) with a `time,value` header',
            content: {
              'application/json': { schema: S.PointsView },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          ...S.errors,
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const { stream, points } = await service.getStreamData(
        await caller(req),
        req.params.uid,
        req.params.rid,
        req.params.sid,
        {
          from: queryTime(q.from, 'from'),
          until: queryTime(q.until, 'until'),
          limit: q.limit,
        },
      );
      if (q.format === 'csv') {
        reply.type('text/csv; charset=utf-8');
        return pointsCsv(points);
      }
      reply.type('application/json');
      return { stream_id: stream.id, label: stream.label, unit: stream.unit, points };
    },
  );

  app.post<{ Params: Sid; Body: PointInput | PointInput[] | { points: PointInput[] } }>(
    `${ST}/:sid/data`,
    {
      schema: {
        tags: ['data'],
        summary: 'Store points: {value, time?}, an array of them, or {points: [...]}; time is ms or ISO 8601',
        params: S.SidParams,
        querystring: S.AuthQuery,
        body: S.PointsBody,
        response: { 200: S.IngestCount, ...S.errors },
      },
    },
    async (req) => {
      const b = req.body;
      const list = Array.isArray(b) ? b : 'points' in b ? b.points : [b];
      const stored = await service.postStreamData(
        await caller(req),
        req.params.uid,
        req.params.rid,
        req.params.sid,
        list,
      );
      return { stored };
    },
  );

  app.delete<{ Params: Sid; Querystring: { from?: string; until?: string } }>(
    `${ST}/:sid/data`,
    {
      schema: {
        tags: ['data'],
        summary: 'Delete the points in [from, until] (all without bounds)',
        params: S.SidParams,
        querystring: S.RangeQuery,
        response: { 200: S.IngestCount, ...S.errors },
      },
    },
    async (req) => {
      const deleted = await service.deleteStreamData(
        await caller(req),
        req.params.uid,
        req.params.rid,
        req.params.sid,
        {
          from: queryTime(req.query.from, 'from'),
          until: queryTime(req.query.until, 'until'),
        },
      );
      return { deleted };
    },
  );
}

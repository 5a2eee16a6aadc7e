/**
 * The HTTP(S) API: Fastify routes in SicsthSense's shape over the service layer. This module
 * builds the app — the strict validator, the error mapping, the rate limits, authentication and
 * the OpenAPI document — and registers one plugin per aggregate from `routes/*.ts`; each route
 * parses (by its TypeBox schema), calls one service function with the caller, and renders a view.
 * A new route goes in its aggregate's plugin; a new aggregate gets a plugin in the list below.
 *
 * Authentication: `Authorization: Bearer SECRET` or `?key=SECRET`, where SECRET is one of a user's
 * API tokens, a sign-in session (`POST /login`), a resource's key or a stream's key (SicsthSense
 * compatible). Every 4xx/5xx answers a JSON
 * body `{ error, message }`.
 */
import { STATUS_CODES } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TSchema } from '@sinclair/typebox';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from '../../util/log.ts';
import { Unauthenticated } from '../errors.ts';
import { FleetMonitor } from '../fleet.ts';
import type { ClientLimits } from '../limits.ts';
import type { PlatformMetrics } from '../metrics.ts';
import { type Caller, PlatformError } from '../model.ts';
import { loggablePath } from '../redact.ts';
import { compile, compileText } from '../schema/validate.ts';
import type { PlatformService } from '../service.ts';
import type { PlatformInfo } from '../views.ts';
import { dashboard } from './dashboard.ts';
import { httpStatusOf } from './errors.ts';
import { installRateLimits } from './rate-limit.ts';
import type { RouteContext, TypeBoxProvider } from './routes/context.ts';
import { dataRoutes } from './routes/data.ts';
import { fleetRoutes } from './routes/fleet.ts';
import { opsRoutes } from './routes/ops.ts';
import { parserRoutes } from './routes/parsers.ts';
import { platformRoutes } from './routes/platform.ts';
import { pskRotationRoutes } from './routes/psk-rotation.ts';
import { resourceRoutes } from './routes/resources.ts';
import { streamRoutes } from './routes/streams.ts';
import { userRoutes } from './routes/users.ts';
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
   * Requests per second per client address before authentication and per principal after
   * (http/rate-limit.ts); 0 = off. Default 200 (config `api.rateLimit`).
   */
  rateLimit?: number;
  /** Token-bucket size of `rateLimit`. Default 400 (config `api.rateBurst`). */
  rateBurst?: number;
  /** Failed authentications per minute per client address before it is refused (bucket of the same size). Default 60; 0 = off. */
  failedAuthPerMinute?: number;
  /**
   * Limits shared with the other APIs of this process (createPlatform passes one set to HTTP, HTTPS
   * and CoAP); when given, `rateLimit`, `rateBurst`, `failedAuthPerMinute` and `loginPerMinute` are not used.
   */
  limits?: ClientLimits;
  /** Counts and times every request for `GET /metrics` (metrics.ts); absent: no `/metrics` route. */
  metrics?: PlatformMetrics;
  /** What `GET /ready` waits for (createPlatform: a store query); absent: always ready. */
  ready?: () => Promise<void>;
  /** `POST /login` attempts per minute per client IP and username (bucket of the same size). Default 10; 0 = off. */
  loginPerMinute?: number;
  /** Handshakes and device activity for the dashboard's overview and events. Default: a fresh, unfed one. */
  fleet?: FleetMonitor;
}

/** The platform's version, as `GET /info` and the OpenAPI document report it. */
export const PLATFORM_VERSION = '0.1.0';

declare module 'fastify' {
  interface FastifyRequest {
    /** The secret presented by header or ?key=, read before validation. */
    secret?: string;
  }
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (h !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) throw new Unauthenticated('Authorization must be "Bearer TOKEN"');
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
      status = httpStatusOf(err);
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

  // The access log (info) and the request metrics: the path without secret query values.
  app.addHook('onResponse', async (req, reply) => {
    const ms = reply.elapsedTime;
    const route = req.routeOptions.url ?? 'unmatched';
    opts.metrics?.httpAnswered({ method: req.method, route, status: reply.statusCode, ms });
    req.log.info(
      {
        method: req.method,
        path: loggablePath(req.url),
        status: reply.statusCode,
        ms: Math.round(ms * 10) / 10,
        ip: req.ip,
      },
      'http request',
    );
  });

  // Rate limits by client address, then by principal, before any other work (http/rate-limit.ts).
  const limits = installRateLimits(
    app,
    opts.limits ?? {
      rate: opts.rateLimit ?? 200,
      burst: opts.rateBurst ?? 400,
      loginPerMinute: opts.loginPerMinute ?? 10,
      failuresPerMinute: opts.failedAuthPerMinute,
    },
  );

  // The secret is taken before validation, so a bad Authorization header is a 401 on every route.
  app.addHook('preValidation', async (req) => {
    req.secret = bearer(req);
  });
  const caller = async (req: FastifyRequest): Promise<Caller> =>
    limits.authenticated(req, await service.authenticate(req.secret));

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

  // Password guessing is slowed per client address and username (the login route's preHandler).
  const ctx: RouteContext = {
    service,
    caller,
    info: opts.info ?? (() => ({ version: PLATFORM_VERSION, coap: null, coaps: null, modes: ['psk'] })),
    bodyLimit: opts.bodyLimit ?? 1_048_576,
    loginGuard: async (req, reply) => limits.login(req, reply, req.body.username),
  };
  // One plugin per aggregate (routes/*.ts), each typed from its TypeBox schemas.
  const fleet = fleetRoutes(opts.fleet ?? new FleetMonitor(), { sseOpen: 0, sseRefused: 0 });
  for (const routes of [
    platformRoutes,
    userRoutes,
    resourceRoutes,
    parserRoutes,
    streamRoutes,
    dataRoutes,
    fleet,
    pskRotationRoutes,
  ]) {
    await app.register(async (api) => routes(api.withTypeProvider<TypeBoxProvider>(), ctx));
  }
  await app.register(async (api) => opsRoutes(api, { metrics: opts.metrics, ready: opts.ready }));
  if (opts.dashboard !== false) dashboard(app);
  return app;
}

/**
 * The SecureSense platform: public API (`securesense/platform`).
 *
 * ```ts
 * import { createPlatform, loadConfig } from 'securesense/platform';
 *
 * // Defaults < SECURESENSE_* environment < overrides; throws ConfigError listing every bad value.
 * const platform = await createPlatform(loadConfig({ overrides: { db: ':memory:', http: { port: 0 } } }));
 * console.log(platform.http.plain?.url);    // http://0.0.0.0:40123
 * const { user, token } = await platform.service.createUser({ kind: 'anonymous' }, { username: 'ann', password: 'correct horse' });
 * await platform.close();
 * ```
 *
 * The layers: {@link PlatformService} (use cases, one for every API) over a {@link Store}
 * (SQLite or PostgreSQL), with the HTTP(S) API from {@link buildHttpApp} and, when asked
 * (`{ coap: true, poller: true }`), the CoAP/CoAPs API and the poller in front (docs/platform-coap.md).
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../util/log.ts';
import { type CoapApi, type CoapApiListenOptions, startCoapApi } from './coap/api.ts';
import type { SecureSenseConfig } from './config.ts';
import { DeviceDirectory } from './devices.ts';
import { StoreSessionCache } from './dtls-sessions.ts';
import { bindDualStack, urlOf } from './dual-stack.ts';
import { FleetMonitor } from './fleet.ts';
import { buildHttpApp, PLATFORM_VERSION } from './http/app.ts';
import { ClientLimits } from './limits.ts';
import { PlatformMetrics } from './metrics.ts';
import { NetGuard } from './net-guard.ts';
import { Poller, type PollerOptions } from './poller/index.ts';
import { PlatformService } from './service.ts';
import { SharedLimits } from './shared-limits.ts';
import { openStore, type Store } from './store/index.ts';
import type { PlatformInfo } from './views.ts';

export {
  buildCoapApi,
  type CoapApi,
  type CoapApiListenOptions,
  type CoapApiOptions,
  coapCodeOf,
  startCoapApi,
} from './coap/api.ts';
export { ConfigError, DEFAULT_CONFIG, loadConfig, type SecureSenseConfig } from './config.ts';
export { type DeviceCredentialInput, DeviceDirectory } from './devices.ts';
export { StoreSessionCache, type StoreSessionCacheOptions } from './dtls-sessions.ts';
export { dtlsStats } from './dtls-stats.ts';
export {
  Conflict,
  type ErrorKind,
  Forbidden,
  Internal,
  Invalid,
  InvalidInput,
  NotFound,
  RateLimited,
  TooLarge,
  Unauthenticated,
  Unavailable,
  Unprocessable,
} from './errors.ts';
export { type DeviceState, type FleetEvent, FleetMonitor } from './fleet.ts';
export { buildHttpApp, type HttpAppOptions } from './http/app.ts';
export { httpStatusOf } from './http/errors.ts';
export { ClientLimits, type ClientLimitsOptions, type LimitRefusals, RateLimiter } from './limits.ts';
export { PlatformMetrics, type PlatformMetricsOptions } from './metrics.ts';
export * from './model.ts';
export { type AddressClass, addressClass, ForbiddenAddressError, NetGuard, type NetGuardOptions } from './net-guard.ts';
export { proposeStreams, runParsers } from './parsers.ts';
export { type PlatformDtlsCredentials, Poller, type PollerOptions } from './poller/index.ts';
export * from './service.ts';
export { dropPostgresSchema, type Engine, isPostgresUrl, openStore, type Store } from './store/index.ts';
export * from './views.ts';

/** One listening Fastify app and the URL it answers on. */
export interface HttpListener {
  app: FastifyInstance;
  /** e.g. `http://127.0.0.1:8080`; the real port when 0 was asked for. */
  url: string;
  port: number;
}

export interface Platform {
  service: PlatformService;
  store: Store;
  /** Maps DTLS identities to the resources they are bound to. */
  devices: DeviceDirectory;
  /** The CoAP/CoAPs API, when `coap` was asked for. */
  coap?: CoapApi;
  /** The poller, when asked for. */
  poller?: Poller;
  /** Handshakes and device activity seen by this process (the dashboard's overview and events). */
  fleet: FleetMonitor;
  /** The coaps:// API's session cache in the store, when `config.dtls.sessionKey` is set. */
  dtlsSessions?: StoreSessionCache;
  /** The rate limits every API of this process shares, with their refusal counters. */
  limits: ClientLimits;
  /** The Prometheus metrics every API of this process reports to (`GET /metrics`). */
  metrics: PlatformMetrics;
  http: {
    /** The plain HTTP API, unless `config.http.port` is null. */
    plain?: HttpListener;
    /** The HTTPS API, when `config.https.port`, `cert` and `key` are set. */
    secure?: HttpListener;
  };
  /** Stops the listeners (in-flight requests finish) and closes the store. */
  close(): Promise<void>;
}

export interface CreatePlatformOptions {
  logger?: Logger;
  /** PostgreSQL only: the schema to use instead of `public` (tests use a fresh one). */
  pgSchema?: string;
  /** Do not start listeners even when ports are configured (e.g. for `inject()` tests). */
  listen?: boolean;
  /**
   * Start the CoAP (`config.coap.port`) and CoAPs (`config.coap.coapsPort`) API.
   * Default false, so that embedding the platform binds no UDP port unasked; `npm start` turns it on.
   */
  coap?: boolean | Omit<CoapApiListenOptions, 'host' | 'port' | 'coapsPort'>;
  /** Run the poller. Default false. */
  poller?: boolean | PollerOptions;
  /** SO_REUSEPORT on every listener: one of several worker processes sharing the ports. */
  reusePort?: boolean;
}

async function listen(
  app: FastifyInstance,
  host: string,
  port: number,
  scheme: 'http' | 'https',
  reusePort = false,
): Promise<HttpListener> {
  // '::' with ipv6Only false: IPv6 and IPv4 (mapped) clients on one socket (dual-stack.ts).
  const bound = await bindDualStack(host, scheme, async (h) => {
    await app.listen({ host: h, port, ipv6Only: false, ...(reusePort ? { reusePort } : {}) });
    return h;
  });
  const addr = app.server.address();
  const real = typeof addr === 'object' && addr ? addr.port : port;
  return { app, url: urlOf(scheme, bound, real), port: real };
}

/**
 * Opens the store (running migrations), builds the service and starts the HTTP and HTTPS
 * listeners the config asks for.
 */
export async function createPlatform(config: SecureSenseConfig, opts: CreatePlatformOptions = {}): Promise<Platform> {
  // Metrics (GET /metrics) see the store through a timing wrapper: the service, poller and caches use it.
  const metrics = new PlatformMetrics({ logger: opts.logger });
  const store = metrics.instrumentStore(await openStore({ db: config.db, schema: opts.pgSchema, logger: opts.logger }));
  const service = new PlatformService({
    store,
    signup: config.api.signup,
    adminToken: config.api.adminToken,
    maxReadLimit: config.api.maxReadLimit,
    sessionLifetimeMs: config.api.sessionLifetime * 1000,
    netGuard: new NetGuard({ allow: config.poller.allow }),
    logger: opts.logger,
  });
  const devices = new DeviceDirectory(store, opts.logger);
  // One set of rate limits for every front end of this process: HTTP, HTTPS and CoAP share buckets.
  // Shared through the store with every other front end on it unless rateLimitSync is 0.
  const sharedLimits =
    config.api.rateLimitSync > 0
      ? new SharedLimits({ store, intervalMs: config.api.rateLimitSync, logger: opts.logger })
      : undefined;
  const limits = new ClientLimits({
    rate: config.api.rateLimit,
    burst: config.api.rateBurst,
    loginPerMinute: 10,
    failuresPerMinute: config.api.authFailureLimit,
    shared: sharedLimits,
  });
  metrics.watchLimits(limits);
  // GET /ready: the database answers a query (a count on an index; no user data read).
  const ready = async (): Promise<void> => {
    await store.countList('resources', 0);
  };
  const fleet = new FleetMonitor();
  const unwatchPoints = service.watchPoints((_sid, points) => fleet.stored(points.length));
  let unfollow: (() => void) | undefined;
  const http: Platform['http'] = {};
  // GET /info reads the CoAP listeners when asked: the HTTP apps are built before they bind.
  const given = typeof opts.coap === 'object' ? opts.coap : {};
  let coapApi: CoapApi | undefined;
  const info = (): PlatformInfo => ({
    version: PLATFORM_VERSION,
    coap: coapApi?.coap ? { port: coapApi.coap.port } : null,
    coaps: coapApi?.coaps ? { port: coapApi.coaps.port } : null,
    modes: [
      'psk',
      ...(given.dtls?.rpk ? (['rpk'] as const) : []),
      ...(given.dtls?.certificate ? (['x509'] as const) : []),
    ],
  });
  const apps: FastifyInstance[] = [];
  let coap: CoapApi | undefined;
  let poller: Poller | undefined;
  let dtlsSessions: StoreSessionCache | undefined;
  // Stops what has started, in the reverse order of its start: on close and on a failed start.
  const stopAll = async (): Promise<void> => {
    await poller?.stop();
    await coap?.close();
    await dtlsSessions?.close();
    for (const a of apps) await a.close();
    await sharedLimits?.close();
    await store.close();
  };
  try {
    // The HTTP and HTTPS apps differ only in their TLS material.
    const appOptions = {
      bodyLimit: config.api.bodyLimit,
      logger: opts.logger,
      info,
      limits,
      metrics,
      ready,
      fleet,
    };
    if (config.http.port !== null) {
      const app = await buildHttpApp(service, appOptions);
      apps.push(app);
      http.plain =
        opts.listen === false
          ? { app, url: '', port: 0 }
          : await listen(app, config.http.host, config.http.port, 'http', opts.reusePort);
    }
    if (config.https.port !== null && config.https.cert && config.https.key) {
      const app = await buildHttpApp(service, {
        ...appOptions,
        https: { cert: readFileSync(config.https.cert), key: readFileSync(config.https.key) },
      });
      apps.push(app);
      http.secure =
        opts.listen === false
          ? { app, url: '', port: 0 }
          : await listen(app, config.https.host, config.https.port, 'https', opts.reusePort);
    }
    if (opts.coap && opts.listen !== false) {
      // The coaps:// limits from the config; options given in code take precedence.
      let dtls: typeof given.dtls = {
        maxSessions: config.dtls.maxSessions,
        maxCachedSessions: config.dtls.sessionCache,
        maxHandshakes: config.dtls.maxHandshakes,
        handshakeTimeoutMs: config.dtls.handshakeTimeout,
        idleTimeoutMs: config.dtls.idleTimeout,
        recvBufferSize: config.dtls.recvBuffer,
        ...given.dtls,
      };
      if (config.coap.coapsPort !== null && !dtls?.sessionCache) {
        if (config.dtls.sessionKey) {
          // Several front ends over one store resume each other's sessions (docs/platform-coap.md).
          dtlsSessions = new StoreSessionCache({
            store,
            secret: config.dtls.sessionKey,
            lifetimeMs: config.dtls.sessionLifetime * 1000,
            writeBatchMs: config.dtls.sessionWriteBatch,
            logger: opts.logger,
          });
          dtls = { ...dtls, sessionCache: dtlsSessions };
          opts.logger?.info(
            { engine: store.engine, lifetimeS: config.dtls.sessionLifetime },
            'DTLS sessions are kept in the store, sealed: front ends with the same session key resume them',
          );
        } else {
          opts.logger?.info(
            'DTLS sessions are kept in memory: a device resumes only with this process (set SECURESENSE_SESSION_KEY to share them through the store)',
          );
        }
      }
      coap = await startCoapApi(service, devices, {
        maxBodySize: config.api.bodyLimit,
        limits,
        metrics,
        ...given,
        dtls,
        logger: opts.logger,
        host: config.coap.host,
        port: config.coap.port,
        coapsPort: config.coap.coapsPort,
        reusePort: opts.reusePort,
      });
      coapApi = coap;
      if (coap.coaps)
        unfollow = fleet.follow(
          coap.coaps.transport.server,
          (identity) => devices.resourceFor(identity),
          (err) => opts.logger?.warn({ err }, 'handshake not recorded for the overview'),
        );
    }
    if (opts.poller) {
      // The poller shows coaps:// devices the same raw public key and certificate as the CoAPs API.
      const own = typeof opts.coap === 'object' ? opts.coap.dtls : undefined;
      poller = new Poller(service, {
        logger: opts.logger,
        ...(own?.certificate || own?.rpk ? { dtls: { certificate: own.certificate, rpk: own.rpk } } : {}),
        ...(typeof opts.poller === 'object' ? opts.poller : {}),
      });
      await poller.start();
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    service,
    store,
    devices,
    fleet,
    coap,
    poller,
    dtlsSessions,
    limits,
    metrics,
    http,
    close() {
      closed ??= (async () => {
        unfollow?.();
        unwatchPoints();
        await stopAll();
      })();
      return closed;
    },
  };
}

/**
 * The platform's CoAP API: the HTTP API's functions as CoAP resources over the same
 * service layer, on `coap://` (5683) and `coaps://` (5684). Five resource types, paths as in HTTP:
 *
 *   Users          POST /users, POST /login, GET|PUT|DELETE /users/:uid
 *   Resources      GET|POST /users/:uid/resources, GET|PUT|DELETE …/resources/:rid
 *   Resource data  POST …/resources/:rid/data           (a raw payload through the parsers)
 *   Streams        GET|POST …/resources/:rid/streams, GET|PUT|DELETE …/streams/:sid
 *   Stream data    GET|POST|DELETE …/streams/:sid/data  (GET observable, RFC 7641)
 *
 * Who is asking: over coaps:// the DTLS handshake's PeerIdentity, mapped through the device
 * credentials to the one resource it is bound to (nothing else: a `?key=` is ignored there); over
 * coap:// a `?key=` query item as in HTTP (user token, resource key or stream key). Bodies are
 * JSON (Content-Format 50) with the HTTP API's field names; answers are JSON; large answers go
 * out block-wise (RFC 7959 Block2, done by the CoAP server). A PlatformError's HTTP status becomes
 * the CoAP code with the same class and detail (400 → 4.00, 403 → 4.03, 409 → 4.09, 413 → 4.13),
 * with its message as diagnostic payload (RFC 7252 §5.5.2).
 */

import type { Static, TSchema } from '@sinclair/typebox';
import {
  CoapError,
  type CoapRequest,
  type CoapResponseInit,
  CoapServer,
  type CoapServerOptions,
  Code,
  ContentFormat,
  contentFormatName,
  DtlsServerTransport,
  UdpTransport,
} from '../../coap/index.ts';
import type { DtlsServerOptions } from '../../dtls/index.ts';
import type { Logger } from '../../util/log.ts';
import type { DeviceDirectory } from '../devices.ts';
import { bindDualStack, urlOf } from '../dual-stack.ts';
import { DomainError, type ErrorKind } from '../errors.ts';
import { ClientLimits } from '../limits.ts';
import type { PlatformMetrics } from '../metrics.ts';
import { type Caller, type DataPoint, PlatformError } from '../model.ts';
import { parseTime } from '../parsers.ts';
import { PointsBody, pointsOf } from '../schema/points.ts';
import { DataQuery, PageQuery, RangeQuery } from '../schema/queries.ts';
import { ResourceCreate, ResourcePatch, resourceInput, resourceView } from '../schema/resources.ts';
import { StreamCreate, StreamPatch, streamInput, streamView } from '../schema/streams.ts';
import { Credentials, UserPatch, userPatchInput, userView } from '../schema/users.ts';
import { type Check, check, compileText } from '../schema/validate.ts';
import type { PageRequest, PlatformService } from '../service.ts';
import { pointsCsv } from '../views.ts';
import { CoapLimits } from './rate-limit.ts';

const JSON_CF = ContentFormat['application/json'];

export interface CoapApiOptions extends Pick<CoapServerOptions, 'params' | 'blockSize' | 'maxBodySize' | 'observe'> {
  logger?: Logger;
  /** The rate limits (shared with the HTTP API by createPlatform); default: the config defaults, this API's own. */
  limits?: ClientLimits;
}

/** HTTP status → CoAP code of the same class and detail (RFC 7252 §12.1.2; 4.09 from RFC 8132). */
export function coapCodeOf(status: number): number {
  const cls = Math.floor(status / 100);
  const detail = status % 100;
  if ((cls === 4 || cls === 5) && detail < 32) return (cls << 5) | detail;
  return Code.InternalServerError;
}

/** The CoAP answer to each kind of domain error (4.09 Conflict from RFC 8132 §6.1). */
const COAP_CODE: Record<ErrorKind, number> = {
  invalid: Code.BadRequest,
  forbidden: Code.Forbidden,
  'not-found': Code.NotFound,
  conflict: (4 << 5) | 9,
};

/** A domain error or service refusal as a CoAP code and diagnostic payload (RFC 7252 §5.5.2). */
function fail(err: unknown): never {
  if (err instanceof DomainError) throw new CoapError(COAP_CODE[err.kind], err.message);
  if (err instanceof PlatformError) throw new CoapError(coapCodeOf(err.status), err.message);
  throw err;
}

/**
 * The request body as JSON, checked against its entity schema: the same strict validation as the
 * HTTP API, so the same input gets the same refusal (4.00 naming the field). 4.15 for another
 * content format.
 */
function body<T extends TSchema>(req: CoapRequest, schema: T): Static<T> {
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
function query<T extends TSchema>(req: CoapRequest, schema: T): Static<T> {
  let c = queryChecks.get(schema);
  if (!c) {
    c = compileText(schema, 'query');
    queryChecks.set(schema, c);
  }
  return c(req.query) as Static<T>;
}
const queryChecks = new WeakMap<TSchema, Check<unknown>>();

/** A path id: 1..2^31-1 decimal digits, else 4.04 as no such object. */
function id(req: CoapRequest, name: string): number {
  const s = req.params[name];
  if (!/^[1-9]\d{0,9}$/.test(s) || Number(s) > 2_147_483_647) throw new CoapError(Code.NotFound, `bad ${name} ${s}`);
  return Number(s);
}

/**
 * `limit`/`offset` from Uri-Query, as on the HTTP list routes (the service checks the ranges). CoAP
 * has no response header for the total, so a client walks until a page comes back short.
 */
function page(req: CoapRequest): PageRequest | undefined {
  const q = query(req, PageQuery);
  // Without either, no page: the whole list and no count query.
  return req.query.limit === undefined && req.query.offset === undefined ? undefined : q;
}

function json(value: unknown, code?: number): CoapResponseInit {
  return { code, payload: JSON.stringify(value), contentFormat: JSON_CF };
}

function queryTime(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  return parseTime(v, /^\d+$/.test(v) ? 'unix-ms' : 'iso8601', name);
}

/** The CoAP server with the platform's routes (not listening). */
export function buildCoapApi(
  service: PlatformService,
  devices: DeviceDirectory,
  opts: CoapApiOptions = {},
): CoapServer {
  // Closing the server also ends the service subscriptions of observed streams.
  const server = new (class extends CoapServer {
    override async close(): Promise<void> {
      for (const w of watched.values()) w.stop();
      watched.clear();
      await super.close();
    }
  })({ ...opts, maxBodySize: opts.maxBodySize ?? 1024 * 1024, logger: opts.logger });

  // 4.29 Too Many Requests by source address, then by principal (coap/rate-limit.ts).
  const limits = new CoapLimits(opts.limits ?? new ClientLimits({ rate: 200, burst: 400, loginPerMinute: 10 }));
  const caller = async (req: CoapRequest): Promise<Caller> => {
    if (req.scheme === 'coaps') {
      const identity = req.peer.identity;
      if (!identity) throw new CoapError(Code.Unauthorized, 'no DTLS identity');
      const c = await devices.callerFor(identity);
      if (!c) throw new CoapError(Code.Unauthorized, 'this DTLS identity is bound to no resource');
      return limits.authenticated(req, c);
    }
    return limits.authenticated(req, await service.authenticate(req.query.key));
  };

  /** Wraps a handler: the rate limits first; PlatformErrors become CoAP codes. */
  const h =
    (fn: (req: CoapRequest) => Promise<CoapResponseInit>) =>
    async (req: CoapRequest): Promise<CoapResponseInit> => {
      const refused = limits.admit(req);
      if (refused) return refused;
      try {
        return await fn(req);
      } catch (err) {
        return limits.onError(req, err) ?? fail(err);
      }
    };
  const opt = { produces: [JSON_CF] };

  // --- Users

  server.post(
    '/users',
    h(async (req) => {
      const { user, token } = await service.createUser(await caller(req), body(req, Credentials));
      return { ...json({ ...userView(user), token }), code: Code.Created, locationPath: ['users', String(user.id)] };
    }),
    { ...opt, title: 'Users', rt: 'securesense.users' },
  );
  server.post(
    '/login',
    h(async (req) => {
      const credentials = body(req, Credentials);
      limits.login(req, credentials.username);
      // A sign-in session (ssn_…) that expires, as over HTTP; the API tokens are left alone.
      const { user, token, expiresAt } = await service.login(credentials);
      return json({ ...userView(user), token, expires_at: expiresAt }, Code.Changed);
    }),
    opt,
  );
  server.get(
    '/users/:uid',
    h(async (req) => json(userView(await service.getUser(await caller(req), id(req, 'uid'))))),
    opt,
  );
  server.put(
    '/users/:uid',
    h(async (req) => {
      const b = body(req, UserPatch);
      const r = await service.updateUser(await caller(req), id(req, 'uid'), userPatchInput(b));
      return json(r.token ? { ...userView(r.user), token: r.token } : userView(r.user), Code.Changed);
    }),
    opt,
  );
  server.delete(
    '/users/:uid',
    h(async (req) => {
      await service.deleteUser(await caller(req), id(req, 'uid'));
      return { code: Code.Deleted };
    }),
  );

  // --- Resources

  const R = '/users/:uid/resources';
  server.get(
    R,
    h(async (req) =>
      json((await service.listResources(await caller(req), id(req, 'uid'), page(req))).map(resourceView)),
    ),
    opt,
  );
  server.post(
    R,
    h(async (req) => {
      const b = body(req, ResourceCreate);
      const uid = id(req, 'uid');
      const { resource, key } = await service.createResource(await caller(req), uid, resourceInput(b));
      return {
        ...json({ ...resourceView(resource), key }),
        code: Code.Created,
        locationPath: ['users', String(uid), 'resources', String(resource.id)],
      };
    }),
    opt,
  );
  server.get(
    `${R}/:rid`,
    h(async (req) => json(resourceView(await service.getResource(await caller(req), id(req, 'uid'), id(req, 'rid'))))),
    opt,
  );
  server.put(
    `${R}/:rid`,
    h(async (req) => {
      const b = body(req, ResourcePatch);
      const r = await service.updateResource(await caller(req), id(req, 'uid'), id(req, 'rid'), resourceInput(b));
      return json(r.key ? { ...resourceView(r.resource), key: r.key } : resourceView(r.resource), Code.Changed);
    }),
    opt,
  );
  server.delete(
    `${R}/:rid`,
    h(async (req) => {
      await service.deleteResource(await caller(req), id(req, 'uid'), id(req, 'rid'));
      return { code: Code.Deleted };
    }),
  );

  // --- Resource data: any content format, as bytes for the parsers

  server.post(
    `${R}/:rid/data`,
    h(async (req) => {
      if (req.payload.length === 0) throw new CoapError(Code.BadRequest, 'empty payload');
      const r = await service.postResourceData(await caller(req), id(req, 'uid'), id(req, 'rid'), {
        body: req.payload,
        contentType: req.contentFormat === undefined ? null : contentFormatName(req.contentFormat),
      });
      return json({ stored: r.stored, created: r.created.map(streamView) }, Code.Changed);
    }),
    { ...opt, title: 'Resource data', rt: 'securesense.resource-data' },
  );

  // --- Streams

  const ST = `${R}/:rid/streams`;
  server.get(
    ST,
    h(async (req) =>
      json((await service.listStreams(await caller(req), id(req, 'uid'), id(req, 'rid'), page(req))).map(streamView)),
    ),
    opt,
  );
  server.post(
    ST,
    h(async (req) => {
      const b = body(req, StreamCreate);
      const uid = id(req, 'uid');
      const rid = id(req, 'rid');
      const { stream, key } = await service.createStream(await caller(req), uid, rid, streamInput(b));
      return {
        ...json({ ...streamView(stream), key }),
        code: Code.Created,
        locationPath: ['users', String(uid), 'resources', String(rid), 'streams', String(stream.id)],
      };
    }),
    opt,
  );
  server.get(
    `${ST}/:sid`,
    h(async (req) =>
      json(streamView(await service.getStream(await caller(req), id(req, 'uid'), id(req, 'rid'), id(req, 'sid')))),
    ),
    opt,
  );
  server.put(
    `${ST}/:sid`,
    h(async (req) => {
      const b = body(req, StreamPatch);
      const r = await service.updateStream(
        await caller(req),
        id(req, 'uid'),
        id(req, 'rid'),
        id(req, 'sid'),
        streamInput(b),
      );
      return json(r.key ? { ...streamView(r.stream), key: r.key } : streamView(r.stream), Code.Changed);
    }),
    opt,
  );
  server.delete(
    `${ST}/:sid`,
    h(async (req) => {
      await service.deleteStream(await caller(req), id(req, 'uid'), id(req, 'rid'), id(req, 'sid'));
      return { code: Code.Deleted };
    }),
  );

  // --- Stream data, observable (RFC 7641)

  // Per observed path: the service subscription and the batch being notified. The server re-runs
  // the GET handler for each observer (RFC 7641 §4.2); a notification carries the points of the
  // batch that caused it, read before the handler's first await so that every observer of one
  // notify() sees the same batch. A notification delayed behind an unacknowledged Confirmable one
  // carries the newest batch (RFC 7641 §4.5.2 lets a server skip intermediate states).
  const watched = new Map<string, { stop: () => void; batch: DataPoint[] }>();
  const watch = (path: string, sid: number) => {
    if (watched.has(path)) return;
    const entry = {
      batch: [] as DataPoint[],
      stop: service.subscribe(sid, (points) => {
        if (server.observerCount(path) === 0) {
          entry.stop();
          watched.delete(path);
          return;
        }
        entry.batch = points;
        void server.notify(path);
      }),
    };
    watched.set(path, entry);
  };

  server.get(
    `${ST}/:sid/data`,
    async (req) => {
      const batch = req.notification ? watched.get(req.path)?.batch : undefined;
      // A notification is the server's doing, not the client's: only requests are limited.
      const refused = req.notification ? undefined : limits.admit(req);
      if (refused) return refused;
      try {
        const uid = id(req, 'uid');
        const rid = id(req, 'rid');
        const sid = id(req, 'sid');
        const q = query(req, DataQuery);
        const limit = q.limit;
        // Authorization runs again for every notification: an unbound device stops hearing.
        const r = await service.getStreamData(await caller(req), uid, rid, sid, {
          from: queryTime(q.from, 'from'),
          until: queryTime(q.until, 'until'),
          // A registration answers with the newest point only, unless asked for more.
          limit: limit ?? (req.observe === 0 ? 1 : undefined),
        });
        if (req.observe === 0 && !req.notification) watch(req.path, sid);
        const points = batch ?? r.points;
        if (q.format === 'csv') return { payload: pointsCsv(points), contentFormat: ContentFormat['text/plain'] };
        return json({ stream_id: r.stream.id, label: r.stream.label, unit: r.stream.unit, points });
      } catch (err) {
        return limits.onError(req, err) ?? fail(err);
      }
    },
    { observable: true, title: 'Stream data', rt: 'securesense.stream-data', produces: [JSON_CF, 0] },
  );
  server.post(
    `${ST}/:sid/data`,
    h(async (req) => {
      const points = pointsOf(body(req, PointsBody));
      const stored = await service.postStreamData(
        await caller(req),
        id(req, 'uid'),
        id(req, 'rid'),
        id(req, 'sid'),
        points,
      );
      return json({ stored }, Code.Changed);
    }),
    opt,
  );
  server.delete(
    `${ST}/:sid/data`,
    h(async (req) => {
      const q = query(req, RangeQuery);
      const deleted = await service.deleteStreamData(
        await caller(req),
        id(req, 'uid'),
        id(req, 'rid'),
        id(req, 'sid'),
        {
          from: queryTime(q.from, 'from'),
          until: queryTime(q.until, 'until'),
        },
      );
      return json({ deleted }, Code.Deleted);
    }),
  );

  return server;
}

export interface CoapApiListenOptions extends CoapApiOptions {
  host?: string;
  /** coap:// UDP port; null: none. 0: any free port. */
  port: number | null;
  /** coaps:// UDP port; null: none. */
  coapsPort: number | null;
  /**
   * Further DTLS server options: the platform's own `certificate` and/or `rpk` (without them only
   * PSK devices can connect), limits, timeouts. The PSK lookup and the trust for device keys and
   * certificates are the device directory's; `clientAuth` defaults to 'need' (a device in a
   * public-key mode must prove its identity).
   */
  dtls?: Omit<DtlsServerOptions, 'host' | 'port' | 'psk' | 'trust'>;
  /**
   * How often the X.509 trust anchors (bound CAs, pinned certificates) are reloaded from the store,
   * ms. A binding made through this process reloads them at once; one made through another front
   * end over the same store is seen within this interval. Default 30 000; 0: never.
   */
  trustRefreshMs?: number;
  /** Counts requests by code and transport, DTLS handshakes and sessions, and logs each request (metrics.ts). */
  metrics?: PlatformMetrics;
}

/** The CoAP API, listening. */
export interface CoapApi {
  server: CoapServer;
  /** `coap://127.0.0.1:5683` style URLs (the host as bound). */
  coap?: { url: string; port: number };
  coaps?: { url: string; port: number; transport: DtlsServerTransport };
  close(): Promise<void>;
}

/** Builds the API and binds its coap:// and coaps:// listeners. */
export async function startCoapApi(
  service: PlatformService,
  devices: DeviceDirectory,
  opts: CoapApiListenOptions,
): Promise<CoapApi> {
  const server = buildCoapApi(service, devices, opts);
  // Dual-stack by default: '::' takes IPv4 clients too, as IPv4-mapped addresses (dual-stack.ts).
  const host = opts.host ?? '::';
  // X.509 anchors follow the bound CAs and pinned certificates; the service awaits the reload.
  await devices.refresh();
  const unwatch = service.watchResources((c) =>
    c.what === 'credentials' || c.what === 'deleted' ? devices.refresh() : undefined,
  );
  // Several front ends over one store (docs/platform-coap.md "Several front ends"): another
  // process may bind a CA that our DTLS server must then trust, and it cannot tell us.
  const refreshMs = opts.trustRefreshMs ?? 30_000;
  const refresher =
    refreshMs > 0 && opts.coapsPort !== null
      ? setInterval(() => {
          devices.refresh().catch((err) => opts.logger?.warn({ err }, 'X.509 trust anchors not reloaded'));
        }, refreshMs).unref()
      : undefined;
  let unwatchDtls: (() => void) | undefined;
  const api: CoapApi = {
    server,
    close: async () => {
      if (refresher) clearInterval(refresher);
      unwatch();
      unwatchDtls?.();
      await server.close();
    },
  };
  try {
    if (opts.port !== null) {
      const udp = await bindDualStack(
        host,
        'coap',
        (h) => UdpTransport.bind({ host: h, port: opts.port ?? 0 }),
        opts.logger,
      );
      server.listen(opts.metrics ? opts.metrics.coapTransport(udp) : udp);
      const port = udp.address().port;
      api.coap = { url: urlOf('coap', udp.address().address, port), port };
    }
    if (opts.coapsPort !== null) {
      const publicKey = opts.dtls?.certificate !== undefined || opts.dtls?.rpk !== undefined;
      const coapsPort = opts.coapsPort;
      const listen = (h: string) =>
        DtlsServerTransport.listen({
          ...opts.dtls,
          host: h,
          port: coapsPort,
          logger: opts.dtls?.logger ?? opts.logger,
          ...(publicKey ? { trust: devices.trust, clientAuth: opts.dtls?.clientAuth ?? 'need' } : {}),
          sessionCache: devices.sessionCache(opts.dtls?.sessionCache),
          // RFC 4279 §2: the key is looked up at handshake time, so a credential added through the API works at once.
          psk: (identity) => devices.pskKey(identity),
        });
      const dtls = await bindDualStack(host, 'coaps', listen, opts.logger);
      server.listen(opts.metrics ? opts.metrics.coapTransport(dtls) : dtls);
      if (opts.metrics) unwatchDtls = opts.metrics.watchDtls(dtls.server);
      const port = dtls.address().port;
      api.coaps = { url: urlOf('coaps', dtls.address().address, port), port, transport: dtls };
    }
  } catch (err) {
    await api.close();
    throw err;
  }
  return api;
}

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
 * out block-wise (RFC 7959 Block2, done by the CoAP server). Each resource type is a module in
 * `coap/resources/` validating with the HTTP API's TypeBox schemas (`schema/*`); errors become
 * CoAP codes in one place, `coap/errors.ts`.
 */

import {
  CoapError,
  type CoapRequest,
  type CoapResponseInit,
  CoapServer,
  type CoapServerOptions,
  Code,
  DtlsServerTransport,
  UdpTransport,
} from '../../coap/index.ts';
import { MemorySessionCache } from '../../dtls/cache.ts';
import type { DtlsServerOptions } from '../../dtls/index.ts';
import { EdhocOscoreBinding, type EdhocPlatformOptions } from '../../edhoc/oscore-binding.ts';
import { pskIdentityOf, pskOscore } from '../../oscore/psk-binding.ts';
import type { Logger } from '../../util/log.ts';
import type { DeviceDirectory } from '../devices.ts';
import { bindDualStack, urlOf } from '../dual-stack.ts';
import { ClientLimits } from '../limits.ts';
import type { PlatformMetrics } from '../metrics.ts';
import type { Caller } from '../model.ts';
import type { PlatformService } from '../service.ts';
import { fail } from './errors.ts';
import { CoapLimits } from './rate-limit.ts';
import type { CoapContext, Resources } from './resources/context.ts';
import { dataResources } from './resources/data.ts';
import { resourceResources } from './resources/resources.ts';
import { streamResources } from './resources/streams.ts';
import { userResources } from './resources/users.ts';

export { coapCodeOf } from './errors.ts';

/** The API's resources, one module per aggregate (coap/resources/*), registered in this order. */
const RESOURCES: Resources[] = [userResources, resourceResources, streamResources, dataResources];

export interface CoapApiOptions extends Pick<CoapServerOptions, 'params' | 'blockSize' | 'maxBodySize' | 'observe'> {
  logger?: Logger;
  /** The rate limits (shared with the HTTP API by createPlatform); default: the config defaults, this API's own. */
  limits?: ClientLimits;
  /** EDHOC at /.well-known/edhoc keying OSCORE for RPK devices; startCoapApi defaults it to the DTLS `rpk`. */
  edhoc?: EdhocPlatformOptions;
}

/** The CoAP server with the platform's routes (not listening). */
export function buildCoapApi(
  service: PlatformService,
  devices: DeviceDirectory,
  opts: CoapApiOptions = {},
): CoapServer {
  const stops: (() => void)[] = [];
  const oscore = pskOscore(devices);
  // RPK and X.509 devices key their OSCORE contexts by EDHOC; they are authorised as their DTLS identity.
  const edhoc = opts.edhoc && new EdhocOscoreBinding(oscore, devices, opts.edhoc);
  const server = new (class extends CoapServer {
    override async close(): Promise<void> {
      for (const stop of stops.splice(0)) stop();
      await super.close();
    }
  })({ ...opts, maxBodySize: opts.maxBodySize ?? 1024 * 1024, logger: opts.logger, oscore });

  // 4.29 Too Many Requests by source address, then by principal (coap/rate-limit.ts).
  const limits = new CoapLimits(opts.limits ?? new ClientLimits({ rate: 200, burst: 400, loginPerMinute: 10 }));
  const caller = async (req: CoapRequest): Promise<Caller> => {
    // An OSCORE request over coap:// stands for the PSK or RPK identity its context was keyed by.
    if (req.scheme === 'coaps' || req.peer.oscore) {
      const identity = req.peer.identity ?? pskIdentityOf(req.peer.oscore) ?? edhoc?.identityOf(req.peer.oscore);
      if (!identity) throw new CoapError(Code.Unauthorized, 'no DTLS identity');
      const c = await devices.callerFor(identity);
      if (!c) throw new CoapError(Code.Unauthorized, 'this DTLS identity is bound to no resource');
      return limits.authenticated(req, c);
    }
    return limits.authenticated(req, await service.authenticate(req.query.key));
  };
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
  const ctx: CoapContext = { server, service, limits, caller, h };
  for (const register of RESOURCES) {
    const stop = register(ctx);
    if (stop) stops.push(stop);
  }
  edhoc?.register(server, h);
  return server;
}

export interface CoapApiListenOptions extends CoapApiOptions {
  host?: string;
  /** coap:// UDP port; null: none. 0: any free port. */
  port: number | null;
  /** coaps:// UDP port; null: none. */
  coapsPort: number | null;
  /** SO_REUSEPORT on the coap:// socket (several workers on one port; coaps:// takes it in `dtls`). */
  reusePort?: boolean;
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
  const edhoc = opts.edhoc ?? (opts.dtls?.rpk ? { rpk: opts.dtls.rpk, logger: opts.logger } : undefined);
  const server = buildCoapApi(service, devices, { ...opts, edhoc });
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
        (h) => UdpTransport.bind({ host: h, port: opts.port ?? 0, reusePort: opts.reusePort }),
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
          sessionCache: devices.sessionCache(
            opts.dtls?.sessionCache ?? new MemorySessionCache(opts.dtls?.maxCachedSessions),
          ),
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

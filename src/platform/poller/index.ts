/**
 * The poller: every resource with a `polling_url` is pulled every `polling_period`
 * seconds; the URL's scheme picks the fetcher (http, https, coap, coaps); the response goes
 * through the resource's parsers into its streams (the same `postResourceData` as a push); each
 * poll's outcome is kept in the resource's poll log.
 *
 * Over coaps:// the platform is the DTLS client, in whichever of the three modes the resource's
 * device credentials bind: the PSK itself, or the platform's own raw public key / certificate
 * (`PollerOptions.dtls`, the ones its coaps:// server shows) with the device's key or certificate
 * checked against the binding (coaps-security.ts). The client and its session are made at the
 * first poll and reused for every later one. A change of the URL, the poll settings or the
 * credentials, or the resource's deletion, closes the session with close_notify and the next poll
 * makes a new one — the flow of the paper's Fig. 5.
 */
import type { Logger } from '../../util/log.ts';
import type { PollLogEntry, Resource } from '../model.ts';
import type { NetGuard } from '../net-guard.ts';
import type { PlatformService, ResourceChange } from '../service.ts';
import { coapsPollSecurity, type PlatformDtlsCredentials } from './coaps-security.ts';
import {
  CoapFetcher,
  type Fetcher,
  HttpFetcher,
  type HttpFetcherOptions,
  PollError,
  type PollTarget,
} from './fetchers.ts';

export { type CoapsPollSecurity, coapsPollSecurity, type PlatformDtlsCredentials } from './coaps-security.ts';
export {
  CoapFetcher,
  type FetchResult,
  HttpFetcher,
  MAX_POLL_BODY,
  MAX_POLL_REDIRECTS,
  PollError,
  type PollTarget,
} from './fetchers.ts';

/** RFC 7252 §4.8 defaults, used when a resource does not set its own. */
export const DEFAULT_POLL_TIMEOUT_MS = 2000;
export const DEFAULT_POLL_RETRANSMITS = 4;

export interface PollerOptions {
  logger?: Logger;
  /** Extra trusted CA certificates (PEM) for https:// polls. */
  httpsCa?: HttpFetcherOptions['ca'];
  /** The first poll of a resource comes after a random delay up to this (ms), so that a restart does not poll everything at once. Default 1000. */
  startJitterMs?: number;
  /**
   * The platform's own raw public key and/or certificate, shown to coaps:// devices bound by RPK or
   * X.509. `createPlatform` passes the ones its coaps:// server has. Without the kind a device
   * needs, its polls fail with a `credentials` entry saying so.
   */
  dtls?: PlatformDtlsCredentials;
  /** See {@link CoapFetcherOptions.idleRenewMs}. Default 240 000 ms. */
  idleRenewMs?: number;
  /** Which addresses polls may reach; default the service's (config `poller.allow`). */
  guard?: NetGuard;
  /** The clock, ms. */
  now?: () => number;
}

interface Scheduled {
  resource: Resource;
  timer?: NodeJS.Timeout;
  running?: Promise<PollLogEntry>;
}

export class Poller {
  private readonly http: HttpFetcher;
  readonly coap: CoapFetcher;
  private readonly scheduled = new Map<number, Scheduled>();
  private readonly log?: Logger;
  private readonly now: () => number;
  private unwatch?: () => void;
  private stopped = false;

  constructor(
    private readonly service: PlatformService,
    private readonly opts: PollerOptions = {},
  ) {
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    const guard = opts.guard ?? service.netGuard;
    this.http = new HttpFetcher({ ca: opts.httpsCa, guard });
    this.coap = new CoapFetcher({ logger: opts.logger, idleRenewMs: opts.idleRenewMs, guard });
  }

  /** Loads every polled resource, schedules them, and follows changes from then on. */
  async start(): Promise<void> {
    this.unwatch = this.service.watchResources((c) => {
      this.onChange(c).catch((err: unknown) =>
        this.log?.error({ err, resource: c.resourceId }, 'poller change failed'),
      );
    });
    for (const r of await this.service.store.listPolledResources()) this.schedule(r, true);
  }

  /** Resources scheduled for polling. */
  get count(): number {
    return this.scheduled.size;
  }

  private fetcher(url: URL): Fetcher {
    switch (url.protocol) {
      case 'http:':
      case 'https:':
        return this.http;
      case 'coap:':
      case 'coaps:':
        return this.coap;
      default:
        throw new PollError('scheme', `no fetcher for ${url.protocol}`);
    }
  }

  private schedule(r: Resource, first = false): void {
    const cur = this.scheduled.get(r.id);
    if (cur?.timer) clearTimeout(cur.timer);
    if (this.stopped || !r.pollingUrl || !r.pollingPeriod) {
      this.scheduled.delete(r.id);
      return;
    }
    const s: Scheduled = { resource: r, running: cur?.running };
    this.scheduled.set(r.id, s);
    const jitter = this.opts.startJitterMs ?? 1000;
    const delay = first ? Math.floor(Math.random() * jitter) : r.pollingPeriod * 1000;
    s.timer = setTimeout(() => {
      void this.pollNow(r.id).finally(() => {
        const again = this.scheduled.get(r.id);
        if (again === s) this.schedule(s.resource);
      });
    }, delay);
  }

  private async onChange(c: ResourceChange): Promise<void> {
    if (this.stopped) return;
    const cur = this.scheduled.get(c.resourceId);
    if (c.what === 'deleted') {
      if (cur?.timer) clearTimeout(cur.timer);
      this.scheduled.delete(c.resourceId);
      await this.coap.forget(c.resourceId, { resumable: false });
      return;
    }
    if (c.what === 'credentials') {
      // New credentials: the old session was made (and the device checked) under the old ones.
      // The next poll makes a full handshake.
      await this.coap.forget(c.resourceId, { resumable: false });
      return;
    }
    const r = c.resource;
    if (!r) return;
    const prev = cur?.resource;
    const sessionChanged =
      !prev ||
      prev.pollingUrl !== r.pollingUrl ||
      prev.pollingRetransmits !== r.pollingRetransmits ||
      prev.pollingTimeoutMs !== r.pollingTimeoutMs;
    if (sessionChanged) await this.coap.forget(r.id);
    if (!prev || sessionChanged || prev.pollingPeriod !== r.pollingPeriod) this.schedule(r, !prev || sessionChanged);
    else if (cur) cur.resource = r;
  }

  private async target(r: Resource, url: URL): Promise<PollTarget> {
    const t: PollTarget = {
      resourceId: r.id,
      url,
      timeoutMs: r.pollingTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS,
      retransmits: r.pollingRetransmits ?? DEFAULT_POLL_RETRANSMITS,
    };
    if (url.protocol === 'coaps:') {
      t.security = coapsPollSecurity(await this.service.store.listDeviceCredentials(r.id), this.opts.dtls ?? {});
    }
    return t;
  }

  /**
   * Polls a resource now (the scheduler calls this; tests and tools may too) and records the
   * outcome. A poll already running for the resource is joined rather than doubled.
   */
  pollNow(resourceId: number): Promise<PollLogEntry> {
    const s = this.scheduled.get(resourceId);
    if (s?.running) return s.running;
    const p = this.poll(resourceId).finally(() => {
      const again = this.scheduled.get(resourceId);
      if (again?.running === p) again.running = undefined;
    });
    if (s) s.running = p;
    return p;
  }

  private async poll(resourceId: number): Promise<PollLogEntry> {
    const started = this.now();
    const t0 = performance.now();
    const r = await this.service.store.getResource(resourceId);
    if (!r?.pollingUrl) throw new PollError('scheme', `resource ${resourceId} has no polling_url`);
    const entry = {
      resourceId,
      time: started,
      url: r.pollingUrl,
      ok: false,
      status: '',
      message: null as string | null,
      points: 0,
      newSession: false,
      durationMs: 0,
    };
    try {
      const url = new URL(r.pollingUrl);
      const res = await this.fetcher(url).fetch(await this.target(r, url));
      entry.newSession = res.newSession;
      entry.status = res.status;
      try {
        const ingest = await this.service.postResourceData(this.service.deviceCaller(r.id), r.ownerId, r.id, {
          body: res.body,
          contentType: res.contentType,
        });
        entry.ok = true;
        entry.points = ingest.stored;
      } catch (err) {
        entry.status = 'parse';
        entry.message = (err as Error).message;
      }
    } catch (err) {
      entry.status = err instanceof PollError ? err.kind : 'network';
      entry.message = (err as Error).message;
      if (err instanceof PollError) entry.newSession = err.newSession;
    }
    entry.durationMs = Math.round(performance.now() - t0);
    if (!entry.ok)
      this.log?.warn({ resource: resourceId, status: entry.status, message: entry.message }, 'poll failed');
    try {
      return await this.service.recordPoll(entry);
    } catch (err) {
      // The resource went away during the poll: nothing to log it under.
      this.log?.debug({ err, resource: resourceId }, 'poll outcome not recorded');
      return { ...entry, id: 0 };
    }
  }

  /** Stops scheduling and closes every session (close_notify to each coaps:// device). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unwatch?.();
    for (const s of this.scheduled.values()) if (s.timer) clearTimeout(s.timer);
    const running = [...this.scheduled.values()].map((s) => s.running).filter((p) => p !== undefined);
    this.scheduled.clear();
    await Promise.allSettled(running);
    await this.coap.close();
    await this.http.close();
  }
}

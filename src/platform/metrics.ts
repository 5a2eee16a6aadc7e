/**
 * The platform's Prometheus metrics (prom-client), served at `GET /metrics` by http/routes/ops.ts.
 * One {@link PlatformMetrics} per platform, with its own registry (two platforms in one process,
 * as in the tests, do not mix their counts). What it measures, and where from:
 *
 * - the store: every operation's latency by method, points stored (counted when their transaction
 *   commits) and poll outcomes, through {@link PlatformMetrics.instrumentStore} — a wrapper
 *   (metered-store.ts), so the service, the poller and the DTLS session cache are measured without
 *   knowing it;
 * - CoAP requests by response code and transport, through {@link PlatformMetrics.coapTransport},
 *   which reads the datagrams a transport carries (the access log's CoAP lines come from there too);
 * - DTLS handshakes by mode and result, sessions and handshakes in progress, and the endpoint's
 *   own counters (drops, HelloVerifyRequests, refusals at the limits) when the server exposes them
 *   (dtls-stats.ts);
 * - HTTP requests by method, route and status, with their duration (http/app.ts's access-log hook);
 * - rate-limit refusals, read from {@link ClientLimits.refused} at each scrape;
 * - the process (CPU, memory, event-loop lag) from prom-client's default collectors.
 */
import {
  AggregatorRegistry,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';
import {
  codeString,
  decodeMessage,
  OptionNumber,
  type Transport,
  type TransportPeer,
  UdpTransport,
} from '../coap/index.ts';
import { methodName } from '../coap/options.ts';
import type { HandOverStats } from '../dtls/cid-forward.ts';
import type { DtlsServer } from '../dtls/index.ts';
import type { Logger } from '../util/log.ts';
import { dtlsStats } from './dtls-stats.ts';
import type { ClientLimits } from './limits.ts';
import { meteredStore } from './metered-store.ts';
import { redactQuery } from './redact.ts';
import type { Store } from './store/index.ts';
import { watchWorkerCoap } from './worker-metrics.ts';

/** A CoAP request seen arriving, kept until its response leaves (for the duration and the log). */
interface PendingCoap {
  at: number;
  method: string;
  path: string;
}

/** Requests awaiting a response, per transport: bounded, the oldest dropped first. */
const MAX_PENDING_COAP = 10_000;

export interface PlatformMetricsOptions {
  /** Where the access log goes (info level). */
  logger?: Logger;
  /** Collect the process metrics (CPU, memory, event loop). Default true. */
  processMetrics?: boolean;
}

export class PlatformMetrics {
  readonly registry = new Registry();
  private readonly log?: Logger;
  private readonly dtlsServers = new Set<DtlsServer>();
  private readonly limitSets = new Set<ClientLimits>();
  /** The coap:// API's sockets, read for their send drops at each scrape. */
  private readonly udpTransports = new Set<UdpTransport>();

  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly coapRequests: Counter<'code' | 'transport'>;
  readonly coapDuration: Histogram<'transport'>;
  readonly handshakes: Counter<'mode' | 'result'>;
  readonly pointsStored: Counter;
  readonly polls: Counter<'result'>;
  readonly storeLatency: Histogram<'op' | 'outcome'>;

  constructor(opts: PlatformMetricsOptions = {}) {
    this.log = opts.logger;
    const registers = [this.registry];
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'securesense_' });
    this.httpRequests = new Counter({
      name: 'securesense_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'securesense_http_request_duration_seconds',
      help: 'HTTP request duration, by method and route pattern',
      labelNames: ['method', 'route'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.coapRequests = new Counter({
      name: 'securesense_coap_requests_total',
      help: 'CoAP requests answered, by response code (e.g. 2.04) and transport (coap, coaps)',
      labelNames: ['code', 'transport'] as const,
      registers,
    });
    this.coapDuration = new Histogram({
      name: 'securesense_coap_request_duration_seconds',
      help: 'CoAP request duration from the request datagram to the response datagram, by transport',
      labelNames: ['transport'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.handshakes = new Counter({
      name: 'securesense_dtls_handshakes_total',
      help: 'DTLS handshakes of the coaps:// API, by mode (psk, rpk, x509; unknown for a failure) and result (full, resumed, failed)',
      labelNames: ['mode', 'result'] as const,
      registers,
    });
    const servers = this.dtlsServers;
    new Gauge({
      name: 'securesense_dtls_sessions',
      help: 'Established DTLS sessions of the coaps:// API',
      registers,
      collect() {
        let n = 0;
        for (const s of servers) n += s.counts().sessions;
        this.set(n);
      },
    });
    new Gauge({
      name: 'securesense_dtls_handshakes_in_progress',
      help: 'DTLS handshakes of the coaps:// API in progress',
      registers,
      collect() {
        let n = 0;
        for (const s of servers) n += s.counts().handshakes;
        this.set(n);
      },
    });
    new Counter({
      name: 'securesense_dtls_endpoint_events_total',
      help: 'DTLS endpoint counters, when the server exposes them: evictions, refusals and drops by reason (evictions.sessionCapacity, drops.malformed, …), HelloVerifyRequests',
      labelNames: ['event'] as const,
      registers,
      collect() {
        const sum = new Map<string, number>();
        for (const s of servers) {
          for (const [k, v] of Object.entries(dtlsStats(s) ?? {})) sum.set(k, (sum.get(k) ?? 0) + v);
        }
        this.reset();
        for (const [event, v] of sum) this.inc({ event }, v);
      },
    });
    const udp = this.udpTransports;
    new Counter({
      name: 'securesense_coap_udp_send_drops_total',
      help: 'Datagrams of the coap:// API dropped because the socket send buffer was full (batched sockets drop and count; CoAP retransmits)',
      registers,
      collect() {
        let n = 0;
        for (const t of udp) n += t.sendDrops;
        this.reset();
        this.inc(n);
      },
    });
    this.pointsStored = new Counter({
      name: 'securesense_points_stored_total',
      help: 'Data points stored (HTTP, CoAP and the poller), counted when their transaction commits',
      registers,
    });
    this.polls = new Counter({
      name: 'securesense_poller_polls_total',
      help: 'Polls of devices by the poller, by result (ok, or the failure kind: timeout, network, handshake, http, coap, too-large, credentials, scheme, forbidden, parse)',
      labelNames: ['result'] as const,
      registers,
    });
    this.storeLatency = new Histogram({
      name: 'securesense_store_operation_seconds',
      help: 'Store operation latency, by operation and outcome (ok, error)',
      labelNames: ['op', 'outcome'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    const limitSets = this.limitSets;
    new Counter({
      name: 'securesense_rate_limit_refusals_total',
      help: 'Requests refused by the rate limits (HTTP 429, CoAP 4.29), by bucket: address, principal, failures (failed authentications), login',
      labelNames: ['bucket'] as const,
      registers,
      collect() {
        const sum = { address: 0, principal: 0, failures: 0, login: 0 };
        for (const l of limitSets) {
          sum.address += l.refused.address;
          sum.principal += l.refused.principal;
          sum.failures += l.refused.failures;
          sum.login += l.refused.login;
        }
        this.reset();
        for (const [bucket, v] of Object.entries(sum)) this.inc({ bucket }, v);
      },
    });
    new Counter({
      name: 'securesense_rate_limit_shared_total',
      help: 'The rate limits shared through the store: syncs, failed syncs (limits per process meanwhile), keys evicted from memory',
      labelNames: ['event'] as const,
      registers,
      collect() {
        const sum = { sync: 0, sync_error: 0, evicted: 0 };
        for (const l of limitSets) {
          sum.sync += l.shared?.stats.syncs ?? 0;
          sum.sync_error += l.shared?.stats.syncErrors ?? 0;
          sum.evicted += l.shared?.stats.evicted ?? 0;
        }
        this.reset();
        for (const [event, v] of Object.entries(sum)) this.inc({ event }, v);
      },
    });
  }

  /** Set by {@link aggregateWith}: gathers every worker's metrics (this one's included) as JSON. */
  private gather: (() => Promise<unknown[]>) | undefined;

  /** The text exposition format, for `GET /metrics`; with workers, every worker's counts added up. */
  async render(): Promise<{ contentType: string; body: string }> {
    if (this.gather) {
      const all = (await this.gather()) as MetricObjectWithValues<MetricValue<string>>[][];
      if (all.length > 0) {
        const sum = AggregatorRegistry.aggregate(all);
        return { contentType: sum.contentType, body: await sum.metrics() };
      }
    }
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /**
   * One of several workers: `GET /metrics` on any of them answers with the sum of all (prom-client's
   * aggregation; gauges add up, the per-worker series below keep their `worker` label apart).
   * `gather` returns each worker's `registry.getMetricsAsJSON()`.
   */
  aggregateWith(gather: () => Promise<unknown[]>): void {
    this.gather = gather;
  }

  /**
   * One worker's own series, labelled with its number: its CoAP requests (worker-metrics.ts), its
   * DTLS sessions and completed handshakes, Connection ID address updates, and the CID records it
   * handed to other workers or took from them (see cid-forward.ts).
   */
  watchWorker(node: number, server: DtlsServer, handOver: HandOverStats): void {
    const worker = String(node);
    const registers = [this.registry];
    watchWorkerCoap(this.registry, node, this.coapRequests);
    new Gauge({
      name: 'securesense_worker_dtls_sessions',
      help: 'Established DTLS sessions of the coaps:// API, by worker process',
      labelNames: ['worker'] as const,
      registers,
      collect() {
        this.set({ worker }, server.counts().sessions);
      },
    });
    new Counter({
      name: 'securesense_worker_dtls_handshakes_total',
      help: 'DTLS handshakes completed on the coaps:// API, by worker process',
      labelNames: ['worker'] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ worker }, server.stats.sessionsEstablished);
      },
    });
    new Counter({
      name: 'securesense_dtls_cid_events_total',
      help: 'Connection ID records by worker and event: address_updates (a session moved to a new address), forwarded (handed to the worker owning the CID), received (taken from another worker), no_route and refused (hand-overs dropped)',
      labelNames: ['worker', 'event'] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ worker, event: 'address_updates' }, server.stats.connectionIds.addressUpdates);
        this.inc({ worker, event: 'forwarded' }, handOver.forwarded);
        this.inc({ worker, event: 'received' }, handOver.received);
        this.inc({ worker, event: 'no_route' }, handOver.noRoute);
        this.inc({ worker, event: 'refused' }, handOver.refused);
      },
    });
  }

  /** Reads the refusal counters of `limits` at each scrape. */
  watchLimits(limits: ClientLimits): void {
    this.limitSets.add(limits);
  }

  /** Counts the handshakes of a coaps:// server and reads its sessions at each scrape. */
  watchDtls(server: DtlsServer): () => void {
    this.dtlsServers.add(server);
    const ok = (c: { identity: { mode: string }; resumed: boolean }) =>
      this.handshakes.inc({ mode: c.identity.mode, result: c.resumed ? 'resumed' : 'full' });
    const failed = () => this.handshakes.inc({ mode: 'unknown', result: 'failed' });
    server.on('connection', ok);
    server.on('handshakeError', failed);
    return () => {
      this.dtlsServers.delete(server);
      server.off('connection', ok);
      server.off('handshakeError', failed);
    };
  }

  /** One HTTP request answered: counted and timed (http/app.ts writes the access log). */
  httpAnswered(r: { method: string; route: string; status: number; ms: number }): void {
    this.httpRequests.inc({ method: r.method, route: r.route, status: String(r.status) });
    this.httpDuration.observe({ method: r.method, route: r.route }, r.ms / 1000);
  }

  /**
   * A transport that carries `inner`'s datagrams unchanged and reads them on the way: each request
   * is remembered by (peer, token) and each response is counted by code, timed and logged.
   * Notifications of an observation (responses with no request pending) are counted too.
   */
  coapTransport(inner: Transport): Transport {
    if (inner instanceof UdpTransport) this.udpTransports.add(inner);
    const pending = new Map<string, PendingCoap>();
    const scheme = inner.scheme;
    const key = (peer: { address: string; port: number }, token: Buffer) =>
      `${peer.address}|${peer.port}|${token.toString('hex')}`;
    return {
      scheme,
      onDatagram: (cb: (datagram: Buffer, peer: TransportPeer) => void) =>
        inner.onDatagram((datagram, peer) => {
          const d = decodeMessage(datagram);
          if (d.ok && d.message.code >= 1 && d.message.code <= 31) {
            const m = d.message;
            const path = m.options
              .filter((o) => o.number === OptionNumber.UriPath)
              .map((o) => o.value.toString('utf8'))
              .join('/');
            const query = m.options
              .filter((o) => o.number === OptionNumber.UriQuery)
              .map((o) => o.value.toString('utf8'))
              .join('&');
            const k = key(peer, m.token);
            if (!pending.has(k) && pending.size >= MAX_PENDING_COAP) {
              pending.delete(pending.keys().next().value as string);
            }
            pending.set(k, {
              at: performance.now(),
              method: methodName(m.code) ?? codeString(m.code),
              path: `/${path}${query ? `?${redactQuery(query)}` : ''}`,
            });
          }
          cb(datagram, peer);
        }),
      send: (datagram, peer) => {
        const d = decodeMessage(datagram);
        // A response: code class 2–5 (an empty ACK or a Reset carries code 0.00).
        if (d.ok && d.message.code >= 64) {
          const code = codeString(d.message.code);
          this.coapRequests.inc({ code, transport: scheme });
          const k = key(peer, d.message.token);
          const p = pending.get(k);
          if (p) {
            pending.delete(k);
            const ms = performance.now() - p.at;
            this.coapDuration.observe({ transport: scheme }, ms / 1000);
            this.log?.info(
              {
                transport: scheme,
                method: p.method,
                path: p.path,
                code,
                ms: Math.round(ms * 10) / 10,
                peer: peer.address,
              },
              'coap request',
            );
          }
        }
        return inner.send(datagram, peer);
      },
      close: () => inner.close(),
    };
  }

  /**
   * The store with every method timed, points counted when they are committed, and poll outcomes
   * counted. A transaction's store is wrapped too; its points count once the outermost commits.
   */
  instrumentStore(store: Store): Store {
    return meteredStore(store, {
      timed: (op, fn) => this.timed(op, fn),
      pointsStored: (n) => this.pointsStored.inc(n),
      polled: (result) => this.polls.inc({ result }),
    });
  }

  private async timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const end = this.storeLatency.startTimer({ op });
    try {
      const out = await fn();
      end({ outcome: 'ok' });
      return out;
    } catch (err) {
      end({ outcome: 'error' });
      throw err;
    }
  }
}

/**
 * The device agent: reads its sensors every interval and
 *
 * - **pushes** each sample to the cloud as a CoAP POST over `coap://` or `coaps://`, keeping one
 *   DTLS session, resuming it (abbreviated handshake, RFC 5246 §7.3) after a restart — from its
 *   state file — or after a network failure, and backing off with jitter while the cloud is
 *   unreachable, with a bounded queue so that no reading is lost to a short outage; and/or
 * - **serves** them as observable CoAP resources (RFC 7641) over UDP and/or DTLS for the cloud's
 *   poller: `/sensors` (all of them), `/sensors/NAME` (one each) and `/.well-known/core`.
 *
 * ```ts
 * import { DeviceAgent } from './agent.ts';
 * const agent = new DeviceAgent({
 *   push: 'coaps://cloud.example/users/1/resources/7/data',
 *   security: { psk: { identity: 'dev1', key } },
 *   sensors: ['temperature', 'humidity'],
 *   intervalMs: 10_000,
 *   stateFile: '/var/lib/securesense/dev1.state',
 * });
 * agent.on('event', (e) => console.log(JSON.stringify(e)));
 * await agent.start();
 * // … later
 * await agent.stop(); // close_notify to the cloud
 * ```
 */

import { EventEmitter } from 'node:events';
import { type CoapsSecurity, Code, parseCoapUri, type TransmissionParameters } from '../coap/index.ts';
import type { OscoreContext } from '../oscore/context.ts';
import type { Logger } from '../util/log.ts';
import { childLogger } from '../util/log.ts';
import { Backoff } from './backoff.ts';
import { DeviceConfigError, PushRejectedError } from './errors.ts';
import { type HandshakeReport, PushLink } from './link.ts';
import { type PayloadFormat, renderSample } from './payload.ts';
import { DEFAULT_QUEUE_LIMIT, type Sample, SampleQueue } from './queue.ts';
import { Sampler, SIMULATED_SENSOR_NAMES, type SimulatedSensorName, sensorsFrom } from './sampler.ts';
import type { Sensor } from './sensors.ts';
import { SensorServer, type ServeDtlsOptions, type ServeOptions } from './server.ts';
import { loadState, type SavedSample, StateWriter } from './state.ts';

export type { PayloadFormat } from './payload.ts';
export { SIMULATED_SENSOR_NAMES, type SimulatedSensorName } from './sampler.ts';
export type { ServeDtlsOptions, ServeOptions } from './server.ts';

/** One event, as the CLI prints it (one JSON line each). */
export type AgentEvent =
  | {
      event: 'started';
      push?: string;
      serve?: { address: string; port: number };
      serveDtls?: { address: string; port: number };
      sensors: string[];
      intervalMs: number;
      queueLimit: number;
    }
  | { event: 'reading'; seq: number; time: string; values: Record<string, number>; queued: number }
  | ({ event: 'handshake' } & HandshakeReport)
  | { event: 'sent'; seq: number; time: string; code: string; bytes: number; ms: number; queued: number }
  | { event: 'backoff'; ms: number; failures: number; queued: number; reason: string }
  | { event: 'dropped'; seq: number; time: string; reason: string; queued: number }
  | { event: 'error'; where: 'sensor' | 'push' | 'handshake' | 'state' | 'serve'; message: string }
  | { event: 'restored'; samples: number; queued: number }
  | { event: 'stopped'; queued: number; sent: number; dropped: number; saved: number };

/** Counters for monitoring and tests. */
export interface AgentStats {
  samples: number;
  sent: number;
  /** Samples dropped: queue overflow plus those the cloud rejected with 4.xx. */
  dropped: number;
  queued: number;
  handshakes: number;
  resumed: number;
}

export interface DeviceAgentOptions {
  /** `coap://` or `coaps://` URI that each sample is POSTed to, e.g. `coaps://cloud/users/1/resources/7/data`. */
  push?: string;
  /** Serve the sensors over plain CoAP (UDP). */
  serve?: ServeOptions;
  /** Serve the sensors over CoAP over DTLS (PSK). */
  serveDtls?: ServeDtlsOptions;
  /**
   * The sensors: simulated ones by name, or any {@link Sensor} (e.g. a `CommandSensor`).
   * Default: temperature, humidity and power.
   */
  sensors?: ReadonlyArray<SimulatedSensorName | Sensor>;
  /** Sampling interval. Default 10 000 ms. */
  intervalMs?: number;
  /** Push payload: `json` (application/json, default) or `senml` (application/senml+json). */
  format?: PayloadFormat;
  /** SenML base name (RFC 8428 §4.5.1), e.g. `urn:dev:mac:0024befffe804ff1:`. Default: none. */
  baseName?: string;
  /** Confirmable pushes (default true); false sends Non-confirmable POSTs. */
  confirmable?: boolean;
  /** Credentials for a `coaps://` push: whatever the DTLS engine's `connect` takes (`psk`, …). */
  security?: CoapsSecurity;
  /** Protect every push with this OSCORE context (RFC 8613), e.g. over `coap://` through proxies. */
  oscore?: OscoreContext;
  /** Push through this `coap://` forward proxy (the push URI goes in Proxy-Uri). */
  proxy?: string;
  /**
   * File that keeps, across restarts, the push connection's resumable DTLS session (written after
   * each full handshake) and the samples still queued when the agent stopped (written by `stop()`;
   * sent first after the next start). Mode 0600.
   */
  stateFile?: string;
  /** Samples kept while the cloud is unreachable; the oldest is dropped beyond. Default 1000. */
  queueLimit?: number;
  /** Back-off between failed attempts: full jitter in [0, min(maxMs, baseMs·2^n)]. Default 1 s … 5 min. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** CoAP transmission parameters of the push client and of the server (RFC 7252 §4.8). */
  coap?: Partial<TransmissionParameters>;
  /** How long to wait for a separate response after an Empty ACK. Default 30 000 ms. */
  responseTimeoutMs?: number;
  /**
   * A DTLS session silent for this long is resumed afresh before the next push instead of being
   * used: servers drop idle associations without telling the client (ours after 300 s, libcoap's
   * after 300 s by default), and a record sent into a forgotten association is only noticed after
   * CoAP's whole retransmission sequence (≈ 45 s with the RFC 7252 defaults). An abbreviated
   * handshake costs one round trip less than a full one and no key exchange or public-key
   * operation. Default 240 000 ms; 0 = never.
   */
  idleResumeMs?: number;
  logger?: Logger;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function toSaved(queue: SampleQueue): SavedSample[] {
  return queue.toArray().map((q) => ({ time: q.time.getTime(), readings: q.readings }));
}

/**
 * The device agent: options, events and the push loop, over its parts — the {@link Sampler}, the
 * {@link PushLink} (the CoAP client and DTLS session), the {@link SensorServer} and the
 * {@link StateWriter}. Events: `event` (every {@link AgentEvent}), and each event also under its
 * own name (`reading`, `sent`, `handshake`, `backoff`, `dropped`, `started`, `stopped`, and `error`
 * — the latter only when someone listens for it, so that an in-process fleet never crashes on a
 * device's trouble).
 */
export class DeviceAgent extends EventEmitter {
  private readonly log: Logger;
  private readonly intervalMs: number;
  private readonly format: PayloadFormat;
  private readonly queue: SampleQueue;
  private readonly backoff: Backoff;
  private readonly sampler: Sampler;
  private readonly link?: PushLink;
  private readonly state?: StateWriter;
  private server?: SensorServer;
  private backoffTimer?: NodeJS.Timeout;
  private sending?: Promise<void>;
  /** Samples taken over from the state file at start. */
  private restored = 0;
  private running = false;
  private stopping = false;
  private readonly counters = { sent: 0, rejected: 0 };

  constructor(private readonly opts: DeviceAgentOptions) {
    super();
    this.log = opts.logger ?? childLogger('device.agent');
    if (!opts.push && !opts.serve && !opts.serveDtls)
      throw new DeviceConfigError('DeviceAgent: give push, serve or serveDtls');
    this.intervalMs = opts.intervalMs ?? 10_000;
    if (!Number.isFinite(this.intervalMs) || this.intervalMs < 10) throw new RangeError('intervalMs must be ≥ 10');
    this.format = opts.format ?? 'json';
    if (this.format !== 'json' && this.format !== 'senml')
      throw new DeviceConfigError(`unknown format '${String(this.format)}'`);
    this.queue = new SampleQueue(opts.queueLimit ?? DEFAULT_QUEUE_LIMIT);
    this.backoff = new Backoff(opts.backoff?.baseMs ?? 1000, opts.backoff?.maxMs ?? 5 * 60_000);
    this.sampler = new Sampler(
      sensorsFrom(opts.sensors ?? SIMULATED_SENSOR_NAMES),
      this.intervalMs,
      (s) => this.accept(s),
      (message) => this.report({ event: 'error', where: 'sensor', message }),
    );
    if (opts.push) {
      const uri = parseCoapUri(opts.push);
      if (uri.scheme === 'coaps' && !opts.security)
        throw new DeviceConfigError('DeviceAgent: a coaps:// push needs security (e.g. { psk: { identity, key } })');
      this.link = new PushLink({
        uri,
        security: opts.security,
        params: opts.coap,
        responseTimeoutMs: opts.responseTimeoutMs ?? 30_000,
        idleResumeMs: opts.idleResumeMs ?? 240_000,
        logger: this.log,
        onHandshake: (h) => this.report({ event: 'handshake', ...h }),
        onRefused: (message) => this.report({ event: 'error', where: 'handshake', message }),
        onSession: async (session, full) => {
          // A new session is worth a write at once; a refused one is forgotten before the retry.
          if (session === undefined) {
            this.persist();
            await this.state?.settled();
          } else if (full) this.persist();
        },
        stopping: () => this.stopping,
      });
    }
    if (opts.stateFile) {
      if (!this.link) throw new DeviceConfigError('DeviceAgent: stateFile goes with push');
      const link = this.link;
      this.state = new StateWriter(
        opts.stateFile,
        () => ({ session: link.session, queue: toSaved(this.queue) }),
        (err) => this.report({ event: 'error', where: 'state', message: describe(err) }),
      );
    }
  }

  private report(e: AgentEvent): void {
    this.emit('event', e);
    if (e.event !== 'error' || this.listenerCount('error') > 0) this.emit(e.event, e);
    if (e.event === 'error') this.log.warn({ where: e.where }, e.message);
  }

  /** Where the server parts listen (after `start()`). */
  addresses(): { serve?: { address: string; port: number }; serveDtls?: { address: string; port: number } } {
    return this.server?.addresses() ?? { serve: undefined, serveDtls: undefined };
  }

  stats(): AgentStats {
    return {
      samples: this.sampler.count,
      sent: this.counters.sent,
      dropped: this.queue.dropped + this.counters.rejected,
      queued: this.queue.length,
      handshakes: this.link?.counters.handshakes ?? 0,
      resumed: this.link?.counters.resumed ?? 0,
    };
  }

  /**
   * Takes the first sample, opens the server sockets (serve modes), starts pushing (push mode) and
   * the sampling timer. Rejects when a server port cannot be bound; a cloud that is unreachable is
   * not an error here — the agent backs off and keeps trying.
   */
  async start(): Promise<void> {
    if (this.running) throw new DeviceConfigError('DeviceAgent: already started');
    this.running = true;
    if (this.state && this.link) {
      try {
        const st = await loadState(this.state.path);
        if (st?.session) this.link.offer(st.session);
        for (const q of st?.queue ?? [])
          this.queue.push({ seq: this.sampler.nextSeq(), time: new Date(q.time), readings: q.readings });
        if (st?.queue?.length) this.restored = st.queue.length;
      } catch (err) {
        this.report({ event: 'error', where: 'state', message: `${describe(err)}; starting with a full handshake` });
      }
    }
    // The first sample names the sensors (a command may print several keys), hence the served routes.
    const first = await this.sampler.read();
    if (this.opts.serve || this.opts.serveDtls) {
      this.server = new SensorServer({
        serve: this.opts.serve,
        serveDtls: this.opts.serveDtls,
        intervalMs: this.intervalMs,
        baseName: this.opts.baseName,
        params: this.opts.coap,
        logger: this.log,
        latest: () => this.sampler.latest,
        onError: (message) => this.report({ event: 'error', where: 'serve', message }),
      });
      try {
        await this.server.open(this.sampler.latest?.readings ?? []);
      } catch (err) {
        await this.shutdown(false);
        throw err;
      }
    }
    this.sampler.start();
    const a = this.addresses();
    this.report({
      event: 'started',
      push: this.opts.push,
      serve: a.serve,
      serveDtls: a.serveDtls,
      sensors: this.sampler.latest?.readings.map((r) => r.name) ?? [],
      intervalMs: this.intervalMs,
      queueLimit: this.queue.limit,
    });
    if (this.restored > 0) this.report({ event: 'restored', samples: this.restored, queued: this.queue.length });
    if (this.link && this.queue.length > 0) this.kick();
    if (first) this.accept(first);
  }

  /**
   * Stops sampling, closes the push connection (close_notify on DTLS, RFC 5246 §7.2.1) and the
   * servers. Samples still queued are not sent now: with a state file they are saved there, with
   * the session, for the next start; without one they are lost (`stopped.queued` says how many).
   */
  async stop(): Promise<void> {
    await this.shutdown(true);
  }

  private async shutdown(report: boolean): Promise<void> {
    if (!this.running || this.stopping) return;
    this.stopping = true;
    this.sampler.stop();
    this.state?.stop();
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    await this.link?.drop();
    await this.sending?.catch(() => {});
    await this.server?.close();
    // Keep what was not delivered (and the session) for the next start.
    let saved = 0;
    if (this.state) {
      try {
        saved = await this.state.close();
      } catch (err) {
        this.report({ event: 'error', where: 'state', message: describe(err) });
      }
    }
    if (!report) return;
    this.report({
      event: 'stopped',
      queued: this.queue.length,
      sent: this.counters.sent,
      dropped: this.stats().dropped,
      saved,
    });
  }

  /**
   * Writes the state file (session and unsent samples). `backlogOnly`: write only when samples are
   * at risk — a backlog, a back-off, or a file that still lists samples — so that a healthy link,
   * where each sample leaves at once, costs no flash write per interval.
   */
  private persist(backlogOnly = false): void {
    if (!this.state) return;
    if (backlogOnly && this.queue.length <= 1 && !this.backoffTimer && !this.state.hasQueue) return;
    this.state.write();
  }

  /** Reports a sample, queues it for the push and notifies the observers of the served resources. */
  private accept(s: Sample): void {
    if (this.link) {
      const dropped = this.queue.push(s);
      if (dropped)
        this.report({
          event: 'dropped',
          seq: dropped.seq,
          time: dropped.time.toISOString(),
          reason: `queue full (${this.queue.limit} samples)`,
          queued: this.queue.length,
        });
    }
    this.report({
      event: 'reading',
      seq: s.seq,
      time: s.time.toISOString(),
      values: Object.fromEntries(s.readings.map((r) => [r.name, r.value])),
      queued: this.queue.length,
    });
    this.server?.notify(s);
    if (this.link) {
      this.persist(true);
      this.kick();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Push

  /** Starts draining the queue unless a drain runs or the agent is backing off. */
  private kick(): void {
    if (this.sending || this.backoffTimer || this.stopping || !this.link) return;
    const link = this.link;
    this.sending = this.drain(link).finally(() => {
      this.sending = undefined;
    });
  }

  /** Sends queued samples, oldest first, until the queue is empty or a send fails. */
  private async drain(link: PushLink): Promise<void> {
    while (!this.stopping) {
      const s = this.queue.peek();
      if (!s) return;
      const { body, contentFormat } = renderSample(this.format, this.opts.baseName, s);
      const t0 = performance.now();
      try {
        const res = await link.request({
          method: 'POST',
          payload: body,
          contentFormat,
          confirmable: this.opts.confirmable ?? true,
          oscore: this.opts.oscore,
          proxy: this.opts.proxy,
        });
        if (this.stopping) return;
        if (res.ok) {
          this.queue.remove(s);
          this.persist(true);
          this.counters.sent++;
          this.backoff.succeed();
          this.report({
            event: 'sent',
            seq: s.seq,
            time: s.time.toISOString(),
            code: res.status,
            bytes: body.length,
            ms: Math.round(performance.now() - t0),
            queued: this.queue.length,
          });
          continue;
        }
        const detail = res.payload.toString('utf8').slice(0, 200);
        if (res.code >> 5 === 4) {
          // 4.xx: the cloud will not take this sample however often it is sent (bad payload, no
          // such resource, not allowed); keeping it would block every later one.
          this.queue.remove(s);
          this.persist(true);
          this.counters.rejected++;
          this.report({
            event: 'error',
            where: 'push',
            message: new PushRejectedError(res.code, res.status, detail).message,
          });
          this.report({
            event: 'dropped',
            seq: s.seq,
            time: s.time.toISOString(),
            reason: `rejected with ${res.status}`,
            queued: this.queue.length,
          });
          continue;
        }
        // 5.xx (5.03 Service Unavailable, …): the link works, the cloud cannot take data now.
        const retryAfterMs =
          res.code === Code.ServiceUnavailable && res.maxAge !== undefined ? res.maxAge * 1000 : undefined;
        throw new PushRejectedError(res.code, res.status, detail, retryAfterMs);
      } catch (err) {
        if (this.stopping) return;
        const rejected = err instanceof PushRejectedError;
        const where = !rejected && link.failedInHandshake ? 'handshake' : 'push';
        this.report({ event: 'error', where, message: describe(err) });
        // A timeout or a failed handshake may mean that the network changed under us (new address,
        // NAT rebinding, the server restarted): start a new connection — resuming — next time.
        if (!rejected) await link.drop();
        // A 5.03 that says when to come back is obeyed, unless our own back-off is longer.
        const ms = Math.max(this.backoff.fail(), rejected ? (err.retryAfterMs ?? 0) : 0);
        this.report({
          event: 'backoff',
          ms,
          failures: this.backoff.consecutiveFailures,
          queued: this.queue.length,
          reason: describe(err),
        });
        this.backoffTimer = setTimeout(() => {
          this.backoffTimer = undefined;
          this.kick();
        }, ms);
        // The cloud is unreachable: from now on the queued samples are at risk, so they go to the file.
        this.persist(true);
        return;
      }
    }
  }
}

/**
 * The device agent (issue 7): reads its sensors every interval and
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

import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { CoapClient } from '../coap/client.ts';
import { CoapError } from '../coap/errors.ts';
import type { CoapOption } from '../coap/message.ts';
import type { TransmissionParameters } from '../coap/messaging.ts';
import { Code, ContentFormat, OptionNumber } from '../coap/options.ts';
import { type CoapRequest, type CoapResponseInit, CoapServer } from '../coap/server.ts';
import { type CoapsSecurity, DtlsClientTransport, DtlsServerTransport, securityKey } from '../coap/transport-dtls.ts';
import { UdpTransport } from '../coap/transport-udp.ts';
import { type CoapUri, parseCoapUri } from '../coap/uri.ts';
import type { PublicKeyCredentials } from '../dtls/credentials/index.ts';
import { type PskCredential, pskLookup } from '../dtls/credentials/psk.ts';
import { connect, DtlsAlertError, type DtlsConnection, type PskLookup } from '../dtls/index.ts';
import type { Logger } from '../util/log.ts';
import { childLogger } from '../util/log.ts';
import { Backoff } from './backoff.ts';
import { DEFAULT_QUEUE_LIMIT, type Sample, SampleQueue } from './queue.ts';
import { type Reading, readAll, type Sensor, SIMULATED, SimulatedSensor, toSenml, toTimedJson } from './sensors.ts';
import { loadState, type SavedSession, saveState } from './state.ts';

/**
 * The device offers a Connection ID (RFC 9146) of length 0: the server's address does not change,
 * so the device needs none of its own, while the CID the server gives it lets its records reach the
 * session after a NAT rebinding changed the device's address (no new handshake).
 */
const DEVICE_CONNECTION_ID = { length: 0 };

/** The simulated sensors the agent knows by name. */
export type SimulatedSensorName = keyof typeof SIMULATED;

export const SIMULATED_SENSOR_NAMES = Object.keys(SIMULATED) as SimulatedSensorName[];

/** How readings are rendered for a push and for `/sensors`. */
export type PayloadFormat = 'json' | 'senml';

/** Where the agent serves its resources. */
export interface ServeOptions {
  /** UDP port (0: any free port; see {@link DeviceAgent.addresses}). */
  port: number;
  /** Bind address. Default `0.0.0.0` (an IPv6 address binds udp6). */
  host?: string;
}

export interface ServeDtlsOptions extends ServeOptions {
  /** The PSKs clients may use: a list, or a lookup function (identity → key). */
  psk?: PskLookup | readonly PskCredential[];
  /**
   * Our certificate or raw public key, what we trust and whether we ask clients for theirs
   * (`clientAuth`), for the ECDHE_ECDSA modes; passed to the DTLS server as they are.
   */
  publicKey?: PublicKeyCredentials;
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
  | {
      event: 'handshake';
      server: string;
      mode: string;
      resumed: boolean;
      /** True when a saved session was offered (it may still have been refused: `resumed: false`). */
      offered: boolean;
      cipherSuite: string;
      ms: number;
    }
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

/** The push connection in use. */
interface Link {
  client: CoapClient;
  uri: CoapUri;
  extraOptions: CoapOption[];
  connection?: DtlsConnection;
  transport?: DtlsClientTransport;
  /** When the server last answered on this link (performance.now()). */
  lastHeard: number;
}

/** A CoAP error that says the cloud answered: the link is fine, the request was not. */
class RejectedError extends Error {
  constructor(
    readonly code: number,
    readonly status: string,
    detail: string,
    /** 5.03's Max-Age: when to try again (RFC 7252 §5.9.3.4). */
    readonly retryAfterMs?: number,
  ) {
    super(`the server answered ${status}${detail ? `: ${detail}` : ''}`);
  }
}

const SEGMENT = /^[A-Za-z0-9._~-]+$/;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The device agent. Events: `event` (every {@link AgentEvent}), and each event also under its own
 * name (`reading`, `sent`, `handshake`, `backoff`, `dropped`, `started`, `stopped`, and `error`
 * — the latter only when someone listens for it, so that an in-process fleet never crashes on a
 * device's trouble).
 */
export class DeviceAgent extends EventEmitter {
  private readonly log: Logger;
  private readonly sensors: Sensor[];
  private readonly intervalMs: number;
  private readonly format: PayloadFormat;
  private readonly queue: SampleQueue;
  private readonly backoff: Backoff;
  private readonly pushUri?: CoapUri;
  private link?: Link;
  /** The session to offer on the next handshake (from the last connection or the state file). */
  private session?: SavedSession;
  private server?: CoapServer;
  private udp?: UdpTransport;
  private dtls?: DtlsServerTransport;
  private latest?: Sample;
  private routed = new Set<string>();
  private timer?: NodeJS.Timeout;
  private backoffTimer?: NodeJS.Timeout;
  private sending?: Promise<void>;
  /** The state-file write in flight, and whether the state changed again meanwhile (see persist()). */
  private persisting?: Promise<void>;
  private persistAgain = false;
  /** Whether the state file's last write listed unsent samples. */
  private fileHasQueue = false;
  private sampling = false;
  /** Samples taken over from the state file at start. */
  private restored = 0;
  private seq = 0;
  private running = false;
  private stopping = false;
  private readonly counters = { samples: 0, sent: 0, rejected: 0, handshakes: 0, resumed: 0 };

  constructor(private readonly opts: DeviceAgentOptions) {
    super();
    this.log = opts.logger ?? childLogger('device.agent');
    if (!opts.push && !opts.serve && !opts.serveDtls) throw new Error('DeviceAgent: give push, serve or serveDtls');
    if (opts.push) {
      this.pushUri = parseCoapUri(opts.push);
      if (this.pushUri.scheme === 'coaps' && !opts.security)
        throw new Error('DeviceAgent: a coaps:// push needs security (e.g. { psk: { identity, key } })');
    }
    if (opts.stateFile && !this.pushUri) throw new Error('DeviceAgent: stateFile goes with push');
    this.intervalMs = opts.intervalMs ?? 10_000;
    if (!Number.isFinite(this.intervalMs) || this.intervalMs < 10) throw new RangeError('intervalMs must be ≥ 10');
    this.format = opts.format ?? 'json';
    if (this.format !== 'json' && this.format !== 'senml') throw new Error(`unknown format '${String(this.format)}'`);
    const names = opts.sensors ?? SIMULATED_SENSOR_NAMES;
    if (names.length === 0) throw new Error('DeviceAgent: no sensors');
    this.sensors = names.map((s) => {
      if (typeof s !== 'string') return s;
      const spec = SIMULATED[s];
      if (!spec) throw new Error(`unknown sensor '${s}' (known: ${SIMULATED_SENSOR_NAMES.join(', ')})`);
      return new SimulatedSensor(spec);
    });
    this.queue = new SampleQueue(opts.queueLimit ?? DEFAULT_QUEUE_LIMIT);
    this.backoff = new Backoff(opts.backoff?.baseMs ?? 1000, opts.backoff?.maxMs ?? 5 * 60_000);
  }

  private report(e: AgentEvent): void {
    this.emit('event', e);
    if (e.event !== 'error' || this.listenerCount('error') > 0) this.emit(e.event, e);
    if (e.event === 'error') this.log.warn({ where: e.where }, e.message);
  }

  /** Where the server parts listen (after `start()`). */
  addresses(): { serve?: { address: string; port: number }; serveDtls?: { address: string; port: number } } {
    const a = this.udp?.address();
    const d = this.dtls?.address();
    return {
      serve: a ? { address: a.address, port: a.port } : undefined,
      serveDtls: d ? { address: d.address, port: d.port } : undefined,
    };
  }

  stats(): AgentStats {
    return {
      samples: this.counters.samples,
      sent: this.counters.sent,
      dropped: this.queue.dropped + this.counters.rejected,
      queued: this.queue.length,
      handshakes: this.counters.handshakes,
      resumed: this.counters.resumed,
    };
  }

  /**
   * Takes the first sample, opens the server sockets (serve modes), starts pushing (push mode) and
   * the sampling timer. Rejects when a server port cannot be bound; a cloud that is unreachable is
   * not an error here — the agent backs off and keeps trying.
   */
  async start(): Promise<void> {
    if (this.running) throw new Error('DeviceAgent: already started');
    this.running = true;
    if (this.opts.stateFile && this.pushUri) {
      try {
        const st = await loadState(this.opts.stateFile);
        if (st?.session) this.session = st.session;
        for (const q of st?.queue ?? [])
          this.queue.push({ seq: ++this.seq, time: new Date(q.time), readings: q.readings });
        if (st?.queue?.length) this.restored = st.queue.length;
      } catch (err) {
        this.report({ event: 'error', where: 'state', message: `${describe(err)}; starting with a full handshake` });
      }
    }
    // The first sample names the sensors (a command may print several keys), hence the served routes.
    const first = await this.read();
    if (this.opts.serve || this.opts.serveDtls) {
      try {
        await this.openServer();
      } catch (err) {
        await this.shutdown(false);
        throw err;
      }
    }
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    const a = this.addresses();
    this.report({
      event: 'started',
      push: this.opts.push,
      serve: a.serve,
      serveDtls: a.serveDtls,
      sensors: this.latest?.readings.map((r) => r.name) ?? [],
      intervalMs: this.intervalMs,
      queueLimit: this.queue.limit,
    });
    if (this.restored > 0) this.report({ event: 'restored', samples: this.restored, queued: this.queue.length });
    if (this.pushUri && this.queue.length > 0) this.kick();
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
    if (this.timer) clearInterval(this.timer);
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.timer = undefined;
    this.backoffTimer = undefined;
    await this.dropLink();
    await this.sending?.catch(() => {});
    await this.server?.close().catch(() => {});
    // Keep what was not delivered (and the session) for the next start.
    await this.persisting;
    let saved = 0;
    if (this.opts.stateFile) {
      const queue = this.queue.toArray().map((q) => ({ time: q.time.getTime(), readings: q.readings }));
      try {
        await saveState(this.opts.stateFile, { savedAt: Date.now(), session: this.session, queue });
        saved = queue.length;
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
   * Writes the state file (session and unsent samples) so that a crash or `kill -9` loses at most
   * the write in flight. Writes never overlap; changes that arrive during a write are coalesced into
   * one more write after it. `backlogOnly`: write only when samples are at risk — a backlog, a
   * back-off, or a file that still lists samples — so that a healthy link, where each sample leaves
   * at once, costs no flash write per interval.
   */
  private persist(backlogOnly = false): void {
    if (!this.opts.stateFile || !this.pushUri) return;
    if (backlogOnly && this.queue.length <= 1 && !this.backoffTimer && !this.fileHasQueue) return;
    if (this.persisting) {
      this.persistAgain = true;
      return;
    }
    const file = this.opts.stateFile;
    this.persisting = (async () => {
      do {
        this.persistAgain = false;
        const queue = this.queue.toArray().map((q) => ({ time: q.time.getTime(), readings: q.readings }));
        await saveState(file, { savedAt: Date.now(), session: this.session, queue }).then(
          () => {
            this.fileHasQueue = queue.length > 0;
          },
          (err: unknown) => this.report({ event: 'error', where: 'state', message: describe(err) }),
        );
      } while (this.persistAgain && !this.stopping);
      this.persisting = undefined;
    })();
  }

  // ---------------------------------------------------------------------------------------------
  // Sampling

  /** Reads every sensor; undefined when none gave a reading (their errors are reported). */
  private async read(): Promise<Sample | undefined> {
    const time = new Date();
    const { readings, errors } = await readAll(this.sensors, time);
    for (const e of errors) this.report({ event: 'error', where: 'sensor', message: e.message });
    if (readings.length === 0 || this.stopping) return undefined;
    this.counters.samples++;
    const s: Sample = { seq: ++this.seq, time, readings };
    this.latest = s;
    return s;
  }

  /** Reports a sample, queues it for the push and notifies the observers of the served resources. */
  private accept(s: Sample): void {
    if (this.pushUri) {
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
    if (this.server) this.notifyObservers(s);
    if (this.pushUri) {
      this.persist(true);
      this.kick();
    }
  }

  private async sample(): Promise<void> {
    // A slow command sensor must not pile up overlapping reads.
    if (this.sampling || this.stopping) return;
    this.sampling = true;
    try {
      const s = await this.read();
      if (s && !this.stopping) this.accept(s);
    } finally {
      this.sampling = false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Push

  /** Starts draining the queue unless a drain runs or the agent is backing off. */
  private kick(): void {
    if (this.sending || this.backoffTimer || this.stopping) return;
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
    });
  }

  private payload(s: Sample): { body: Buffer; contentFormat: number } {
    if (this.format === 'senml') {
      const pack = toSenml(this.opts.baseName ?? '', s.readings, s.time) as Array<Record<string, unknown>>;
      if (!this.opts.baseName && pack[0]) delete pack[0].bn;
      return { body: Buffer.from(JSON.stringify(pack)), contentFormat: ContentFormat['application/senml+json'] };
    }
    return {
      body: Buffer.from(JSON.stringify(toTimedJson(s.readings, s.time))),
      contentFormat: ContentFormat['application/json'],
    };
  }

  /** Sends queued samples, oldest first, until the queue is empty or a send fails. */
  private async drain(): Promise<void> {
    while (!this.stopping) {
      const s = this.queue.peek();
      if (!s) return;
      const { body, contentFormat } = this.payload(s);
      const t0 = performance.now();
      try {
        const idle = this.opts.idleResumeMs ?? 240_000;
        if (this.link?.connection && idle > 0 && performance.now() - this.link.lastHeard > idle) await this.dropLink();
        const link = await this.connectLink();
        const res = await link.client.request(link.uri, {
          method: 'POST',
          payload: body,
          contentFormat,
          confirmable: this.opts.confirmable ?? true,
          options: link.extraOptions,
        });
        if (this.stopping) return;
        link.lastHeard = performance.now();
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
            message: new RejectedError(res.code, res.status, detail).message,
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
        throw new RejectedError(res.code, res.status, detail, retryAfterMs);
      } catch (err) {
        if (this.stopping) return;
        const rejected = err instanceof RejectedError;
        this.report({ event: 'error', where: rejected || this.link ? 'push' : 'handshake', message: describe(err) });
        // A timeout or a failed handshake may mean that the network changed under us (new address,
        // NAT rebinding, the server restarted): start a new connection — resuming — next time.
        if (!rejected) await this.dropLink();
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

  private async connectLink(): Promise<Link> {
    if (this.link) return this.link;
    const uri = this.pushUri!;
    const params = this.opts.coap;
    const responseTimeout = this.opts.responseTimeoutMs ?? 30_000;
    if (uri.scheme === 'coap') {
      this.link = {
        client: new CoapClient({ params, responseTimeout, logger: this.log }),
        uri,
        extraOptions: [],
        lastHeard: performance.now(),
      };
      return this.link;
    }
    // coaps://: we hold the DTLS connection ourselves (rather than letting CoapClient keep it) so
    // that we can offer a saved session, see whether it resumed, and save the new one.
    const address = isIP(uri.host) !== 0 ? uri.host : (await lookup(uri.host)).address;
    const server = `${address.includes(':') ? `[${address}]` : address}:${uri.port}`;
    const security = this.opts.security!;
    const credentials = securityKey(security);
    const saved =
      this.session && this.session.server === server && this.session.credentials === credentials
        ? this.session.session
        : undefined;
    const serverName = isIP(uri.host) === 0 ? uri.host : undefined;
    const t0 = performance.now();
    let connection: DtlsConnection;
    try {
      connection = await connect({
        ...security,
        host: address,
        port: uri.port,
        serverName,
        session: saved,
        connectionId: DEVICE_CONNECTION_ID,
        logger: security.logger ?? this.log,
      });
    } catch (err) {
      // A server that does not know the session should simply run a full handshake (RFC 5246
      // §7.4.1.2, our engine does); one that answers the offer with a fatal alert gets a second,
      // full attempt without it. A timeout is no refusal: back off and offer the session again.
      if (!saved || !(err instanceof DtlsAlertError)) throw err;
      this.report({ event: 'error', where: 'handshake', message: `resumption refused: ${describe(err)}` });
      await this.forgetSession();
      connection = await connect({
        ...security,
        host: address,
        port: uri.port,
        serverName,
        connectionId: DEVICE_CONNECTION_ID,
        logger: this.log,
      });
    }
    const ms = Math.round(performance.now() - t0);
    this.counters.handshakes++;
    if (connection.resumed) this.counters.resumed++;
    this.report({
      event: 'handshake',
      server,
      mode: connection.identity.mode,
      resumed: connection.resumed,
      offered: saved !== undefined,
      cipherSuite: connection.cipherSuite,
      ms,
    });
    if (this.stopping) {
      await connection.close().catch(() => {});
      throw new Error('agent stopped');
    }
    if (connection.session.id.length > 0) {
      this.session = { server, credentials, session: connection.session };
      if (!connection.resumed) this.persist();
    }
    // The server closed the association (close_notify, idle timeout): the next send reconnects.
    const transport = new DtlsClientTransport(connection, () => {
      if (this.link === link) {
        this.link = undefined;
        void link.client.close();
      }
    });
    const link: Link = {
      client: new CoapClient({ transport, params, responseTimeout, logger: this.log }),
      uri: { ...uri, scheme: 'coap', host: address },
      // The CoAP client gets an IP literal (the DTLS connection is already made), so the host
      // name goes in Uri-Host ourselves (RFC 7252 §6.4 step 5).
      extraOptions: serverName ? [{ number: OptionNumber.UriHost, value: Buffer.from(serverName) }] : [],
      connection,
      transport,
      lastHeard: performance.now(),
    };
    this.link = link;
    return link;
  }

  /** Closes the push connection (with close_notify on DTLS); the next send opens a new one. */
  private async dropLink(): Promise<void> {
    const link = this.link;
    this.link = undefined;
    if (!link) return;
    await link.client.close().catch(() => {});
    await link.transport?.close().catch(() => {});
  }

  private async forgetSession(): Promise<void> {
    this.session = undefined;
    // The unsent samples stay in the file; only the session goes.
    this.persist();
    await this.persisting;
  }

  // ---------------------------------------------------------------------------------------------
  // Serve

  private async openServer(): Promise<void> {
    const server = new CoapServer({ params: this.opts.coap, logger: this.log });
    this.server = server;
    server.get('/sensors', (req) => this.allResource(req), {
      observable: true,
      title: 'all sensors',
      rt: 'securesense.sensors',
      if: 'core.b',
      produces: [ContentFormat['application/json'], ContentFormat['application/senml+json']],
    });
    for (const r of this.latest?.readings ?? []) this.routeSensor(r);
    // Sensors that appear later (a command printing a new key) and unknown names.
    server.get('/sensors/:name', (req) => this.sensorResource(req, req.params.name), {
      observable: true,
      hidden: true,
      produces: [
        ContentFormat['text/plain'],
        ContentFormat['application/json'],
        ContentFormat['application/senml+json'],
      ],
    });
    if (this.opts.serve) {
      this.udp = await UdpTransport.bind({ host: this.opts.serve.host, port: this.opts.serve.port });
      server.listen(this.udp);
    }
    if (this.opts.serveDtls) {
      const { psk: p, publicKey, host, port } = this.opts.serveDtls;
      this.dtls = await DtlsServerTransport.listen({
        ...publicKey,
        host,
        port,
        psk: typeof p === 'function' ? p : p?.length ? pskLookup(p) : undefined,
        logger: this.log,
      });
      server.listen(this.dtls);
    }
  }

  private routeSensor(r: Reading): void {
    if (!this.server || this.routed.has(r.name) || !SEGMENT.test(r.name)) return;
    this.routed.add(r.name);
    this.server.get(`/sensors/${r.name}`, (req) => this.sensorResource(req, r.name), {
      observable: true,
      title: r.unit ? `${r.name} (${r.unit})` : r.name,
      rt: r.name,
      // "core.s": a sensor interface (CoRE Interfaces, draft-ietf-core-interfaces §6.3).
      if: 'core.s',
      produces: [
        ContentFormat['text/plain'],
        ContentFormat['application/json'],
        ContentFormat['application/senml+json'],
      ],
    });
  }

  /** RFC 7252 §5.10.5: a representation stays fresh until the next sample is due. */
  private maxAge(): number {
    return Math.max(1, Math.ceil(this.intervalMs / 1000));
  }

  private allResource(req: CoapRequest): CoapResponseInit {
    const s = this.latest;
    if (!s) throw new CoapError(Code.ServiceUnavailable, 'no reading yet');
    if (req.accept === ContentFormat['application/senml+json']) {
      const pack = toSenml(this.opts.baseName ?? '', s.readings, s.time) as Array<Record<string, unknown>>;
      if (!this.opts.baseName && pack[0]) delete pack[0].bn;
      return { payload: JSON.stringify(pack), contentFormat: req.accept, maxAge: this.maxAge() };
    }
    return {
      payload: JSON.stringify(toTimedJson(s.readings, s.time)),
      contentFormat: ContentFormat['application/json'],
      maxAge: this.maxAge(),
    };
  }

  private sensorResource(req: CoapRequest, name: string): CoapResponseInit {
    const s = this.latest;
    const r = s?.readings.find((x) => x.name === name);
    if (!s || !r) return { code: Code.NotFound, payload: `no sensor '${name}'` };
    const maxAge = this.maxAge();
    if (req.accept === ContentFormat['application/json']) {
      const body = r.unit
        ? { value: r.value, time: s.time.getTime(), unit: r.unit }
        : { value: r.value, time: s.time.getTime() };
      return { payload: JSON.stringify(body), contentFormat: req.accept, maxAge };
    }
    if (req.accept === ContentFormat['application/senml+json']) {
      const rec: Record<string, unknown> = { n: `${this.opts.baseName ?? ''}${r.name}`, bt: s.time.getTime() / 1000 };
      if (r.unit) rec.u = r.unit;
      rec.v = r.value;
      return { payload: JSON.stringify([rec]), contentFormat: req.accept, maxAge };
    }
    // Default: the bare number, which any CoAP client can show (libcoap's coap-client prints it).
    return { payload: String(r.value), contentFormat: ContentFormat['text/plain'], maxAge };
  }

  private notifyObservers(s: Sample): void {
    const server = this.server;
    if (!server) return;
    for (const r of s.readings) this.routeSensor(r);
    const paths = ['/sensors', ...s.readings.map((r) => `/sensors/${r.name}`)];
    for (const p of paths) {
      server.notify(p).catch((err: unknown) => this.report({ event: 'error', where: 'serve', message: describe(err) }));
    }
  }
}

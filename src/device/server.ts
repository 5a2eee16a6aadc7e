/**
 * The agent's server: its sensors as observable CoAP resources (RFC 7641) over UDP and/or DTLS for
 * the cloud's poller — `/sensors` (all of them), `/sensors/NAME` (one each) and, from the CoAP
 * server, `/.well-known/core` (RFC 6690).
 */
import {
  CoapError,
  type CoapRequest,
  type CoapResponseInit,
  CoapServer,
  Code,
  ContentFormat,
  DtlsServerTransport,
  type TransmissionParameters,
  UdpTransport,
} from '../coap/index.ts';
import type { PublicKeyCredentials } from '../dtls/credentials/index.ts';
import { type PskCredential, pskLookup } from '../dtls/credentials/psk.ts';
import type { PskLookup } from '../dtls/index.ts';
import type { Logger } from '../util/log.ts';
import { type PayloadFormat, renderSample } from './payload.ts';
import type { Sample } from './queue.ts';
import type { Reading } from './sensors.ts';

/** Where the agent serves its resources. */
export interface ServeOptions {
  /** UDP port (0: any free port; see `DeviceAgent.addresses`). */
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

export interface SensorServerOptions {
  serve?: ServeOptions;
  serveDtls?: ServeDtlsOptions;
  intervalMs: number;
  baseName?: string;
  params?: Partial<TransmissionParameters>;
  logger: Logger;
  /** The latest sample, or undefined before the first. */
  latest(): Sample | undefined;
  /** A notification could not be sent. */
  onError(message: string): void;
}

/** A sensor name that is one URI path segment as it stands (RFC 3986 §2.3 unreserved characters). */
const SEGMENT = /^[A-Za-z0-9._~-]+$/;

const ONE_SENSOR_FORMATS = [
  ContentFormat['text/plain'],
  ContentFormat['application/json'],
  ContentFormat['application/senml+json'],
];

export class SensorServer {
  private readonly server: CoapServer;
  private readonly routed = new Set<string>();
  private udp?: UdpTransport;
  private dtls?: DtlsServerTransport;

  constructor(private readonly o: SensorServerOptions) {
    this.server = new CoapServer({ params: o.params, logger: o.logger });
  }

  /** Adds the routes (one per sensor of `readings`) and opens the sockets. */
  async open(readings: readonly Reading[]): Promise<void> {
    const server = this.server;
    server.get('/sensors', (req) => this.allResource(req), {
      observable: true,
      title: 'all sensors',
      rt: 'securesense.sensors',
      if: 'core.b',
      produces: [ContentFormat['application/json'], ContentFormat['application/senml+json']],
    });
    for (const r of readings) this.routeSensor(r);
    // Sensors that appear later (a command printing a new key) and unknown names.
    server.get('/sensors/:name', (req) => this.sensorResource(req, req.params.name), {
      observable: true,
      hidden: true,
      produces: ONE_SENSOR_FORMATS,
    });
    const { serve, serveDtls } = this.o;
    if (serve) {
      this.udp = await UdpTransport.bind({ host: serve.host, port: serve.port });
      server.listen(this.udp);
    }
    if (serveDtls) {
      const { psk: p, publicKey, host, port } = serveDtls;
      this.dtls = await DtlsServerTransport.listen({
        ...publicKey,
        host,
        port,
        psk: typeof p === 'function' ? p : p?.length ? pskLookup(p) : undefined,
        logger: this.o.logger,
      });
      server.listen(this.dtls);
    }
  }

  addresses(): { serve?: { address: string; port: number }; serveDtls?: { address: string; port: number } } {
    const a = this.udp?.address();
    const d = this.dtls?.address();
    return {
      serve: a ? { address: a.address, port: a.port } : undefined,
      serveDtls: d ? { address: d.address, port: d.port } : undefined,
    };
  }

  /** Tells the observers of `/sensors` and of each sensor in `s` about the new sample. */
  notify(s: Sample): void {
    for (const r of s.readings) this.routeSensor(r);
    const paths = ['/sensors', ...s.readings.map((r) => `/sensors/${r.name}`)];
    for (const p of paths) {
      this.server.notify(p).catch((err: unknown) => this.o.onError(err instanceof Error ? err.message : String(err)));
    }
  }

  async close(): Promise<void> {
    await this.server.close().catch(() => {});
  }

  private routeSensor(r: Reading): void {
    if (this.routed.has(r.name) || !SEGMENT.test(r.name)) return;
    this.routed.add(r.name);
    this.server.get(`/sensors/${r.name}`, (req) => this.sensorResource(req, r.name), {
      observable: true,
      title: r.unit ? `${r.name} (${r.unit})` : r.name,
      rt: r.name,
      // "core.s": a sensor interface (CoRE Interfaces, draft-ietf-core-interfaces §6.3).
      if: 'core.s',
      produces: ONE_SENSOR_FORMATS,
    });
  }

  /** RFC 7252 §5.10.5: a representation stays fresh until the next sample is due. */
  private maxAge(): number {
    return Math.max(1, Math.ceil(this.o.intervalMs / 1000));
  }

  private allResource(req: CoapRequest): CoapResponseInit {
    const s = this.o.latest();
    if (!s) throw new CoapError(Code.ServiceUnavailable, 'no reading yet');
    const format: PayloadFormat = req.accept === ContentFormat['application/senml+json'] ? 'senml' : 'json';
    const { body, contentFormat } = renderSample(format, this.o.baseName, s);
    return { payload: body, contentFormat, maxAge: this.maxAge() };
  }

  private sensorResource(req: CoapRequest, name: string): CoapResponseInit {
    const s = this.o.latest();
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
      const rec: Record<string, unknown> = { n: `${this.o.baseName ?? ''}${r.name}`, bt: s.time.getTime() / 1000 };
      if (r.unit) rec.u = r.unit;
      rec.v = r.value;
      return { payload: JSON.stringify([rec]), contentFormat: req.accept, maxAge };
    }
    // Default: the bare number, which any CoAP client can show (libcoap's coap-client prints it).
    return { payload: String(r.value), contentFormat: ContentFormat['text/plain'], maxAge };
  }
}

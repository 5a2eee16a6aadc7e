/**
 * One fetcher per URL scheme (issue 6): `http:`/`https:` with node:http(s), `coap:`/`coaps:` with
 * the project's CoAP client. A fetcher turns a poll target into the response bytes and their
 * content type, or throws a {@link PollError} naming what failed.
 *
 * The CoAP fetcher keeps one client per resource, and so over `coaps://` one DTLS session per
 * resource, reused by every poll (the paper's Fig. 5). When the URL, the transmission settings or
 * the credentials change, or the resource goes away, {@link CoapFetcher.forget} closes that client:
 * the DTLS connection ends with close_notify (RFC 5246 §7.2.1) and the next poll handshakes anew.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import { CoapClient, CoapError, type CoapsSecurity, CoapTimeoutError, contentFormatName } from '../../coap/index.ts';
import { DtlsAlertError, type DtlsMeter, DtlsTimeoutError } from '../../dtls/index.ts';
import type { Logger } from '../../util/log.ts';

/** What a poll asks for. */
export interface PollTarget {
  resourceId: number;
  url: URL;
  /** CoAP ACK_TIMEOUT and the DTLS initial retransmission timeout; the whole HTTP request's timeout × 8. */
  timeoutMs: number;
  /** CoAP MAX_RETRANSMIT and DTLS flight retransmissions. */
  retransmits: number;
  /** coaps:// only: the PSK the device server knows this platform by. */
  psk?: { identity: string; key: Buffer };
}

export interface FetchResult {
  /** "200", "2.05". */
  status: string;
  body: Buffer;
  contentType: string | null;
  /** coaps:// only: this poll completed a new DTLS handshake (full or abbreviated). */
  newSession: boolean;
  /** coaps:// only: that handshake was a full one (not a resumption). */
  fullHandshake: boolean;
}

/** A failed poll: `kind` goes into the poll log's status. */
export class PollError extends Error {
  constructor(
    readonly kind: 'timeout' | 'network' | 'handshake' | 'http' | 'coap' | 'too-large' | 'credentials' | 'scheme',
    message: string,
    readonly newSession = false,
  ) {
    super(message);
    this.name = 'PollError';
  }
}

export interface Fetcher {
  fetch(t: PollTarget): Promise<FetchResult>;
  /** Drops per-resource state (sessions); called on changes and deletion. */
  forget(resourceId: number): Promise<void>;
  close(): Promise<void>;
}

/** Largest response body a poll accepts. */
export const MAX_POLL_BODY = 1024 * 1024;

export interface HttpFetcherOptions {
  /** Extra trusted CA certificates (PEM) for https://, beside Node's defaults. */
  ca?: string | Buffer | Array<string | Buffer>;
}

/** http:// and https:// with a timeout and a body bound. */
export class HttpFetcher implements Fetcher {
  /** Node replaces its CA store with `ca` when given one: keep the defaults beside the extra CAs. */
  private readonly ca?: Array<string | Buffer>;

  constructor(opts: HttpFetcherOptions = {}) {
    if (opts.ca !== undefined) this.ca = [...rootCertificates, ...(Array.isArray(opts.ca) ? opts.ca : [opts.ca])];
  }

  fetch(t: PollTarget): Promise<FetchResult> {
    const https = t.url.protocol === 'https:';
    const req = https ? httpsRequest : httpRequest;
    // The CoAP settings bound a poll at ACK_TIMEOUT·1.5·(2^(n+1)−1); HTTP gets one overall timeout.
    const timeout = t.timeoutMs * 8;
    return new Promise<FetchResult>((resolve, reject) => {
      const r = req(
        t.url,
        {
          method: 'GET',
          timeout,
          headers: { accept: 'application/json, */*' },
          ...(https && this.ca ? { ca: this.ca } : {}),
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_POLL_BODY) {
              r.destroy(new PollError('too-large', `response larger than ${MAX_POLL_BODY} bytes`));
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status < 200 || status > 299) {
              reject(new PollError('http', `HTTP ${status}`));
              return;
            }
            resolve({
              status: String(status),
              body: Buffer.concat(chunks),
              contentType: res.headers['content-type'] ?? null,
              newSession: false,
              fullHandshake: false,
            });
          });
          res.on('error', (err) => reject(err));
        },
      );
      r.on('timeout', () => r.destroy(new PollError('timeout', `no answer within ${timeout} ms`)));
      r.on('error', (err) => reject(err instanceof PollError ? err : new PollError('network', err.message)));
      r.end();
    });
  }

  async forget(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Counts completed DTLS handshakes of one client (the meter sees every handshake message). */
class HandshakeCounter implements DtlsMeter {
  completed = 0;
  full = 0;
  handshakeMessage(dir: 'out' | 'in', type: string): void {
    // RFC 6347 §4.2.4: the client's handshake ends with the server's Finished (full) or sends its
    // own last (abbreviated); ServerHelloDone appears only in a full handshake.
    if (dir === 'in' && type === 'server_hello_done') this.full++;
    if (type === 'finished' && dir === 'in') this.completed++;
  }
  record(): void {}
  crypto(): void {}
}

interface CoapSlot {
  /** URL origin, transmission settings and credentials this client was made for. */
  key: string;
  client: CoapClient;
  meter: HandshakeCounter;
  /** When the last answer came (ms, Date.now()). */
  lastAnswer: number;
}

export interface CoapFetcherOptions {
  logger?: Logger;
  /**
   * A coaps:// session silent for longer than this is closed and made afresh (resumed when the
   * device allows) before the next poll: DTLS servers drop idle associations without telling the
   * client (ours and libcoap's after 300 s), and a request sent into a forgotten association is
   * noticed only after CoAP's whole retransmission sequence. Default 240 000 ms; 0 = never.
   */
  idleRenewMs?: number;
}

/** coap:// and coaps://: one client (and DTLS session) per resource, kept between polls. */
export class CoapFetcher implements Fetcher {
  private readonly slots = new Map<number, CoapSlot>();
  private readonly log?: Logger;
  private readonly idleRenewMs: number;

  constructor(opts: CoapFetcherOptions = {}) {
    this.log = opts.logger;
    this.idleRenewMs = opts.idleRenewMs ?? 240_000;
  }

  private slot(t: PollTarget): CoapSlot {
    const creds = t.psk ? `${t.psk.identity}:${t.psk.key.toString('hex')}` : '';
    const key = `${t.url.protocol}//${t.url.host}|${t.timeoutMs}|${t.retransmits}|${creds}`;
    const cur = this.slots.get(t.resourceId);
    const stale = cur !== undefined && this.idleRenewMs > 0 && Date.now() - cur.lastAnswer > this.idleRenewMs;
    if (cur && cur.key === key && !stale) return cur;
    if (cur) void this.forget(t.resourceId);
    const meter = new HandshakeCounter();
    let security: CoapsSecurity | undefined;
    if (t.url.protocol === 'coaps:') {
      if (!t.psk) throw new PollError('credentials', 'coaps:// polls need a PSK device credential on the resource');
      security = {
        psk: t.psk,
        meter,
        retransmitInitialMs: t.timeoutMs,
        maxRetransmits: t.retransmits,
        logger: this.log,
      };
    }
    const client = new CoapClient({
      params: { ackTimeout: t.timeoutMs, maxRetransmit: t.retransmits },
      security,
      maxBodySize: MAX_POLL_BODY,
      responseTimeout: t.timeoutMs * 8,
      logger: this.log,
    });
    const slot = { key, client, meter, lastAnswer: Date.now() };
    this.slots.set(t.resourceId, slot);
    return slot;
  }

  async fetch(t: PollTarget): Promise<FetchResult> {
    const slot = this.slot(t);
    const before = slot.meter.completed;
    const fullBefore = slot.meter.full;
    const session = () => slot.meter.completed > before;
    try {
      const res = await slot.client.get(t.url.href);
      slot.lastAnswer = Date.now();
      if (!res.ok)
        throw new PollError('coap', `CoAP ${res.status} ${res.payload.toString('utf8').slice(0, 200)}`, session());
      return {
        status: res.status,
        body: res.payload,
        contentType: res.contentFormat === undefined ? null : contentFormatName(res.contentFormat),
        newSession: session(),
        fullHandshake: slot.meter.full > fullBefore,
      };
    } catch (err) {
      if (err instanceof PollError) throw err;
      if (err instanceof DtlsAlertError || err instanceof DtlsTimeoutError) {
        // A failed handshake leaves nothing worth keeping.
        await this.forget(t.resourceId);
        throw new PollError('handshake', err.message);
      }
      if (err instanceof CoapTimeoutError) {
        // The device may have lost our association: the next poll starts a new session.
        if (t.url.protocol === 'coaps:') await this.forget(t.resourceId);
        throw new PollError('timeout', err.message, session());
      }
      if (err instanceof CoapError) throw new PollError('coap', err.message, session());
      throw new PollError('network', (err as Error).message, session());
    }
  }

  /** Closes the resource's client: over coaps:// the device gets close_notify. */
  async forget(resourceId: number): Promise<void> {
    const s = this.slots.get(resourceId);
    if (!s) return;
    this.slots.delete(resourceId);
    await s.client.close();
  }

  /** Open clients (one per polled CoAP resource). */
  get size(): number {
    return this.slots.size;
  }

  async close(): Promise<void> {
    await Promise.all([...this.slots.keys()].map((rid) => this.forget(rid)));
  }
}

/**
 * One fetcher per URL scheme: `http:`/`https:` with node:http(s) (http-fetcher.ts), `coap:`/`coaps:`
 * with the project's CoAP client (here). A fetcher turns a poll target into the response bytes and their
 * content type, or throws a {@link PollError} naming what failed.
 *
 * The CoAP fetcher keeps one client per resource, and so over `coaps://` one DTLS session per
 * resource, reused by every poll (the paper's Fig. 5). When the URL, the transmission settings or
 * the credentials change, or the resource goes away, {@link CoapFetcher.forget} closes that client:
 * the DTLS connection ends with close_notify (RFC 5246 §7.2.1) and the next poll handshakes anew.
 */

import { isIP } from 'node:net';
import {
  CoapClient,
  CoapError,
  CoapTimeoutError,
  type CoapUri,
  contentFormatName,
  DtlsClientTransport,
  OptionNumber,
  parseCoapUri,
} from '../../coap/index.ts';
import { alertName, connect, DtlsAlertError, type DtlsSession, DtlsTimeoutError } from '../../dtls/index.ts';
import type { Logger } from '../../util/log.ts';
import { NetGuard } from '../net-guard.ts';
import type { CoapsPollSecurity } from './coaps-security.ts';
import { PollError } from './errors.ts';
import { type Fetcher, type FetchResult, guardError, MAX_POLL_BODY, type PollTarget } from './fetch.ts';

/**
 * The poller offers a Connection ID (RFC 9146) of 4 bytes: a device that serves DTLS behind a NAT
 * and whose address changed still reaches the poller's session with its next record (the device's
 * own CID, if it gives one, lets the poller's records reach it the same way).
 */
const POLLER_CONNECTION_ID = { length: 4 };

export { PollError, type PollErrorKind } from './errors.ts';
export { type Fetcher, type FetchResult, MAX_POLL_BODY, type PollTarget } from './fetch.ts';
export { HttpFetcher, type HttpFetcherOptions, MAX_POLL_REDIRECTS } from './http-fetcher.ts';

interface CoapSlot {
  /** What this client was made for: scheme, address, port, transmission settings, credentials. */
  key: string;
  client: CoapClient;
  /** coaps:// only: the DTLS connection the client's requests travel over. */
  dtls?: DtlsClientTransport;
  /** When the last answer came (ms, Date.now()). */
  lastAnswer: number;
}

export interface CoapFetcherOptions {
  logger?: Logger;
  /** Which addresses may be fetched; default: public addresses only. */
  guard?: NetGuard;
  /**
   * A coaps:// session silent for longer than this is closed and made afresh (resumed when the
   * device allows) before the next poll: DTLS servers drop idle associations without telling the
   * client (ours and libcoap's after 300 s), and a request sent into a forgotten association is
   * noticed only after CoAP's whole retransmission sequence. Default 240 000 ms; 0 = never.
   */
  idleRenewMs?: number;
}

/**
 * coap:// and coaps://: one client (and DTLS session) per resource, kept between polls.
 *
 * Over coaps:// the fetcher makes the DTLS connection itself rather than leaving it to the CoAP
 * client, so that what the handshake proved about the device is checked against the resource's
 * bindings before the first request goes out, and so that it knows whether each new session was
 * a full handshake or a resumption. The CoAP client then runs over that one connection as its
 * transport (CoAP never sees a DTLS record).
 */
export class CoapFetcher implements Fetcher {
  private readonly slots = new Map<number, CoapSlot>();
  /**
   * The newest session per resource and the credentials key it was made under: a new connection
   * under the same key (after a URL change or an idle renewal) resumes it with an abbreviated
   * handshake (RFC 5246 §7.3, §7.4.1.2); close_notify does not end a session's resumability.
   */
  private readonly resumable = new Map<number, { key: string; session: DtlsSession }>();
  /** Handshakes in progress per resource; forget() marks them void. */
  private readonly connecting = new Map<number, { cancelled: boolean }>();
  private readonly log?: Logger;
  private readonly idleRenewMs: number;
  private readonly guard: NetGuard;

  constructor(opts: CoapFetcherOptions = {}) {
    this.log = opts.logger;
    this.guard = opts.guard ?? new NetGuard();
    this.idleRenewMs = opts.idleRenewMs ?? 240_000;
  }

  private plainSlot(t: PollTarget, address: string, port: number): CoapSlot {
    const key = `coap|${address}|${port}|${t.timeoutMs}|${t.retransmits}`;
    const cur = this.slots.get(t.resourceId);
    if (cur && cur.key === key) return cur;
    if (cur) void this.closeSlot(t.resourceId);
    const slot: CoapSlot = { key, client: this.client(t), lastAnswer: Date.now() };
    this.slots.set(t.resourceId, slot);
    return slot;
  }

  private client(t: PollTarget, transport?: DtlsClientTransport): CoapClient {
    return new CoapClient({
      params: { ackTimeout: t.timeoutMs, maxRetransmit: t.retransmits },
      transport,
      maxBodySize: MAX_POLL_BODY,
      responseTimeout: t.timeoutMs * 8,
      logger: this.log,
    });
  }

  /**
   * The resource's coaps:// client, reused when it was made for the same device address and
   * credentials and has not been idle too long; otherwise a new DTLS connection (resumed when a
   * session under the same credentials is at hand). `made` tells whether this call handshook.
   */
  private async secureSlot(
    t: PollTarget,
    u: CoapUri,
    address: string,
  ): Promise<{ slot: CoapSlot; made?: { resumed: boolean } }> {
    const sec = t.security;
    if (!sec) throw new PollError('credentials', 'coaps:// polls need a device credential on the resource');
    const rid = t.resourceId;
    const resumeKey = `${address}|${u.port}|${sec.key}`;
    const key = `coaps|${resumeKey}|${t.timeoutMs}|${t.retransmits}`;
    const cur = this.slots.get(rid);
    const stale = cur !== undefined && this.idleRenewMs > 0 && Date.now() - cur.lastAnswer > this.idleRenewMs;
    if (cur && cur.key === key && !stale) return { slot: cur };
    if (cur) await this.closeSlot(rid);

    const prev = this.resumable.get(rid);
    const pending = { cancelled: false };
    this.connecting.set(rid, pending);
    let conn: Awaited<ReturnType<typeof connect>>;
    try {
      conn = await connect({
        ...sec.options,
        host: address,
        port: u.port,
        // Sent as server_name (RFC 6066) when the URL names the device; never checked (see coaps-security.ts).
        serverName: isIP(u.host) === 0 ? u.host : undefined,
        session: prev?.key === resumeKey ? prev.session : undefined,
        connectionId: POLLER_CONNECTION_ID,
        retransmitInitialMs: t.timeoutMs,
        maxRetransmits: t.retransmits,
        logger: this.log,
      });
    } catch (err) {
      // A failed handshake leaves nothing worth keeping, nor resuming.
      this.resumable.delete(rid);
      throw handshakeError(err, sec);
    } finally {
      if (this.connecting.get(rid) === pending) this.connecting.delete(rid);
    }
    const refused = sec.check(conn.identity);
    if (refused) {
      this.resumable.delete(rid);
      await conn.close();
      throw new PollError('handshake', `${refused}; the session was closed (offered: ${sec.modes.join(', ')})`);
    }
    if (pending.cancelled) {
      // The resource changed or went away while we handshook: this session belongs to nothing.
      await conn.close();
      throw new PollError('network', 'the resource changed during the DTLS handshake');
    }
    this.resumable.set(rid, { key: resumeKey, session: conn.session });
    const transport: DtlsClientTransport = new DtlsClientTransport(conn, () => {
      // The device closed the session (close_notify, or a fatal alert): the next poll handshakes.
      const s = this.slots.get(rid);
      if (s?.dtls === transport) {
        this.slots.delete(rid);
        void s.client.close();
      }
    });
    const slot: CoapSlot = { key, client: this.client(t, transport), dtls: transport, lastAnswer: Date.now() };
    this.slots.set(rid, slot);
    return { slot, made: { resumed: conn.resumed } };
  }

  async fetch(t: PollTarget): Promise<FetchResult> {
    let u: CoapUri;
    try {
      u = parseCoapUri(t.url.href);
    } catch (err) {
      throw new PollError('scheme', (err as Error).message);
    }
    // The guard resolves the name once and checks the address; the request goes to that address
    // (a name travels in Uri-Host, RFC 7252 §6.4), so a second resolution cannot redirect it.
    let address: string;
    try {
      ({ address } = await this.guard.resolve(u.host, u.port));
    } catch (err) {
      throw guardError(err);
    }
    const named = isIP(u.host) === 0 ? [{ number: OptionNumber.UriHost, value: Buffer.from(u.host) }] : [];
    let made: { resumed: boolean } | undefined;
    let slot: CoapSlot;
    let res: Awaited<ReturnType<CoapClient['get']>>;
    try {
      if (u.scheme === 'coaps') {
        ({ slot, made } = await this.secureSlot(t, u, address));
        // The DTLS connection is the client's transport, which the client uses for requests it
        // sees as coap:// (it would otherwise make its own session).
        res = await slot.client.get({ ...u, scheme: 'coap', host: address }, { options: named });
      } else {
        slot = this.plainSlot(t, address, u.port);
        res = await slot.client.get({ ...u, host: address }, { options: named });
      }
    } catch (err) {
      if (err instanceof PollError) throw err;
      const session = made !== undefined;
      if (err instanceof CoapTimeoutError) {
        // The device may have lost our association: the next poll starts a new session.
        if (u.scheme === 'coaps') await this.closeSlot(t.resourceId);
        throw new PollError('timeout', err.message, session);
      }
      if (err instanceof CoapError && err.kind === 'response') throw new PollError('coap', err.message, session);
      throw new PollError('network', (err as Error).message, session);
    }
    slot.lastAnswer = Date.now();
    if (!res.ok)
      throw new PollError(
        'coap',
        `CoAP ${res.status} ${res.payload.toString('utf8').slice(0, 200)}`,
        made !== undefined,
      );
    return {
      status: res.status,
      body: res.payload,
      contentType: res.contentFormat === undefined ? null : contentFormatName(res.contentFormat),
      newSession: made !== undefined,
      fullHandshake: made !== undefined && !made.resumed,
    };
  }

  /** Closes the client; over coaps:// the device gets close_notify. */
  private async closeSlot(resourceId: number): Promise<void> {
    const s = this.slots.get(resourceId);
    if (!s) return;
    this.slots.delete(resourceId);
    await s.client.close();
    await s.dtls?.close();
  }

  /**
   * Closes the resource's client (over coaps:// the device gets close_notify) and voids a
   * handshake in progress. `resumable: false` (credentials changed, resource deleted) also drops
   * the session kept for resumption.
   */
  async forget(resourceId: number, opts: { resumable?: boolean } = {}): Promise<void> {
    const pending = this.connecting.get(resourceId);
    if (pending) pending.cancelled = true;
    if (opts.resumable === false) this.resumable.delete(resourceId);
    await this.closeSlot(resourceId);
  }

  /** Open clients (one per polled CoAP resource). */
  get size(): number {
    return this.slots.size;
  }

  async close(): Promise<void> {
    await Promise.all([...this.slots.keys()].map((rid) => this.forget(rid, { resumable: false })));
    this.resumable.clear();
  }
}

/** A failed handshake as the poll log shows it: which alert, sent by whom, and what was offered. */
function handshakeError(err: unknown, sec: CoapsPollSecurity): PollError {
  const offered = `offered: ${sec.modes.join(', ')}`;
  if (err instanceof DtlsAlertError) {
    const by = err.sent ? 'sent by the platform' : 'sent by the device';
    return new PollError(
      'handshake',
      `DTLS handshake failed: alert ${alertName(err.description)} ${by} — ${err.message} (${offered})`,
    );
  }
  if (err instanceof DtlsTimeoutError) return new PollError('handshake', `${err.message} (${offered})`);
  return new PollError('network', (err as Error).message);
}

/**
 * The agent's push link: one {@link CoapClient} to the cloud, on the CoAP client's public API.
 *
 * For `coaps://` the link registers its own transport provider (client option `transports`), so
 * the URI stays `coaps://` and the client still does the rest (address lookup, Uri-Host, token and
 * message layers, dropping a transport that went silent). The provider makes the DTLS connection
 * itself, because the agent needs what the client's built-in provider hides: offering a saved
 * session, seeing whether it resumed (RFC 5246 §7.3) and saving the new one.
 *
 * All DTLS connect options of the push are in {@link PushLink.handshake}.
 */
import { isIP } from 'node:net';
import {
  CoapCancelledError,
  CoapClient,
  type CoapResponse,
  type CoapsSecurity,
  type CoapUri,
  DtlsClientTransport,
  type RequestOptions,
  securityKey,
  type TransmissionParameters,
  type TransportProvider,
  type TransportTarget,
} from '../coap/index.ts';
import { connect, DtlsAlertError, type DtlsConnection } from '../dtls/index.ts';
import type { Logger } from '../util/log.ts';
import type { SavedSession } from './state.ts';

/**
 * The device offers a Connection ID (RFC 9146) of length 0: the server's address does not change,
 * so the device needs none of its own, while the CID the server gives it lets its records reach the
 * session after a NAT rebinding changed the device's address (no new handshake).
 */
const DEVICE_CONNECTION_ID = { length: 0 };

/** What the agent reports of each handshake (its `handshake` event without the name). */
export interface HandshakeReport {
  server: string;
  mode: string;
  resumed: boolean;
  /** True when a saved session was offered (it may still have been refused: `resumed: false`). */
  offered: boolean;
  cipherSuite: string;
  ms: number;
}

export interface PushLinkOptions {
  uri: CoapUri;
  /** Credentials for a `coaps://` push. */
  security?: CoapsSecurity;
  params?: Partial<TransmissionParameters>;
  responseTimeoutMs: number;
  /** A DTLS connection silent this long is closed and resumed afresh before the next request; 0 = never. */
  idleResumeMs: number;
  logger: Logger;
  /** A handshake completed. */
  onHandshake(h: HandshakeReport): void;
  /** The session to keep changed: `undefined` when it was refused. `full`: a new one from a full handshake. */
  onSession(session: SavedSession | undefined, full: boolean): void | Promise<void>;
  /** A saved session was refused with a fatal alert; a full handshake follows. */
  onRefused(message: string): void;
  /** True once the agent stops: a connection that completes then is closed at once. */
  stopping(): boolean;
}

export class PushLink {
  private client?: CoapClient;
  private connection?: DtlsConnection;
  private savedSession?: SavedSession;
  /** Set while a request has no DTLS connection yet: its failure is a handshake's. */
  private connecting = false;
  /** When the server last answered (performance.now()). */
  private lastHeard = 0;
  readonly counters = { handshakes: 0, resumed: 0 };

  constructor(private readonly o: PushLinkOptions) {}

  /** The session to offer on the next handshake (from the last connection or the state file). */
  get session(): SavedSession | undefined {
    return this.savedSession;
  }

  /** Offers `session` (from the state file) on the next handshake if it is for this server and these credentials. */
  offer(session: SavedSession): void {
    this.savedSession = session;
  }

  /** True when the last failed request failed before a DTLS connection was made. */
  get failedInHandshake(): boolean {
    return this.connecting;
  }

  /** Sends one request to the push URI, connecting (and resuming) first when needed. */
  async request(opts: RequestOptions): Promise<CoapResponse> {
    const idle = this.o.idleResumeMs;
    if (this.connection && idle > 0 && performance.now() - this.lastHeard > idle) await this.drop();
    this.connecting = this.o.uri.scheme === 'coaps' && !this.connection;
    if (!this.client) this.client = this.newClient();
    const res = await this.client.request(this.o.uri, opts);
    this.lastHeard = performance.now();
    return res;
  }

  /** Closes the connection (with close_notify on DTLS); the next request opens a new one. */
  async drop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.connection = undefined;
    await client?.close().catch(() => {});
  }

  private newClient(): CoapClient {
    const { params, responseTimeoutMs: responseTimeout, logger } = this.o;
    const coaps: TransportProvider = {
      key: (t) => `${t.address}|${t.port}`,
      // A server that forgot the association drops our records silently (RFC 6347 §4.2.8).
      dropWhenSilent: true,
      open: async (t, onClose) => {
        const connection = await this.handshake(t);
        this.connection = connection;
        this.connecting = false;
        // The server closed the association (close_notify, idle timeout): the next request reconnects.
        const transport = new DtlsClientTransport(connection, () => {
          if (this.connection === connection) this.connection = undefined;
          onClose();
        });
        return { transport, identity: connection.identity };
      },
    };
    return new CoapClient({ params, responseTimeout, logger, transports: { coaps } });
  }

  /** The DTLS handshake of the push, offering the saved session when it belongs to this server and these credentials. */
  private async handshake(t: TransportTarget): Promise<DtlsConnection> {
    const security = this.o.security;
    if (!security) throw new TypeError('a coaps:// push needs security');
    const server = `${t.address.includes(':') ? `[${t.address}]` : t.address}:${t.port}`;
    const credentials = securityKey(security);
    const s = this.savedSession;
    const saved = s && s.server === server && s.credentials === credentials ? s.session : undefined;
    const base = {
      ...security,
      host: t.address,
      port: t.port,
      serverName: isIP(t.host) === 0 ? t.host : undefined,
      connectionId: DEVICE_CONNECTION_ID,
      logger: security.logger ?? this.o.logger,
    };
    const t0 = performance.now();
    let connection: DtlsConnection;
    try {
      connection = await connect({ ...base, session: saved });
    } catch (err) {
      // A server that does not know the session should simply run a full handshake (RFC 5246
      // §7.4.1.2, our engine does); one that answers the offer with a fatal alert gets a second,
      // full attempt without it. A timeout is no refusal: back off and offer the session again.
      if (!saved || !(err instanceof DtlsAlertError)) throw err;
      this.o.onRefused(`resumption refused: ${err.message}`);
      this.savedSession = undefined;
      await this.o.onSession(undefined, false);
      connection = await connect(base);
    }
    this.counters.handshakes++;
    if (connection.resumed) this.counters.resumed++;
    this.o.onHandshake({
      server,
      mode: connection.identity.mode,
      resumed: connection.resumed,
      offered: saved !== undefined,
      cipherSuite: connection.cipherSuite,
      ms: Math.round(performance.now() - t0),
    });
    if (this.o.stopping()) {
      await connection.close().catch(() => {});
      throw new CoapCancelledError('agent stopped');
    }
    if (connection.session.id.length > 0) {
      this.savedSession = { server, credentials, session: connection.session };
      await this.o.onSession(this.savedSession, !connection.resumed);
    }
    return connection;
  }
}

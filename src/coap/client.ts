/**
 * The CoAP client: requests to `coap://` and `coaps://` URIs with token matching (RFC 7252 §5.3.2),
 * piggybacked and separate responses, Block1 uploads and Block2 downloads (RFC 7959 §2.5, §3) and
 * observations (RFC 7641 §3). `coap://` goes over one UDP socket per server, connected to it;
 * `coaps://` over one DTLS session per (server, credentials), kept and reused for later requests.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { secureExchange } from '../oscore/client.ts';
import type { OscoreContext } from '../oscore/context.ts';
import type { Logger } from '../util/log.ts';
import { childLogger } from '../util/log.ts';
import { downloadBlocks, uploadBlocks } from './block.ts';
import { CoapCancelledError, CoapUnreachableError } from './errors.ts';
import type { CoapMessage, CoapOption } from './message.ts';
import { derivedTimesOf, MessageLayer, randomToken, type TransmissionParameters } from './messaging.ts';
import { Observation, type ObservationHost } from './observe.ts';
import { blockSize, encodeBlock, encodeUint, type Method, methodCode, OptionNumber, szxFor } from './options.ts';
import { type CoapResponse, toCoapResponse } from './response.ts';
import { type RequestContent, type TokenListener, TokenManager } from './tokens.ts';
import type { PeerIdentity, Transport } from './transport.ts';
import type { CoapsSecurity } from './transport-dtls.ts';
import { UdpTransport } from './transport-udp.ts';
import { type CoapUri, formatCoapUri, parseCoapUri, uriOptions } from './uri.ts';

export { type CoapResponse, Observation, toCoapResponse };

export interface CoapClientOptions {
  params?: Partial<TransmissionParameters>;
  /** Block size for Block1 uploads and the Block2 size we ask for (16..1024). Default 1024. */
  blockSize?: number;
  /** Bound on a body reassembled from Block2 blocks. Default 16 MiB. */
  maxBodySize?: number;
  /** Token length in bytes, 1..8. Default 8 (RFC 7252 §5.3.1: at least 32 random bits off-path). */
  tokenLength?: number;
  /** How long to wait for a separate (or Non-confirmable) response after the ACK. Default 60 s. */
  responseTimeout?: number;
  /**
   * Use this transport for every `coap://` request instead of the client's own sockets. It must be
   * the client's alone (a transport has one receiver); to share a port with a server, use `layer`.
   */
  transport?: Transport;
  /**
   * Send `coap://` requests through this message layer — the one `CoapServer.listen()` returned —
   * so that a device serves and requests from one UDP port. The client does not close it.
   */
  layer?: MessageLayer;
  /** Credentials for `coaps://`. */
  security?: CoapsSecurity;
  /** Protect every request with this OSCORE context (RFC 8613), over any scheme. */
  oscore?: OscoreContext;
  /** Transport providers by URI scheme, replacing the built-in ones (see {@link TransportProvider}). */
  transports?: Partial<Record<CoapUri['scheme'], TransportProvider>>;
  logger?: Logger;
}

export interface RequestOptions {
  method?: Method;
  payload?: Buffer | Uint8Array | string;
  contentFormat?: number;
  accept?: number;
  /** Extra options (ETag, If-Match, …). */
  options?: CoapOption[];
  /** Confirmable (default) or Non-confirmable. */
  confirmable?: boolean;
  /** Block size for this request (Block1 upload, and the Block2 size asked for up front). */
  blockSize?: number;
  /** OSCORE context for this request; `false` sends it unprotected despite the client's context. */
  oscore?: OscoreContext | false;
  /** Send the request to this forward proxy (a coap:// URI) with the target as Proxy-Uri (RFC 7252 §5.7). */
  proxy?: string;
}

/** A message layer of the client with its token layer, on one transport. */
interface Attached {
  layer: MessageLayer;
  transport: Transport;
  tokens: TokenManager;
}

interface Endpoint extends Attached {
  peer: { address: string; port: number };
  /** What the transport's handshake proved about the server (coaps:// only). */
  identity?: PeerIdentity;
  /** Drops the transport from the client's cache, when its provider says it can die silently. */
  forget?: () => void;
}

/** Where a request goes: the URI's host as written, the address it resolved to, and the port. */
export interface TransportTarget {
  host: string;
  address: string;
  port: number;
}

/**
 * How the client reaches the servers of one URI scheme (option `transports`): `coap` and `coaps`
 * have built-in providers (a UDP socket per address family; a DTLS session per server and
 * credentials), which an application can replace — for instance with a DTLS connection it made
 * and manages itself — while keeping its `coaps://` URIs.
 */
export interface TransportProvider {
  /** Requests whose targets get the same key share one transport (and message layer). */
  key(target: TransportTarget): string | Promise<string>;
  /**
   * Opens the transport for a target. `onClose` is to be called when it closes, so that the client
   * opens a new one for the next request. `owned: false` keeps the client from closing it.
   */
  open(
    target: TransportTarget,
    onClose: () => void,
  ): Promise<{ transport: Transport; identity?: PeerIdentity; owned?: boolean }>;
  /**
   * The transport's association can vanish without notice (DTLS: a server's idle timeout or reboot):
   * a Confirmable unacknowledged through all retransmissions then drops the transport.
   */
  dropWhenSilent?: boolean;
}

const EMPTY = Buffer.alloc(0);

function toBuffer(p: Buffer | Uint8Array | string | undefined): Buffer {
  if (p === undefined) return EMPTY;
  if (typeof p === 'string') return Buffer.from(p, 'utf8');
  return Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

export class CoapClient {
  private readonly log: Logger;
  private readonly params: Partial<TransmissionParameters>;
  private readonly szx: number;
  private readonly maxBodySize: number;
  private readonly tokenLength: number;
  private readonly responseTimeout: number;
  private readonly nonTimeout: number;
  private readonly tokenManagers: TokenManager[] = [];
  private readonly builtins = new Map<CoapUri['scheme'], TransportProvider>();
  /** Transports in use with their layers, by scheme and provider key. */
  private readonly transports = new Map<string, Promise<Omit<Endpoint, 'peer'>>>();
  private readonly ownedTransports: Transport[] = [];
  private readonly layers: MessageLayer[] = [];
  private closed = false;

  constructor(private readonly opts: CoapClientOptions = {}) {
    this.log = opts.logger ?? childLogger('coap.client');
    this.params = opts.params ?? {};
    this.szx = szxFor(opts.blockSize ?? 1024);
    this.maxBodySize = opts.maxBodySize ?? 16 * 1024 * 1024;
    this.tokenLength = opts.tokenLength ?? 8;
    if (this.tokenLength < 1 || this.tokenLength > 8) throw new RangeError('tokenLength must be 1..8');
    this.responseTimeout = opts.responseTimeout ?? 60_000;
    this.nonTimeout = Math.min(derivedTimesOf(this.params).maxTransmitWait, this.responseTimeout);
  }

  private attach(transport: Transport, shared?: MessageLayer): Attached {
    // A client of its own serves no requests: a request to it is rejected by the layer (no request
    // listener). A shared layer keeps the server's request listener and gains our token layer.
    const layer = shared ?? new MessageLayer(transport, { params: this.params, logger: this.log });
    const tokens = new TokenManager(layer, { responseTimeout: this.responseTimeout, nonTimeout: this.nonTimeout });
    // A transport that sees ICMP errors (a socket connected to its one server) ends the exchanges
    // with that server at once instead of letting them wait out every retransmission.
    transport.onUnreachable?.((peer, err) => tokens.failPeer(peer, new CoapUnreachableError(peer, err)));
    this.layers.push(layer);
    this.tokenManagers.push(tokens);
    return { layer, transport, tokens };
  }

  /** The provider for a scheme: the caller's, else the built-in one (made once per client). */
  private provider(scheme: CoapUri['scheme']): TransportProvider {
    const given = this.opts.transports?.[scheme];
    if (given) return given;
    let p = this.builtins.get(scheme);
    if (!p) {
      p = this.builtinProvider(scheme);
      this.builtins.set(scheme, p);
    }
    return p;
  }

  /**
   * The built-in providers: one UDP socket per server, connected to it (so that an ICMP
   * port-unreachable ends a request at once; Linux reports ICMP errors on connected sockets only),
   * and one DTLS session per server and credentials.
   */
  private builtinProvider(scheme: CoapUri['scheme']): TransportProvider {
    if (scheme === 'coap') {
      const given = this.opts.transport;
      if (given) return { key: () => 'given', open: async () => ({ transport: given, owned: false }) };
      return {
        key: (t) => `${t.address}|${t.port}`,
        open: async (t) => ({
          transport: await UdpTransport.bind({
            type: isIP(t.address) === 6 ? 'udp6' : 'udp4',
            connect: { address: t.address, port: t.port },
          }),
        }),
      };
    }
    const security = this.opts.security;
    // Hashing the credentials once, not per request; the DTLS engine loads only when coaps:// is used.
    let credentials: string | undefined;
    return {
      dropWhenSilent: true,
      key: async (t) => {
        if (!security) throw new TypeError('coaps:// needs credentials (security option: psk, cert/key or rpk)');
        if (credentials === undefined) credentials = (await import('./transport-dtls.ts')).securityKey(security);
        return `${t.address}|${t.port}|${credentials}`;
      },
      open: async (t, onClose) => {
        if (!security) throw new TypeError('coaps:// needs credentials (security option: psk, cert/key or rpk)');
        const { createDtlsClientTransport } = await import('./transport-dtls.ts');
        const transport = await createDtlsClientTransport({
          host: t.address,
          port: t.port,
          serverName: isIP(t.host) === 0 ? t.host : undefined,
          security,
          logger: this.log,
          onClose,
        });
        return { transport, identity: transport.connection.identity };
      },
    };
  }

  /**
   * The endpoint (message layer + peer address) for a URI. The transport comes from the provider
   * registered for the URI's scheme (the client's option `transports`, else the built-in one) and
   * is reused by every request the provider gives the same key.
   */
  private async endpoint(uri: CoapUri): Promise<Endpoint> {
    if (this.closed) throw new CoapCancelledError('client closed');
    let address = uri.host;
    if (isIP(address) === 0) address = (await lookup(address)).address;
    const peer = { address, port: uri.port };
    const shared = this.opts.layer;
    if (uri.scheme === 'coap' && shared && !this.opts.transports?.coap) {
      let p = this.transports.get('coap|shared');
      if (!p) {
        p = Promise.resolve(this.attach(shared.transport, shared));
        this.transports.set('coap|shared', p);
      }
      return { ...(await p), peer };
    }
    const provider = this.provider(uri.scheme);
    const target: TransportTarget = { host: uri.host, address, port: uri.port };
    const key = `${uri.scheme}|${await provider.key(target)}`;
    let p = this.transports.get(key);
    if (!p) {
      const forget = () => {
        if (this.transports.get(key) === created) this.transports.delete(key);
      };
      const created: Promise<Omit<Endpoint, 'peer'>> = (async () => {
        const opened = await provider.open(target, forget);
        if (opened.owned !== false) this.ownedTransports.push(opened.transport);
        const e = this.attach(opened.transport);
        return { ...e, identity: opened.identity, forget: provider.dropWhenSilent ? forget : undefined };
      })();
      created.catch(forget);
      this.transports.set(key, created);
      p = created;
    }
    return { ...(await p), peer };
  }

  /**
   * A request went unanswered through all retransmissions over a transport whose provider says an
   * association can vanish silently (coaps://: the server lost it to an idle timeout or a reboot),
   * and every later record on it would vanish too. Forget the transport so that the next request
   * opens a new one (a new handshake).
   */
  private dropSecure(ep: Endpoint): void {
    if (!ep.forget) return;
    ep.forget();
    ep.layer.close();
    ep.transport.close().catch(() => {});
  }

  /** One request/response exchange with the endpoint's server, through its token layer. */
  private exchange(
    ep: Endpoint,
    msg: RequestContent,
    confirmable: boolean,
    token: Buffer = randomToken(this.tokenLength),
    persistent?: TokenListener,
    sec?: OscoreContext,
  ): Promise<CoapMessage> {
    if (sec) {
      return secureExchange(
        sec,
        (outer, p) => ep.tokens.exchange(ep.peer, outer, confirmable, token, p, () => this.dropSecure(ep)),
        msg,
        persistent,
      );
    }
    return ep.tokens.exchange(ep.peer, msg, confirmable, token, persistent, () => this.dropSecure(ep));
  }

  private oscoreFor(opts: { oscore?: OscoreContext | false }): OscoreContext | undefined {
    return opts.oscore === false ? undefined : (opts.oscore ?? this.opts.oscore);
  }

  /** Sends a request and returns the whole response, doing Block1 and Block2 as needed. */
  async request(uri: string | CoapUri, opts: RequestOptions = {}): Promise<CoapResponse> {
    const u = typeof uri === 'string' ? parseCoapUri(uri) : uri;
    const ep = await this.endpoint(opts.proxy ? parseCoapUri(opts.proxy) : u);
    const sec = this.oscoreFor(opts);
    const method = opts.method ?? 'GET';
    const confirmable = opts.confirmable ?? true;
    const base = this.baseOptions(u, opts);
    const payload = toBuffer(opts.payload);
    const szx = opts.blockSize ? szxFor(opts.blockSize) : this.szx;
    let first: CoapMessage;
    if (payload.length > blockSize(szx)) {
      // RFC 7959 §2.5; RFC 9175 §3.3: one Request-Tag keeps this upload apart from another of ours.
      first = await uploadBlocks(
        (m) => this.exchange(ep, m, confirmable, undefined, undefined, sec),
        methodCode(method),
        base,
        payload,
        szx,
        randomToken(4),
      );
    } else {
      const options = [...base];
      // RFC 7959 §2.4: asking for a block size up front ("early negotiation") when the caller set one.
      if (opts.blockSize && (method === 'GET' || method === 'FETCH')) {
        options.push({ number: OptionNumber.Block2, value: encodeBlock({ num: 0, more: false, szx }) });
      }
      first = await this.exchange(
        ep,
        { code: methodCode(method), options, payload },
        confirmable,
        undefined,
        undefined,
        sec,
      );
    }
    const body = await this.block2Download(ep, method, base, first, confirmable, sec);
    return toCoapResponse(first, { ...ep.peer, identity: ep.identity }, body);
  }

  get(uri: string | CoapUri, opts: Omit<RequestOptions, 'method'> = {}): Promise<CoapResponse> {
    return this.request(uri, { ...opts, method: 'GET' });
  }
  post(
    uri: string | CoapUri,
    payload?: RequestOptions['payload'],
    opts: Omit<RequestOptions, 'method' | 'payload'> = {},
  ): Promise<CoapResponse> {
    return this.request(uri, { ...opts, payload, method: 'POST' });
  }
  put(
    uri: string | CoapUri,
    payload?: RequestOptions['payload'],
    opts: Omit<RequestOptions, 'method' | 'payload'> = {},
  ): Promise<CoapResponse> {
    return this.request(uri, { ...opts, payload, method: 'PUT' });
  }
  delete(uri: string | CoapUri, opts: Omit<RequestOptions, 'method'> = {}): Promise<CoapResponse> {
    return this.request(uri, { ...opts, method: 'DELETE' });
  }

  private baseOptions(u: CoapUri, opts: RequestOptions): CoapOption[] {
    const target = opts.proxy
      ? [{ number: OptionNumber.ProxyUri, value: Buffer.from(formatCoapUri(u)) }]
      : uriOptions(u);
    const options = [...target, ...(opts.options ?? [])];
    if (opts.contentFormat !== undefined)
      options.push({ number: OptionNumber.ContentFormat, value: encodeUint(opts.contentFormat) });
    if (opts.accept !== undefined) options.push({ number: OptionNumber.Accept, value: encodeUint(opts.accept) });
    return options;
  }

  /** RFC 7959 §2.4, §3.2: the whole body of a response whose first block is `first`. */
  private block2Download(
    ep: Endpoint,
    method: Method,
    base: CoapOption[],
    first: CoapMessage,
    confirmable: boolean,
    sec?: OscoreContext,
  ): Promise<Buffer> {
    return downloadBlocks(
      (m) => this.exchange(ep, m, confirmable, undefined, undefined, sec),
      methodCode(method),
      base,
      first,
      this.maxBodySize,
    );
  }

  /**
   * Registers an observation (RFC 7641 §3.1) and resolves once the first response arrived.
   * Notifications then come as 'notification' events, in order of freshness (§3.4).
   */
  async observe(uri: string | CoapUri, opts: Omit<RequestOptions, 'method' | 'payload'> = {}): Promise<Observation> {
    const u = typeof uri === 'string' ? parseCoapUri(uri) : uri;
    const ep = await this.endpoint(opts.proxy ? parseCoapUri(opts.proxy) : u);
    const sec = this.oscoreFor(opts);
    const base = this.baseOptions(u, opts);
    const host: ObservationHost = {
      peer: { ...ep.peer, identity: ep.identity },
      exchange: (msg, confirmable, token, persistent) => this.exchange(ep, msg, confirmable, token, persistent, sec),
      block2: (first, confirmable) => this.block2Download(ep, 'GET', base, first, confirmable, sec),
      forget: (token) => ep.tokens.forget(ep.peer, token),
    };
    const obs = new Observation(host, base, opts.confirmable ?? true, randomToken(this.tokenLength));
    await obs.start();
    return obs;
  }

  /** CoAP ping (RFC 7252 §4.3): resolves true when the server answers. */
  async ping(uri: string | CoapUri): Promise<boolean> {
    const u = typeof uri === 'string' ? parseCoapUri(uri) : uri;
    const ep = await this.endpoint(u);
    return ep.layer.ping(ep.peer);
  }

  /** Closes sockets and DTLS sessions the client opened; pending requests fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.layers) if (l !== this.opts.layer) l.close();
    for (const t of this.tokenManagers) t.clear();
    await Promise.all(this.ownedTransports.map((t) => t.close().catch(() => {})));
  }
}

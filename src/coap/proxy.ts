/**
 * A CoAP forward proxy (RFC 7252 §5.7.2): a request naming its target by Proxy-Uri, or by
 * Proxy-Scheme with Uri-Host/Uri-Port, is sent on to that `coap://` server and the response comes
 * back under the client's token. The proxy copies options and payload as they are: an OSCORE request
 * (RFC 8613) passes through with its ciphertext, which the proxy cannot read — only the Class U
 * options (scheme, host, port, Observe) are visible to it.
 *
 * Not done: caching (§5.7.1), Observe relaying, coaps:// targets; a request for them is refused.
 */
import type { Logger } from '../util/log.ts';
import { childLogger } from '../util/log.ts';
import { CoapClient } from './client.ts';
import { CoapTimeoutError, CoapUnreachableError } from './errors.ts';
import { type CoapOption, getOption, getOptions } from './message.ts';
import { MessageLayer, type ServerExchange } from './messaging.ts';
import { Code, decodeUint, methodName, OptionNumber } from './options.ts';
import type { Transport } from './transport.ts';
import { type CoapUri, DEFAULT_PORTS, parseCoapUri } from './uri.ts';

export interface CoapProxyOptions {
  /** The transport towards servers (default: the client's own UDP sockets). */
  upstream?: Transport;
  /** Which targets may be reached; refused ones get 4.03. Default: all. */
  allow?: (target: CoapUri) => boolean;
  /** Told of each forwarded exchange: target, outer method and code, body sizes. */
  onForward?: (f: {
    target: string;
    method: string;
    code: string;
    requestBytes: number;
    responseBytes: number;
  }) => void;
  logger?: Logger;
}

/** Options that name the target; the forwarded request carries the target's own instead. */
const TARGET_OPTIONS: ReadonlySet<number> = new Set([
  OptionNumber.ProxyUri,
  OptionNumber.ProxyScheme,
  OptionNumber.UriHost,
  OptionNumber.UriPort,
  OptionNumber.UriPath,
  OptionNumber.UriQuery,
]);
/** Options the client reassembles; the response goes back whole. */
const HOP_OPTIONS: ReadonlySet<number> = new Set([OptionNumber.Block1, OptionNumber.Block2, OptionNumber.Size2]);

export interface CoapProxyStats {
  forwarded: number;
  refused: number;
  failed: number;
}

export class CoapForwardProxy {
  readonly stats: CoapProxyStats = { forwarded: 0, refused: 0, failed: 0 };
  private readonly client: CoapClient;
  private readonly log: Logger;
  private readonly layers: MessageLayer[] = [];

  constructor(private readonly opts: CoapProxyOptions = {}) {
    this.log = opts.logger ?? childLogger('coap.proxy');
    this.client = new CoapClient({ transport: opts.upstream, logger: this.log });
  }

  /** Serves proxy requests arriving on `transport`. */
  listen(transport: Transport): MessageLayer {
    const layer = new MessageLayer(transport, { logger: this.log });
    layer.onRequest((ex) => {
      this.forward(ex).catch((err: unknown) => {
        this.log.error({ err }, 'proxying failed');
        this.refuse(ex, Code.InternalServerError, 'proxy error');
      });
    });
    layer.onResponse(() => false);
    this.layers.push(layer);
    return layer;
  }

  private refuse(ex: ServerExchange, code: number, reason: string): void {
    this.stats.refused++;
    ex.respond({ code, token: ex.request.token, options: [], payload: Buffer.from(reason) });
  }

  /** The target of a proxy request, or the refusal to answer with. */
  private target(ex: ServerExchange): CoapUri | { code: number; reason: string } {
    const m = ex.request;
    const proxyUri = getOption(m, OptionNumber.ProxyUri);
    try {
      if (proxyUri) return parseCoapUri(proxyUri.toString('utf8'));
      const scheme = getOption(m, OptionNumber.ProxyScheme)?.toString('utf8');
      if (!scheme) return { code: Code.NotFound, reason: 'this endpoint is a proxy: name the target in Proxy-Uri' };
      const host = getOption(m, OptionNumber.UriHost)?.toString('utf8');
      if (!host) return { code: Code.BadRequest, reason: 'Proxy-Scheme without Uri-Host' };
      if (scheme !== 'coap' && scheme !== 'coaps')
        return { code: Code.ProxyingNotSupported, reason: `scheme ${scheme}` };
      const portOpt = getOption(m, OptionNumber.UriPort);
      return {
        scheme,
        host,
        port: portOpt ? decodeUint(portOpt) : DEFAULT_PORTS[scheme],
        path: getOptions(m, OptionNumber.UriPath).map((b) => b.toString('utf8')),
        query: getOptions(m, OptionNumber.UriQuery).map((b) => b.toString('utf8')),
      };
    } catch (err) {
      return { code: Code.BadRequest, reason: `Proxy-Uri: ${(err as Error).message}` };
    }
  }

  private async forward(ex: ServerExchange): Promise<void> {
    const m = ex.request;
    const target = this.target(ex);
    if (!('scheme' in target)) return this.refuse(ex, target.code, target.reason);
    if (target.scheme !== 'coap')
      return this.refuse(ex, Code.ProxyingNotSupported, 'only coap:// targets are forwarded');
    if (this.opts.allow && !this.opts.allow(target)) return this.refuse(ex, Code.Forbidden, 'target not allowed');
    const method = methodName(m.code);
    if (!method) return this.refuse(ex, Code.MethodNotAllowed, 'not a request method');
    const options: CoapOption[] = m.options.filter((o) => !TARGET_OPTIONS.has(o.number) && !HOP_OPTIONS.has(o.number));
    try {
      const res = await this.client.request(target, {
        method,
        payload: m.payload,
        options,
        confirmable: m.type === 'CON',
        oscore: false,
      });
      this.stats.forwarded++;
      this.opts.onForward?.({
        target: `${target.host}:${target.port}`,
        method,
        code: res.status,
        requestBytes: m.payload.length,
        responseBytes: res.payload.length,
      });
      ex.respond({
        code: res.code,
        token: m.token,
        options: res.options.filter((o) => !HOP_OPTIONS.has(o.number)),
        payload: res.payload,
      });
    } catch (err) {
      this.stats.failed++;
      // RFC 7252 §5.9.3: 5.04 when the server did not answer in time, 5.02 otherwise.
      if (err instanceof CoapTimeoutError)
        ex.respond({ code: Code.GatewayTimeout, token: m.token, options: [], payload: Buffer.alloc(0) });
      else if (err instanceof CoapUnreachableError)
        ex.respond({ code: Code.BadGateway, token: m.token, options: [], payload: Buffer.from('target unreachable') });
      else
        ex.respond({
          code: Code.BadGateway,
          token: m.token,
          options: [],
          payload: Buffer.from((err as Error).message),
        });
    }
  }

  async close(): Promise<void> {
    for (const l of this.layers) l.close();
    await this.client.close();
  }
}

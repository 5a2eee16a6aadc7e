/**
 * `coap://` and `coaps://` URIs (RFC 7252 §6) ⇄ the request options that carry them (§6.4, §6.5).
 * IPv6 literals in brackets, percent-encoded path segments and query parameters are handled; a
 * fragment is an error (§6.4 step 4 forbids it).
 */
import { isIP } from 'node:net';
import type { CoapOption } from './message.ts';
import { OptionNumber } from './options.ts';

export interface CoapUri {
  scheme: 'coap' | 'coaps';
  /** Host without brackets: a name, an IPv4 address or an IPv6 address. */
  host: string;
  port: number;
  /** Decoded Uri-Path segments; `/` is []. */
  path: string[];
  /** Decoded Uri-Query items (`k=v` or `k`). */
  query: string[];
}

export const DEFAULT_PORTS = { coap: 5683, coaps: 5684 } as const;

function decode(s: string, what: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new TypeError(`bad percent-encoding in ${what} '${s}'`);
  }
}

/** Parses a CoAP URI (RFC 7252 §6.1, §6.2). Throws `TypeError` with the reason. */
export function parseCoapUri(uri: string): CoapUri {
  const m = /^(coaps?):\/\/(\[[^\]]*\]|[^/:?#[\]]*)(?::(\d*))?([^?#]*)(?:\?([^#]*))?(#.*)?$/i.exec(uri);
  if (!m) throw new TypeError(`not a coap:// or coaps:// URI: '${uri}'`);
  if (m[6] !== undefined) throw new TypeError(`a CoAP URI has no fragment: '${uri}'`);
  const scheme = m[1].toLowerCase() as 'coap' | 'coaps';
  let host = m[2];
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    // Drop a zone identifier's encoding (RFC 6874) for the socket; keep the address itself.
    host = decode(host, 'host');
    if (isIP(host.split('%')[0]) !== 6) throw new TypeError(`bad IPv6 literal in '${uri}'`);
  } else {
    host = decode(host, 'host');
  }
  if (host === '') throw new TypeError(`no host in '${uri}'`);
  const port = m[3] === undefined || m[3] === '' ? DEFAULT_PORTS[scheme] : Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`bad port in '${uri}'`);
  const rawPath = m[4] ?? '';
  // §6.4 step 8: a path of "" or "/" has no Uri-Path options.
  const path =
    rawPath === '' || rawPath === '/'
      ? []
      : rawPath
          .replace(/^\//, '')
          .split('/')
          .map((s) => decode(s, 'path'));
  const query = m[5] === undefined || m[5] === '' ? [] : m[5].split('&').map((s) => decode(s, 'query'));
  for (const seg of path)
    if (Buffer.byteLength(seg) > 255) throw new TypeError('a path segment is longer than 255 bytes');
  for (const q of query) if (Buffer.byteLength(q) > 255) throw new TypeError('a query item is longer than 255 bytes');
  return { scheme, host, port, path, query };
}

/**
 * Options for a request to `uri` (§6.4): Uri-Host only when the host is a name (not an IP literal),
 * Uri-Port never (we send to that port; §6.4 step 6 allows omitting it), Uri-Path and Uri-Query.
 */
export function uriOptions(uri: CoapUri): CoapOption[] {
  const opts: CoapOption[] = [];
  if (isIP(uri.host.split('%')[0]) === 0) opts.push({ number: OptionNumber.UriHost, value: Buffer.from(uri.host) });
  for (const p of uri.path) opts.push({ number: OptionNumber.UriPath, value: Buffer.from(p) });
  for (const q of uri.query) opts.push({ number: OptionNumber.UriQuery, value: Buffer.from(q) });
  return opts;
}

const SEGMENT_SAFE = /[^A-Za-z0-9\-._~!$&'()*+,;=:@]/g;
const QUERY_SAFE = /[^A-Za-z0-9\-._~!$'()*+,;=:@/?]/g;
const enc = (s: string, re: RegExp) =>
  s.replace(re, (c) => [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));

/** Builds a URI string (§6.5). */
export function formatCoapUri(uri: CoapUri): string {
  const host = uri.host.includes(':') ? `[${uri.host}]` : uri.host;
  const port = uri.port === DEFAULT_PORTS[uri.scheme] ? '' : `:${uri.port}`;
  const path = `/${uri.path.map((p) => enc(p, SEGMENT_SAFE)).join('/')}`;
  const query = uri.query.length ? `?${uri.query.map((q) => enc(q, QUERY_SAFE)).join('&')}` : '';
  return `${uri.scheme}://${host}${port}${path}${query}`;
}

/** The `http:`/`https:` poll fetcher over node:http(s), with the net guard in front of every connection. */
import type { LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { rootCertificates } from 'node:tls';
import { NetGuard } from '../net-guard.ts';
import { PollError } from './errors.ts';
import { type Fetcher, type FetchResult, guardError, MAX_POLL_BODY, type PollTarget } from './fetch.ts';

export interface HttpFetcherOptions {
  /** Extra trusted CA certificates (PEM) for https://, beside Node's defaults. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Which addresses may be fetched; default: public addresses only. */
  guard?: NetGuard;
}

/** Redirects a poll follows (RFC 9110 §15.4), each one checked like the first URL. */
export const MAX_POLL_REDIRECTS = 5;

/**
 * http:// and https:// with a timeout and a body bound. The host is resolved and checked by the
 * guard before each request, and the connection goes to that checked address (the request's
 * `lookup` answers it, so Node resolves nothing itself; TLS still verifies the name in the URL).
 * Redirects are followed up to {@link MAX_POLL_REDIRECTS}, each new location checked the same way.
 */
export class HttpFetcher implements Fetcher {
  /** Node replaces its CA store with `ca` when given one: keep the defaults beside the extra CAs. */
  private readonly ca?: Array<string | Buffer>;
  private readonly guard: NetGuard;

  constructor(opts: HttpFetcherOptions = {}) {
    if (opts.ca !== undefined) this.ca = [...rootCertificates, ...(Array.isArray(opts.ca) ? opts.ca : [opts.ca])];
    this.guard = opts.guard ?? new NetGuard();
  }

  async fetch(t: PollTarget): Promise<FetchResult> {
    let url = t.url;
    for (let hop = 0; ; hop++) {
      const res = await this.once(url, t.timeoutMs * 8);
      if ('location' in res) {
        if (hop >= MAX_POLL_REDIRECTS) throw new PollError('http', `more than ${MAX_POLL_REDIRECTS} redirects`);
        let next: URL;
        try {
          next = new URL(res.location, url);
        } catch {
          throw new PollError('http', `HTTP ${res.status} to a bad Location: ${res.location.slice(0, 200)}`);
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:')
          throw new PollError('scheme', `HTTP ${res.status} redirects to ${next.protocol}, not http or https`);
        url = next;
        continue;
      }
      return res;
    }
  }

  /** One GET: the result, or a redirect's status and Location. */
  private async once(url: URL, timeout: number): Promise<FetchResult | { status: number; location: string }> {
    const https = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port !== '' ? Number(url.port) : https ? 443 : 80;
    let checked: { address: string; family: 4 | 6 };
    try {
      checked = await this.guard.resolve(host, port);
    } catch (err) {
      throw guardError(err);
    }
    // Connect to the address just checked: a second resolution could answer another one.
    const lookup: LookupFunction = (_name, opts, cb) => {
      if (opts.all) (cb as unknown as (e: null, a: LookupAddress[]) => void)(null, [checked]);
      else cb(null, checked.address, checked.family);
    };
    const req = https ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const r = req(
        url,
        {
          method: 'GET',
          timeout,
          lookup,
          headers: { accept: 'application/json, */*' },
          ...(https && this.ca ? { ca: this.ca } : {}),
        },
        (res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          const location = res.headers.location;
          if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
            res.resume();
            resolve({ status, location });
            return;
          }
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

/**
 * Dual-stack listening. The platform binds `::` by default: one socket per port that takes IPv6
 * clients and, as IPv4-mapped addresses (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2), IPv4 ones — HTTP
 * through `ipv6Only: false`, UDP (CoAP, and DTLS, whose endpoint opens its udp6 socket with
 * `ipv6Only: false`) through Node's default for udp6 sockets. The rate limits key a mapped
 * address as the IPv4 address it carries (limits.ts), and the access log shows it as received.
 *
 * A host without IPv6 (kernel built or booted without it) cannot bind `::`: the platform then
 * binds `0.0.0.0` instead and says so, rather than failing to start.
 */
import type { Logger } from '../util/log.ts';

/** The wildcard that replaces `::` on a host without IPv6. */
export const IPV4_ANY = '0.0.0.0';

/** True when binding `host` failed only because this host has no IPv6. */
export function noIpv6(host: string, err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL' || code === 'EPROTONOSUPPORT');
}

/** The option that sets each listener's port (config key and `serve`/`start` flag). */
const PORT_OPTION: Record<string, string> = {
  http: '--http-port (http.port)',
  https: '--https-port (https.port)',
  coap: '--coap-port (coap.port)',
  coaps: '--coaps-port (coap.coapsPort)',
};

/**
 * A port already taken, said so that the operator knows what to do: which listener, and the
 * option that moves it (0 = any free port). Keeps the `EADDRINUSE` code and the cause.
 */
export class PortInUseError extends Error {
  readonly code = 'EADDRINUSE';
  constructor(what: string, host: string, cause: Error) {
    const port = (cause as NodeJS.ErrnoException & { port?: number }).port;
    super(
      `the ${what} port${port !== undefined ? ` ${port}` : ''} on ${host} is already in use (EADDRINUSE; another SecureSense running?): ` +
        `stop it, or choose another port with ${PORT_OPTION[what] ?? 'its port option'} — 0 takes any free port`,
      { cause },
    );
    this.name = 'PortInUseError';
  }
}

/**
 * Runs `bind(host)`; on a host without IPv6, `bind('0.0.0.0')` with a warning. A port in use is
 * a {@link PortInUseError} naming the option that moves it.
 */
export async function bindDualStack<T>(
  host: string,
  what: string,
  bind: (host: string) => Promise<T>,
  logger?: Logger,
): Promise<T> {
  const inUse = (err: unknown, h: string) =>
    (err as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE' ? new PortInUseError(what, h, err as Error) : err;
  try {
    return await bind(host);
  } catch (err) {
    if (!noIpv6(host, err)) throw inUse(err, host);
    logger?.warn({ what, err: (err as Error).message }, 'no IPv6 on this host: listening on IPv4 only');
    try {
      return await bind(IPV4_ANY);
    } catch (err4) {
      throw inUse(err4, IPV4_ANY);
    }
  }
}

/** `scheme://host:port` with an IPv6 host in brackets (RFC 3986 §3.2.2). */
export function urlOf(scheme: string, host: string, port: number): string {
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

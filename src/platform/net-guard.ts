/**
 * The guard on every fetch the platform makes on a user's behalf (the poller's http, https, coap
 * and coaps pulls): no server-side request forgery. A user names a URL; the platform must not
 * become their way into its own loopback services, the cloud's instance metadata (169.254.169.254),
 * the operator's private network or any other address that is not a public unicast one.
 *
 * Refused by default (the IANA special-purpose registries, RFC 6890 and its updates):
 *   loopback 127/8, ::1; unspecified 0/8, ::; link-local 169.254/16, fe80::/10; private 10/8,
 *   172.16/12, 192.168/16, fc00::/7 (and the old site-local fec0::/10); shared CGNAT 100.64/10;
 *   multicast 224/4, ff00::/8; broadcast 255.255.255.255; reserved 240/4 and the IETF, benchmark,
 *   documentation and tunnelling blocks. An IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::/96)
 *   address is judged by the IPv4 address inside it.
 *
 * The check is on addresses, after name resolution: {@link NetGuard.resolve} looks a name up once,
 * refuses it when any of its addresses is forbidden, and hands back the checked address for the
 * caller to connect to — so a name that answers a public address to the check and a loopback one
 * to the connection (DNS rebinding) gets nowhere. Redirects go through the same check (fetchers.ts).
 *
 * The operator's allow-list (config `poller.allow`, src/util/net-allow.ts) lets lab devices
 * through: an address, a CIDR block or a host name, optionally with a port.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { parseCoapUri } from '../coap/index.ts';
import { ipv6Bytes } from '../util/ip.ts';
import { type AllowEntry, parseAllowEntry } from '../util/net-allow.ts';
import { Invalid } from './errors.ts';

/** The class of a special-purpose address, as the refusals name it. */
export type AddressClass =
  | 'loopback'
  | 'unspecified'
  | 'link-local'
  | 'private'
  | 'shared (CGNAT)'
  | 'multicast'
  | 'broadcast'
  | 'documentation'
  | 'benchmarking'
  | 'reserved';

const SPECIAL: Array<[AddressClass, string, number, 'ipv4' | 'ipv6']> = [
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['private', '10.0.0.0', 8, 'ipv4'],
  ['shared (CGNAT)', '100.64.0.0', 10, 'ipv4'],
  ['loopback', '127.0.0.0', 8, 'ipv4'],
  ['link-local', '169.254.0.0', 16, 'ipv4'],
  ['private', '172.16.0.0', 12, 'ipv4'],
  ['reserved', '192.0.0.0', 24, 'ipv4'],
  ['documentation', '192.0.2.0', 24, 'ipv4'],
  ['reserved', '192.88.99.0', 24, 'ipv4'],
  ['private', '192.168.0.0', 16, 'ipv4'],
  ['benchmarking', '198.18.0.0', 15, 'ipv4'],
  ['documentation', '198.51.100.0', 24, 'ipv4'],
  ['documentation', '203.0.113.0', 24, 'ipv4'],
  ['multicast', '224.0.0.0', 4, 'ipv4'],
  ['broadcast', '255.255.255.255', 32, 'ipv4'],
  ['reserved', '240.0.0.0', 4, 'ipv4'],
  ['unspecified', '::', 128, 'ipv6'],
  ['loopback', '::1', 128, 'ipv6'],
  ['reserved', '::', 96, 'ipv6'], // IPv4-compatible (deprecated)
  ['reserved', '64:ff9b:1::', 48, 'ipv6'], // local-use NAT64
  ['reserved', '100::', 64, 'ipv6'], // discard-only
  ['reserved', '2001::', 23, 'ipv6'], // IETF protocol assignments, Teredo
  ['documentation', '2001:db8::', 32, 'ipv6'],
  ['reserved', '2002::', 16, 'ipv6'], // 6to4
  ['documentation', '3fff::', 20, 'ipv6'],
  ['reserved', '5f00::', 16, 'ipv6'], // SRv6 SIDs
  ['private', 'fc00::', 7, 'ipv6'],
  ['link-local', 'fe80::', 10, 'ipv6'],
  ['private', 'fec0::', 10, 'ipv6'], // site-local (deprecated)
  ['multicast', 'ff00::', 8, 'ipv6'],
];

/** One BlockList per rule, in the table's order: the first that matches names the class. */
const RULES: Array<[AddressClass, BlockList]> = SPECIAL.map(([cls, net, prefix, type]) => {
  const b = new BlockList();
  b.addSubnet(net, prefix, type);
  return [cls, b];
});

/** The IPv4 address inside an IPv4-mapped (::ffff:0:0/96) or NAT64 (64:ff9b::/96) address. */
function embeddedV4(address: string): string | undefined {
  const b = ipv6Bytes(address);
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  const nat64 = b.readUInt32BE(0) === 0x0064ff9b && b.subarray(4, 12).every((x) => x === 0);
  return mapped || nat64 ? `${b[12]}.${b[13]}.${b[14]}.${b[15]}` : undefined;
}

/** The special-purpose class of an address, or undefined for a public unicast one. */
export function addressClass(address: string): AddressClass | undefined {
  const a = address.split('%')[0]; // a zone (fe80::1%eth0) is no part of the address
  const family = isIP(a);
  if (family === 0) return 'reserved';
  const v4 = family === 6 ? embeddedV4(a) : a;
  const [addr, type] = v4 !== undefined ? [v4, 'ipv4' as const] : [a, 'ipv6' as const];
  for (const [cls, b] of RULES) if (b.check(addr, type)) return cls;
  return undefined;
}

/** A fetch the guard refused: the poll log shows the message (status `forbidden`). */
export class ForbiddenAddressError extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
    readonly addressClass: AddressClass,
  ) {
    const via = host === address ? address : `${host} (${address})`;
    super(
      `${via} is a ${addressClass} address: the platform fetches only public addresses ` +
        '(an operator can allow lab addresses with poller.allow / SECURESENSE_POLLER_ALLOW)',
    );
    this.name = 'ForbiddenAddressError';
  }
}

/** A name that could not be resolved. */
export class UnresolvedHostError extends Error {
  constructor(
    readonly host: string,
    cause: string,
  ) {
    super(`cannot resolve ${host}: ${cause}`);
    this.name = 'UnresolvedHostError';
  }
}

export type Resolver = (host: string) => Promise<Array<{ address: string; family: number }>>;

export interface NetGuardOptions {
  /** Allow-list entries (src/util/net-allow.ts): lab addresses, CIDR blocks, host names. */
  allow?: readonly string[];
  /** Name resolution; default `dns.lookup` with every address (the system's resolver, /etc/hosts included). */
  resolve?: Resolver;
}

interface Allowed {
  entry: AllowEntry;
  /** For address and CIDR entries. */
  block?: BlockList;
}

/** The host and port a URL names, as the fetchers will use them (a CoAP URI is parsed as CoAP does). */
export function urlTarget(url: string): { host: string; port: number } | undefined {
  try {
    if (/^coaps?:/i.test(url)) {
      const u = parseCoapUri(url);
      return { host: u.host, port: u.port };
    }
    const u = new URL(url);
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
    return { host, port };
  } catch {
    return undefined;
  }
}

export class NetGuard {
  private readonly allowed: Allowed[] = [];
  private readonly lookupAll: Resolver;
  /** Fetches refused since start (a counter for the operator). */
  refused = 0;

  constructor(opts: NetGuardOptions = {}) {
    for (const e of opts.allow ?? []) this.allow(e);
    this.lookupAll = opts.resolve ?? ((host) => dnsLookup(host, { all: true, verbatim: true }));
  }

  /** Adds an allow-list entry (the `npm start` demo adds its own device once it has a port). */
  allow(raw: string): void {
    const entry = parseAllowEntry(raw);
    if (entry.kind === 'host') {
      this.allowed.push({ entry });
      return;
    }
    const block = new BlockList();
    block.addSubnet(entry.address, entry.prefix, entry.family === 4 ? 'ipv4' : 'ipv6');
    this.allowed.push({ entry, block });
  }

  private isAllowed(host: string, address: string, port: number): boolean {
    const name = host.toLowerCase().replace(/\.$/, '');
    const a = address.split('%')[0];
    const type = isIP(a) === 6 ? 'ipv6' : 'ipv4';
    return this.allowed.some(({ entry, block }) => {
      if (entry.port !== undefined && entry.port !== port) return false;
      if (entry.kind === 'host') return entry.host === name;
      return block?.check(a, type) ?? false;
    });
  }

  /** Why fetching `address` (reached through `host`, on `port`) is refused, or undefined when it is not. */
  check(host: string, address: string, port: number): ForbiddenAddressError | undefined {
    const cls = addressClass(address);
    if (cls === undefined || this.isAllowed(host, address, port)) return undefined;
    return new ForbiddenAddressError(host, address.split('%')[0], cls);
  }

  /**
   * At resource create/update: the refusal when the URL's host is a literal forbidden address
   * (a name is judged at poll time, after it resolves). Undefined for a name or a public address.
   */
  literalRefusal(url: string): string | undefined {
    const t = urlTarget(url);
    if (!t || isIP(t.host.split('%')[0]) === 0) return undefined;
    const err = this.check(t.host, t.host, t.port);
    if (err) this.refused++;
    return err?.message;
  }

  /**
   * The address to connect to for `host`: a literal is checked as it is; a name is resolved once
   * and refused when any of its addresses is forbidden (an attacker's DNS may answer several).
   * Throws {@link ForbiddenAddressError} or {@link UnresolvedHostError}.
   */
  async resolve(host: string, port: number): Promise<{ address: string; family: 4 | 6 }> {
    const literal = isIP(host.split('%')[0]);
    let found: Array<{ address: string; family: number }>;
    if (literal !== 0) found = [{ address: host, family: literal }];
    else {
      try {
        found = await this.lookupAll(host);
      } catch (err) {
        throw new UnresolvedHostError(host, (err as NodeJS.ErrnoException).code ?? (err as Error).message);
      }
      if (found.length === 0) throw new UnresolvedHostError(host, 'no address');
    }
    for (const f of found) {
      const err = this.check(host, f.address, port);
      if (err) {
        this.refused++;
        throw err;
      }
    }
    return { address: found[0].address, family: found[0].family === 6 ? 6 : 4 };
  }
}

/** At resource create/update: a 400 naming `polling_url` when it names a forbidden address literally. */
export function refuseForbiddenTarget(guard: NetGuard, url: string | null): void {
  const why = url === null ? undefined : guard.literalRefusal(url);
  if (why) throw new Invalid(`polling_url: ${why}`);
}

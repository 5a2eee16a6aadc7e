/** Small pure helpers on IP address text, shared by the SSRF guard and the rate limits. */
import { isIP } from 'node:net';

/** The 16 bytes of an IPv6 address (valid per isIP, zone already stripped). */
export function ipv6Bytes(address: string): Buffer {
  let a = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (dotted) {
    const [w, x, y, z] = dotted[1].split('.').map(Number);
    a = `${a.slice(0, -dotted[1].length)}${((w << 8) | x).toString(16)}:${((y << 8) | z).toString(16)}`;
  }
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const hs = head === '' ? [] : head.split(':');
  const ts = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? hs : [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

/**
 * The rate-limit key of a client address: an IPv4-mapped IPv6 address as its IPv4 address (one
 * client is one key whether it reached a dual-stack or an IPv4 socket), other IPv6 addresses by
 * their /64 (one subscriber's network: a host picks any of its 2^64 addresses at will, RFC 4291
 * §2.5.1), IPv4 as it is.
 */
export function clientKey(address: string): string {
  const a = address.split('%')[0];
  if (isIP(a) !== 6) return a;
  const b = ipv6Bytes(a);
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff)
    return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups = [0, 2, 4, 6].map((i) => b.readUInt16BE(i).toString(16));
  return `${groups.join(':')}::/64`;
}

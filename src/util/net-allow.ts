/**
 * One entry of the operator's fetch allow-list (config `poller.allow`): the lab addresses the
 * platform may fetch although they are loopback, private or otherwise special-purpose
 * (src/platform/net-guard.ts). Pure parsing, shared by the config loader (to refuse a bad entry at
 * start) and the guard.
 *
 * Forms: an address (`10.0.0.7`, `fd00::7`), a CIDR block (`10.1.0.0/16`, `fd00::/64`), a host
 * name (`sensor.lab`: whatever it resolves to), each optionally with a port (`10.0.0.7:5684`,
 * `[fd00::7]:5684`, `sensor.lab:8080`); a CIDR block takes no port.
 */
import { isIP } from 'node:net';

export type AllowEntry =
  | { kind: 'cidr'; address: string; prefix: number; family: 4 | 6; port?: number }
  | { kind: 'host'; host: string; port?: number };

const HOST = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

function portOf(raw: string | undefined, entry: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = /^\d{1,5}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= 65535)) throw new Error(`allow entry ${JSON.stringify(entry)}: bad port ${JSON.stringify(raw)}`);
  return n;
}

/** Parses one entry; throws an Error naming it when it is none of the forms above. */
export function parseAllowEntry(raw: string): AllowEntry {
  const entry = raw.trim();
  const bad = (why: string) => new Error(`allow entry ${JSON.stringify(raw)}: ${why}`);
  if (entry === '') throw bad('empty');
  const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(entry);
  if (bracketed) {
    if (isIP(bracketed[1]) !== 6) throw bad('not an IPv6 address in brackets');
    return { kind: 'cidr', address: bracketed[1], prefix: 128, family: 6, port: portOf(bracketed[2], raw) };
  }
  const slash = entry.indexOf('/');
  if (slash >= 0) {
    const address = entry.slice(0, slash);
    const family = isIP(address);
    const p = entry.slice(slash + 1);
    const prefix = /^\d{1,3}$/.test(p) ? Number(p) : Number.NaN;
    if (family === 0) throw bad('a CIDR block needs an IPv4 or IPv6 address before the "/"');
    if (!(prefix >= 0 && prefix <= (family === 4 ? 32 : 128))) throw bad(`prefix must be 0–${family === 4 ? 32 : 128}`);
    return { kind: 'cidr', address, prefix, family: family as 4 | 6 };
  }
  const family = isIP(entry);
  if (family !== 0) return { kind: 'cidr', address: entry, prefix: family === 4 ? 32 : 128, family: family as 4 | 6 };
  const m = /^([^:]+)(?::(\d*))?$/.exec(entry);
  if (!m) throw bad('IPv6 addresses with a port go in brackets: [fd00::7]:5684');
  const port = portOf(m[2], raw);
  if (isIP(m[1]) === 4) return { kind: 'cidr', address: m[1], prefix: 32, family: 4, port };
  const host = m[1].toLowerCase().replace(/\.$/, '');
  if (!HOST.test(host)) throw bad('not an address, a CIDR block or a host name');
  return { kind: 'host', host, port };
}

/** A list from config: a JSON array of strings, or a string of entries separated by commas or spaces. */
export function parseAllowList(raw: unknown): string[] {
  const items =
    typeof raw === 'string'
      ? raw.split(/[\s,]+/).filter((s) => s !== '')
      : Array.isArray(raw) && raw.every((s) => typeof s === 'string')
        ? (raw as string[])
        : undefined;
  if (items === undefined) throw new Error('must be a list of addresses, CIDR blocks or host names');
  for (const s of items) parseAllowEntry(s);
  return items.map((s) => s.trim());
}

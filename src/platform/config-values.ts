/**
 * The value parsers of the platform's configuration (config.ts's field table): each takes what a
 * file, a flag or an environment variable gave and returns the value, or throws an Error whose
 * message config.ts puts after the field's name. Secrets are never echoed in a message.
 */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';

export type Parse = (raw: unknown) => unknown;

/** An IP address and a port (`10.0.0.5:5690`, `[fd00::5]:5690`). */
export interface HostPort {
  address: string;
  port: number;
}

export function port(raw: unknown): number | null {
  if (raw === null || raw === 'off' || raw === 'none' || raw === '') return null;
  const n =
    typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`must be a port 0–65535 or "off", got ${show(raw)}`);
  return n;
}

export function positiveInt(max: number): Parse {
  return (raw) => {
    const n =
      typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`must be an integer 1–${max}, got ${show(raw)}`);
    return n;
  };
}

export function nonNegativeInt(max: number): Parse {
  return (raw) => {
    const n =
      typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`must be an integer 0–${max}, got ${show(raw)}`);
    return n;
  };
}

export function nonEmpty(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw new Error(`must be a non-empty string, got ${show(raw)}`);
  return raw;
}

export function optionalFile(raw: unknown): string | null {
  if (raw === null || raw === '') return null;
  const f = nonEmpty(raw);
  if (!existsSync(f)) throw new Error(`file ${f} does not exist`);
  return f;
}

export function bool(raw: unknown): boolean {
  if (raw === true || raw === 'true' || raw === '1' || raw === 'on' || raw === 'yes') return true;
  if (raw === false || raw === 'false' || raw === '0' || raw === 'off' || raw === 'no') return false;
  throw new Error(`must be true or false, got ${show(raw)}`);
}

export function oneOf<T extends string>(values: readonly T[]): Parse {
  return (raw) => {
    if (typeof raw !== 'string' || !values.includes(raw as T)) {
      throw new Error(`must be one of ${values.join(', ')}, got ${show(raw)}`);
    }
    return raw;
  };
}

export function db(raw: unknown): string {
  const s = nonEmpty(raw);
  if (/^postgres(ql)?:/i.test(s)) {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new Error(`is not a valid postgres:// URL: ${s}`);
    }
    // `postgres:///db?host=/var/run/postgresql`: a Unix socket directory instead of a host name.
    const host = u.hostname || u.searchParams.get('host');
    if (!host || u.pathname.length < 2) throw new Error(`postgres URL needs a host and a database name: ${s}`);
  }
  return s;
}

export function adminToken(raw: unknown): string | null {
  if (raw === null || raw === '') return null;
  const s = nonEmpty(raw);
  if (s.length < 16) throw new Error('must be at least 16 characters long');
  return s;
}

/** The session-sealing secret: hex, ≥ 128 bits. Never echoed in an error: it is a secret. */
export function sessionKey(raw: unknown): string | null {
  if (raw === null || raw === '') return null;
  if (typeof raw !== 'string') throw new Error('must be a string of hex digits');
  const s = raw.trim();
  if (!/^[0-9a-fA-F]*$/.test(s)) throw new Error('must be hex digits only (0-9, a-f)');
  if (s.length % 2 !== 0) throw new Error('must have an even number of hex digits (whole bytes)');
  if (s.length < 32) throw new Error(`must be at least 32 hex digits (128 bits), got ${s.length}`);
  return s.toLowerCase();
}

export function optionalCidNode(raw: unknown): number | null {
  if (raw === null || raw === '') return null;
  return nonNegativeInt(255)(raw) as number;
}

export function hostPort(raw: unknown): HostPort {
  const s = typeof raw === 'string' ? raw.trim() : '';
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  const p = m ? Number(m[2]) : Number.NaN;
  if (!m || isIP(m[1]) === 0 || !Number.isInteger(p) || p < 1 || p > 65535) {
    throw new Error(`must be IP:PORT (an IP address, not a name; [IPv6]:PORT), got ${show(raw)}`);
  }
  return { address: m[1], port: p };
}

export function optionalHostPort(raw: unknown): HostPort | null {
  return raw === null || raw === '' ? null : hostPort(raw);
}

/** `{"0":"10.0.0.1:5690",…}` in a file, `0=10.0.0.1:5690,1=…` in the environment. */
export function handOverPeers(raw: unknown): Record<number, HostPort> {
  let entries: Array<[string, unknown]>;
  if (typeof raw === 'string') {
    entries = raw
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '')
      .map((e) => {
        const i = e.indexOf('=');
        if (i < 0) throw new Error(`must be NODE=IP:PORT,… got ${show(e)}`);
        return [e.slice(0, i).trim(), e.slice(i + 1)];
      });
  } else if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    entries = Object.entries(raw);
  } else {
    throw new Error(`must be an object {"NODE": "IP:PORT", …} or NODE=IP:PORT,…, got ${show(raw)}`);
  }
  const out: Record<number, HostPort> = {};
  for (const [k, v] of entries) {
    if (!/^\d+$/.test(k) || Number(k) > 255) throw new Error(`node numbers are 0–255, got ${show(k)}`);
    out[Number(k)] = hostPort(v);
  }
  return out;
}

/** The hand-over secret: exactly 32 hex digits (128 bits). Never echoed in an error. */
export function handOverToken(raw: unknown): string | null {
  if (raw === null || raw === '') return null;
  if (typeof raw !== 'string' || !/^[0-9a-fA-F]{32}$/.test(raw.trim())) {
    throw new Error('must be exactly 32 hex digits (128 bits)');
  }
  return raw.trim().toLowerCase();
}

export function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

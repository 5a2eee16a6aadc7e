/**
 * The admission-control flags of the DTLS servers on the command line (`securesense dtls server`
 * and `securesense coap serve`): `--max-sessions`, `--max-handshakes`, `--handshake-timeout`,
 * `--idle-timeout`, `--recv-buffer`, `--session-cache`. Each is checked here; errors name the flag.
 */
import type { DtlsServerOptions } from '../dtls/index.ts';
import type { OptionTable } from './args.ts';

/** The limit options of a DTLS server command, in the shape of `args.ts` option tables. */
export const LIMIT_OPTIONS = {
  'max-sessions': {
    type: 'string',
    arg: 'N',
    group: 'limits',
    help: 'sessions held at once; past it the idlest is evicted (default 100000)',
  },
  'max-handshakes': {
    type: 'string',
    arg: 'N',
    group: 'limits',
    help: 'half-open handshakes at once; past it the oldest is dropped (default 1000)',
  },
  'handshake-timeout': {
    type: 'string',
    arg: 'MS',
    group: 'limits',
    help: 'a handshake not finished after this long is dropped (default 10000)',
  },
  'idle-timeout': {
    type: 'string',
    arg: 'MS',
    group: 'limits',
    help: 'a session silent this long is dropped, 0 = never (default 300000)',
  },
  'session-cache': {
    type: 'string',
    arg: 'N',
    group: 'limits',
    help: 'resumable sessions kept; past it the oldest is dropped and resumes as a full handshake (default 100000)',
  },
  'recv-buffer': {
    type: 'string',
    arg: 'BYTES',
    group: 'limits',
    help: 'socket receive buffer to request (default 4194304; the kernel may grant less)',
  },
} as const satisfies OptionTable;

export type LimitFlags = { [K in keyof typeof LIMIT_OPTIONS]?: string };

export type DtlsLimitOptions = Pick<
  DtlsServerOptions,
  'maxSessions' | 'maxHandshakes' | 'handshakeTimeoutMs' | 'idleTimeoutMs' | 'recvBufferSize' | 'maxCachedSessions'
>;

function int(v: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new Error(`--${flag} must be an integer in ${min}..${max}, got '${v}'`);
  }
  return n;
}

/** The limit flags → server options (only the ones given). Throws an Error naming the flag. */
export function readLimitFlags(f: LimitFlags): DtlsLimitOptions {
  const out: DtlsLimitOptions = {};
  const maxSessions = int(f['max-sessions'], 'max-sessions', 1, 10_000_000);
  const maxHandshakes = int(f['max-handshakes'], 'max-handshakes', 1, 1_000_000);
  const handshakeTimeoutMs = int(f['handshake-timeout'], 'handshake-timeout', 100, 3_600_000);
  const idleTimeoutMs = int(f['idle-timeout'], 'idle-timeout', 0, 30 * 86_400_000);
  const recvBufferSize = int(f['recv-buffer'], 'recv-buffer', 4096, 1 << 30);
  const maxCachedSessions = int(f['session-cache'], 'session-cache', 1, 10_000_000);
  if (maxSessions !== undefined) out.maxSessions = maxSessions;
  if (maxHandshakes !== undefined) out.maxHandshakes = maxHandshakes;
  if (handshakeTimeoutMs !== undefined) out.handshakeTimeoutMs = handshakeTimeoutMs;
  if (idleTimeoutMs !== undefined) out.idleTimeoutMs = idleTimeoutMs;
  if (recvBufferSize !== undefined) out.recvBufferSize = recvBufferSize;
  if (maxCachedSessions !== undefined) out.maxCachedSessions = maxCachedSessions;
  return out;
}

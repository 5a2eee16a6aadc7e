/**
 * The admission-control flags of the DTLS servers on the command line (`securesense dtls server`
 * and `securesense coap serve`): `--max-sessions`, `--max-handshakes`, `--handshake-timeout`,
 * `--idle-timeout`, `--recv-buffer`. Each is checked here; errors name the flag.
 */
import type { DtlsServerOptions } from '../dtls/index.ts';

export const LIMIT_FLAG_SPECS = {
  'max-sessions': { type: 'string' },
  'max-handshakes': { type: 'string' },
  'handshake-timeout': { type: 'string' },
  'idle-timeout': { type: 'string' },
  'recv-buffer': { type: 'string' },
} as const;

export const LIMIT_FLAGS_USAGE = `limits: --max-sessions N (idlest evicted past it, default 100000)
        --max-handshakes N (half-open, oldest evicted past it, default 1000)
        --handshake-timeout MS (default 10000)  --idle-timeout MS (0 = never, default 300000)
        --recv-buffer BYTES (socket receive buffer requested, default 4194304)`;

export type LimitFlags = { [K in keyof typeof LIMIT_FLAG_SPECS]?: string };

export type DtlsLimitOptions = Pick<
  DtlsServerOptions,
  'maxSessions' | 'maxHandshakes' | 'handshakeTimeoutMs' | 'idleTimeoutMs' | 'recvBufferSize'
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
  if (maxSessions !== undefined) out.maxSessions = maxSessions;
  if (maxHandshakes !== undefined) out.maxHandshakes = maxHandshakes;
  if (handshakeTimeoutMs !== undefined) out.handshakeTimeoutMs = handshakeTimeoutMs;
  if (idleTimeoutMs !== undefined) out.idleTimeoutMs = idleTimeoutMs;
  if (recvBufferSize !== undefined) out.recvBufferSize = recvBufferSize;
  return out;
}

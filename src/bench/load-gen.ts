/**
 * The load generator of `bench load`: bench/loadgen/loadgen.c (GnuTLS, one epoll loop, many
 * sockets), built on demand with the system C compiler into a temp directory keyed by the source's
 * hash, and driven here: start N processes, wait until each has its connections up, open one
 * measured window for all of them at the same wall-clock instant, collect and merge their counts and
 * latency histograms.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../../bench/loadgen/loadgen.c', import.meta.url));

export class LoadGenError extends Error {
  override name = 'LoadGenError';
}

/** Compiles the generator unless a binary of this exact source exists; returns its path. */
export function buildLoadGen(): string {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), 'securesense-loadgen');
  const bin = join(dir, `loadgen-${hash}`);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const partial = `${bin}.${process.pid}`;
  try {
    execFileSync('cc', ['-O2', '-Wall', '-o', partial, SOURCE, '-lgnutls', '-lm'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new LoadGenError(
      `cannot build the load generator (needs cc and the GnuTLS headers, Debian libgnutls28-dev): ${stderr.slice(0, 400)}`,
    );
  }
  renameSync(partial, bin); // atomic: a concurrent bench never runs a half-written binary
  return bin;
}

/** What one generator process is asked to do (the flags of loadgen.c). */
export interface GenSpec {
  kind: 'hs' | 'coap';
  sec: 'none' | 'psk' | 'rpk' | 'x509';
  port: number;
  /** Sockets (and DTLS sessions) in this process. */
  conns: number;
  /** CoAP requests outstanding per connection. */
  depth?: number;
  resume?: boolean;
  mutual?: boolean;
  psk?: { identity: string; keyHex: string };
  cert?: { cert: string; key: string };
  rpk?: { key: string; spki: string };
  path?: string;
}

function flags(s: GenSpec, lifetimeS: number): string[] {
  const a = ['--kind', s.kind, '--sec', s.sec, '--port', String(s.port), '--conns', String(s.conns)];
  a.push('--lifetime', String(Math.ceil(lifetimeS)));
  if (s.depth) a.push('--depth', String(s.depth));
  if (s.resume) a.push('--resume');
  if (s.mutual) a.push('--mutual');
  if (s.psk) a.push('--psk-id', s.psk.identity, '--psk-hex', s.psk.keyHex);
  if (s.cert) a.push('--cert', s.cert.cert, '--key', s.cert.key);
  if (s.rpk) a.push('--rpk-key', s.rpk.key, '--rpk-spki', s.rpk.spki);
  if (s.path) a.push('--path', s.path);
  return a;
}

/** One generator's report for the window. */
export interface GenResult {
  ok: number;
  errors: number;
  timeouts: number;
  notResumed: number;
  /** Connections that used up the 16-bit Message ID space and went on as a new endpoint. */
  renewals?: number;
  seconds: number;
  /** The generator's own CPU in the window. */
  cpuSeconds: number;
  /** [bucket, count]: bucket b holds latencies in [2^(b/16), 2^((b+1)/16)) µs. */
  hist: Array<[number, number]>;
  firstError: string;
}

/** A running generator process. */
export interface Gen {
  proc: ChildProcess;
  ready: Promise<void>;
  result: Promise<GenResult>;
  /** Opens the window: `startMs` is wall-clock (Date.now()) time. */
  start(startMs: number, windowMs: number): void;
  kill(): void;
}

export function spawnGen(bin: string, spec: GenSpec, lifetimeS: number): Gen {
  const proc = spawn(bin, flags(spec, lifetimeS), { stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stdin?.on('error', () => {});
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  // 'close', not 'exit': 'exit' may come before the last lines of stdout have been read, and the
  // result line is the generator's last — a run that ended well was reported as one without a result.
  const exited = new Promise<number | null>((resolve) => {
    proc.on('close', (code) => resolve(code));
    proc.on('error', () => resolve(-1));
  });
  const why = () => stderr.trim().split('\n').pop() || 'no output';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    void exited.then((code) => reject(new LoadGenError(`load generator exited (${code}): ${why()}`)));
  });
  const result = new Promise<GenResult>((resolve, reject) => {
    const lines = createInterface({ input: proc.stdout! });
    lines.on('line', (line) => {
      let msg: { event?: string } & Partial<GenResult>;
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      if (msg.event === 'ready') onReady();
      if (msg.event === 'result') resolve(msg as GenResult);
    });
    void exited.then((code) => reject(new LoadGenError(`load generator exited (${code}) without a result: ${why()}`)));
  });
  // Whichever of these the caller does not await must not become an unhandled rejection.
  ready.catch(() => {});
  result.catch(() => {});
  return {
    proc,
    ready,
    result,
    start: (startMs, windowMs) => proc.stdin?.write(`${startMs} ${windowMs}\n`),
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}

/** The generators' counts summed, and latency quantiles from their merged histograms. */
export interface Merged {
  ok: number;
  errors: number;
  timeouts: number;
  notResumed: number;
  renewals: number;
  seconds: number;
  genCpuSeconds: number;
  p50Ms?: number;
  p99Ms?: number;
  firstError?: string;
}

/** The latency at quantile q of a histogram: the geometric middle of the bucket it falls in. */
export function quantileMs(hist: Map<number, number>, q: number): number | undefined {
  const total = [...hist.values()].reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const want = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const b of [...hist.keys()].sort((x, y) => x - y)) {
    seen += hist.get(b) ?? 0;
    if (seen >= want) return 2 ** ((b + 0.5) / 16) / 1000;
  }
  return undefined;
}

export function mergeResults(results: GenResult[]): Merged {
  const hist = new Map<number, number>();
  for (const r of results) for (const [b, n] of r.hist) hist.set(b, (hist.get(b) ?? 0) + n);
  const sum = (f: (r: GenResult) => number) => results.reduce((a, r) => a + f(r), 0);
  return {
    ok: sum((r) => r.ok),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    notResumed: sum((r) => r.notResumed),
    renewals: sum((r) => r.renewals ?? 0),
    seconds: Math.max(0, ...results.map((r) => r.seconds)),
    genCpuSeconds: sum((r) => r.cpuSeconds),
    p50Ms: quantileMs(hist, 0.5),
    p99Ms: quantileMs(hist, 0.99),
    firstError: results.map((r) => r.firstError).find((e) => e) || undefined,
  };
}

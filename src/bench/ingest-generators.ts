/**
 * Runs the ingest bench's load generators (`ingest-load.ts`) as child processes: starts them all,
 * waits until each is ready (sockets open, handshakes done), starts them together and gathers their
 * results. The server's CPU and the machine's over the same window are sampled around the run.
 */
import { spawn } from 'node:child_process';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LoadJob, LoadResult } from './ingest-load.ts';
import { cpuTimes, cpuWindow, processCpuMs } from './ingest-machine.ts';

// The generator's module beside this one, with this module's extension: .ts when run from the
// sources (through tsx), .js from the compiled dist/ that `securesense bench` runs.
const EXT = extname(fileURLToPath(import.meta.url));
const LOAD = fileURLToPath(new URL(`./ingest-load${EXT}`, import.meta.url));
const LOAD_ARGS = EXT === '.ts' ? ['--import', 'tsx', LOAD] : [LOAD];

export interface PhaseFigures {
  requests: number;
  points: number;
  errors: number;
  firstError?: string;
  requestsPerSec: number;
  pointsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Server (all its processes) CPU per 1 000 points, ms; per 1 000 requests when no points. */
  serverCpuPer1000: number;
  /** Server CPU over the window as a share of one core, % (above 100 with several processes). */
  serverCpuPct: number;
  /** All generators' CPU as a share of one core, %. */
  generatorCpuPct: number;
  stealPct: number;
  machineBusyPct: number;
  /** Requests per committed transaction (the group commit's sharing), when measured. */
  requestsPerCommit?: number;
  /** PostgreSQL's own CPU (its backends for the platform, its background processes), when measured. */
  pgCpuPer1000?: number;
  pgCpuPct?: number;
}

/** CPU so far of a set of processes that may change (PostgreSQL backends), ms by pid. */
export type CpuSampler = () => Promise<Map<number, number>>;

/** CPU spent between two samples: a pid new in `b` counts from its start, one gone from `b` is lost. */
function sampledMs(a: Map<number, number>, b: Map<number, number>): number {
  let ms = 0;
  for (const [pid, t] of b) ms += t - (a.get(pid) ?? 0);
  return ms;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

interface Child {
  ready: Promise<void>;
  result: Promise<LoadResult>;
  go(): void;
}

function startChild(job: LoadJob): Child {
  const proc = spawn(process.execPath, [...LOAD_ARGS, JSON.stringify(job)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: proc.stdout });
  let onReady: () => void = () => {};
  let onResult: (r: LoadResult) => void = () => {};
  let onFail: (e: Error) => void = () => {};
  const ready = new Promise<void>((res, rej) => {
    onReady = res;
    onFail = rej;
  });
  const result = new Promise<LoadResult>((res, rej) => {
    onResult = res;
    const prior = onFail;
    onFail = (e) => {
      prior(e);
      rej(e);
    };
  });
  // A failed start must not be an unhandled rejection of the promise nobody awaited yet.
  result.catch(() => {});
  lines.on('line', (line) => {
    const msg = JSON.parse(line) as { ready?: boolean } & LoadResult;
    if (msg.ready) onReady();
    else onResult(msg);
  });
  // 'close' (stdout read to its end), not 'exit', which may come before the result line is read.
  proc.on('close', (code) => onFail(new Error(`load generator exited with ${code}`)));
  return { ready, result, go: () => proc.stdin.end('go\n') };
}

/** CPU of the server processes together, ms. */
function serversCpuMs(pids: number[]): number {
  return pids.reduce((a, pid) => a + processCpuMs(pid), 0);
}

/**
 * Runs the jobs in parallel child processes against the server processes `serverPids` (this
 * process by default), whose CPU over the window is measured, and PostgreSQL's with `pgCpu`.
 */
export async function runPhase(
  jobs: LoadJob[],
  serverPids: number[] = [process.pid],
  pgCpu?: CpuSampler,
): Promise<PhaseFigures> {
  const children = jobs.map(startChild);
  await Promise.all(children.map((c) => c.ready));
  const cpu0 = cpuTimes();
  const server0 = serversCpuMs(serverPids);
  const pg0 = await pgCpu?.();
  const t0 = performance.now();
  for (const c of children) c.go();
  const results = await Promise.all(children.map((c) => c.result));
  const wallMs = performance.now() - t0;
  const serverMs = serversCpuMs(serverPids) - server0;
  const pg1 = await pgCpu?.();
  const pgMs = pg0 && pg1 ? sampledMs(pg0, pg1) : undefined;
  const machine = cpuWindow(cpu0, cpuTimes());
  const lat = results.flatMap((r) => r.lat).sort((a, b) => a - b);
  const elapsed = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
  const requests = results.reduce((a, r) => a + r.requests, 0);
  const points = results.reduce((a, r) => a + r.points, 0);
  const per1000 = (ms: number) => (ms * 1000) / Math.max(1, points || requests);
  return {
    requests,
    points,
    errors: results.reduce((a, r) => a + r.errors, 0),
    firstError: results.find((r) => r.firstError)?.firstError,
    requestsPerSec: requests / elapsed,
    pointsPerSec: points / elapsed,
    p50Ms: percentile(lat, 0.5),
    p99Ms: percentile(lat, 0.99),
    serverCpuPer1000: per1000(serverMs),
    serverCpuPct: (100 * serverMs) / wallMs,
    generatorCpuPct: (100 * results.reduce((a, r) => a + r.cpuMs, 0)) / wallMs,
    stealPct: machine.stealPct,
    machineBusyPct: machine.busyPct,
    ...(pgMs === undefined ? {} : { pgCpuPer1000: per1000(pgMs), pgCpuPct: (100 * pgMs) / wallMs }),
  };
}

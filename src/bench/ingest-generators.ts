/**
 * Runs the ingest bench's load generators (`ingest-load.ts`) as child processes: starts them all,
 * waits until each is ready (sockets open, handshakes done), starts them together and gathers their
 * results. The server's CPU and the machine's over the same window are sampled around the run.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LoadJob, LoadResult } from './ingest-load.ts';
import { cpuTimes, cpuWindow, processCpuMs } from './ingest-machine.ts';

const LOAD = fileURLToPath(new URL('./ingest-load.ts', import.meta.url));

export interface PhaseFigures {
  requests: number;
  points: number;
  errors: number;
  firstError?: string;
  requestsPerSec: number;
  pointsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Server (this process) CPU per 1 000 points, ms; per 1 000 requests when no points. */
  serverCpuPer1000: number;
  /** Server CPU over the window as a share of one core, %. */
  serverCpuPct: number;
  /** All generators' CPU as a share of one core, %. */
  generatorCpuPct: number;
  stealPct: number;
  machineBusyPct: number;
  /** Requests per committed transaction (the group commit's sharing), when measured. */
  requestsPerCommit?: number;
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
  const proc = spawn(process.execPath, ['--import', 'tsx', LOAD, JSON.stringify(job)], {
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
  proc.on('exit', (code) => onFail(new Error(`load generator exited with ${code}`)));
  return { ready, result, go: () => proc.stdin.end('go\n') };
}

/** Runs the jobs in parallel child processes; `pointsOf` false counts requests (reads). */
export async function runPhase(jobs: LoadJob[]): Promise<PhaseFigures> {
  const children = jobs.map(startChild);
  await Promise.all(children.map((c) => c.ready));
  const cpu0 = cpuTimes();
  const server0 = processCpuMs();
  const t0 = performance.now();
  for (const c of children) c.go();
  const results = await Promise.all(children.map((c) => c.result));
  const wallMs = performance.now() - t0;
  const serverMs = processCpuMs() - server0;
  const machine = cpuWindow(cpu0, cpuTimes());
  const lat = results.flatMap((r) => r.lat).sort((a, b) => a - b);
  const elapsed = Math.max(...results.map((r) => r.elapsedMs)) / 1000;
  const requests = results.reduce((a, r) => a + r.requests, 0);
  const points = results.reduce((a, r) => a + r.points, 0);
  return {
    requests,
    points,
    errors: results.reduce((a, r) => a + r.errors, 0),
    firstError: results.find((r) => r.firstError)?.firstError,
    requestsPerSec: requests / elapsed,
    pointsPerSec: points / elapsed,
    p50Ms: percentile(lat, 0.5),
    p99Ms: percentile(lat, 0.99),
    serverCpuPer1000: (serverMs * 1000) / Math.max(1, points || requests),
    serverCpuPct: (100 * serverMs) / wallMs,
    generatorCpuPct: (100 * results.reduce((a, r) => a + r.cpuMs, 0)) / wallMs,
    stealPct: machine.stealPct,
    machineBusyPct: machine.busyPct,
  };
}

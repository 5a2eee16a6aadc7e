/**
 * One measured window of `bench load`: generator processes against one running server, the
 * server's CPU read from /proc at the window's start and end (the same instants at which the
 * generators start and stop counting), and the generators' CPU beside it.
 */
import { cpuBetween, type ProcessSample, processTree, sampleCpu, sampleEach } from './load-cpu.ts';
import { type Gen, type GenSpec, mergeResults, spawnGen } from './load-gen.ts';
import type { Running } from './load-targets.ts';

export interface WindowOptions {
  seconds: number;
  /** Load before the window opens (connections up, caches and JITs warm). */
  warmupSeconds: number;
  /** Generator processes; the connections are shared out among them. */
  procs: number;
}

export interface WindowResult {
  ok: number;
  errors: number;
  notResumed: number;
  /** Connections renewed in the window because their Message IDs were used up (loadgen.c). */
  renewals: number;
  rate: number;
  p50Ms?: number;
  p99Ms?: number;
  serverCpuSeconds: number;
  serverCpu: number;
  perCpuSecond?: number;
  genCpu: number;
  serverRssBytes: number;
  firstError?: string;
  /** Each server process over the window: CPU in cores, run-queue wait in seconds per second. */
  serverProcesses: { pid: number; cpu: number; runQueue?: number }[];
}

/** Per-process CPU (cores) and run-queue wait (s/s) between two {@link sampleEach} samples `seconds` apart. */
function perProcess(a: ProcessSample[], b: ProcessSample[], seconds: number): WindowResult['serverProcesses'] {
  return b.flatMap((end) => {
    const start = a.find((s) => s.pid === end.pid);
    if (!start || !(seconds > 0)) return [];
    const rq =
      start.runQueueSeconds !== undefined && end.runQueueSeconds !== undefined
        ? (end.runQueueSeconds - start.runQueueSeconds) / seconds
        : undefined;
    return [{ pid: end.pid, cpu: (end.cpuSeconds - start.cpuSeconds) / seconds, runQueue: rq }];
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** Rejects with `what` if `p` has not settled within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(what)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** `total` connections shared out among at most `procs` processes (none gets zero). */
export function shareOut(total: number, procs: number): number[] {
  const n = Math.max(1, Math.min(procs, total));
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
}

export async function measureWindow(
  bin: string,
  server: Running,
  spec: Omit<GenSpec, 'port'>,
  opts: WindowOptions,
): Promise<WindowResult> {
  const serverPids = processTree(server.pid);
  const lifetimeS = opts.seconds + opts.warmupSeconds + 30;
  const gens: Gen[] = shareOut(spec.conns, opts.procs).map((conns) =>
    spawnGen(bin, { ...spec, conns, port: server.port }, lifetimeS),
  );
  try {
    await within(Promise.all(gens.map((g) => g.ready)), 15_000, 'the generator could not connect within 15 s');
    await sleep(opts.warmupSeconds * 1000);
    const windowMs = Math.round(opts.seconds * 1000);
    const startMs = Date.now() + 100;
    for (const g of gens) g.start(startMs, windowMs);
    await sleep(startMs - Date.now());
    const s0 = sampleCpu(serverPids);
    const e0 = sampleEach(serverPids);
    await sleep(startMs + windowMs - Date.now());
    const s1 = sampleCpu(serverPids);
    const e1 = sampleEach(serverPids);
    const results = await within(
      Promise.all(gens.map((g) => g.result)),
      10_000,
      'the generator gave no result 10 s after the window',
    );
    const merged = mergeResults(results);
    const server = cpuBetween(s0, s1);
    const seconds = merged.seconds || opts.seconds;
    return {
      ok: merged.ok,
      errors: merged.errors + merged.timeouts + merged.notResumed,
      notResumed: merged.notResumed,
      renewals: merged.renewals,
      rate: merged.ok / seconds,
      p50Ms: merged.p50Ms,
      p99Ms: merged.p99Ms,
      serverCpuSeconds: server.cpuSeconds,
      serverCpu: server.share,
      perCpuSecond: server.cpuSeconds > 0 ? merged.ok / server.cpuSeconds : undefined,
      // The generators' own getrusage over their window: they exit as it closes, too soon for /proc.
      genCpu: merged.genCpuSeconds / seconds,
      serverRssBytes: s1.rssBytes,
      firstError: merged.firstError,
      serverProcesses: perProcess(e0, e1, (s1.at - s0.at) / 1000),
    };
  } finally {
    for (const g of gens) g.kill();
  }
}

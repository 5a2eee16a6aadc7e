/**
 * CPU time and memory of processes, read from /proc (Linux), for `bench load`: a server's work per
 * CPU-second is what it did in a window divided by the utime + stime it spent in that window, so the
 * figure does not depend on whether the client kept it busy.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of utime/stime (`getconf CLK_TCK`; 100 on every Linux we run on). */
export const CLOCK_TICKS = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

const PAGE_BYTES = (() => {
  try {
    const n = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim());
    return n > 0 ? n : 4096;
  } catch {
    return 4096;
  }
})();

interface Stat {
  ppid: number;
  /** utime + stime, in clock ticks. */
  ticks: number;
  rssBytes: number;
}

/**
 * Parses /proc/PID/stat. The command name (field 2) is in parentheses and may hold spaces, so the
 * fields are counted from the last ')'. Undefined when the process is gone.
 */
export function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15, rss 24 (pages).
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), rssBytes: Number(f[21]) * PAGE_BYTES };
}

/** `pid` and all its descendants (a server started through a wrapper is the wrapper's child). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(Number(name));
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

export interface CpuSample {
  /** Summed utime + stime of the processes, in seconds. */
  cpuSeconds: number;
  rssBytes: number;
  /** Monotonic time of the sample, ms. */
  at: number;
}

/** CPU seconds and RSS summed over `pids` (processes that have exited count as zero). */
export function sampleCpu(pids: readonly number[]): CpuSample {
  let ticks = 0;
  let rssBytes = 0;
  for (const pid of pids) {
    const s = readStat(pid);
    if (!s) continue;
    ticks += s.ticks;
    rssBytes += s.rssBytes;
  }
  return { cpuSeconds: ticks / CLOCK_TICKS, rssBytes, at: performance.now() };
}

/** CPU seconds spent between two samples, and the share of one core over the elapsed time. */
export function cpuBetween(a: CpuSample, b: CpuSample): { cpuSeconds: number; share: number } {
  const cpuSeconds = Math.max(0, b.cpuSeconds - a.cpuSeconds);
  const elapsed = (b.at - a.at) / 1000;
  return { cpuSeconds, share: elapsed > 0 ? cpuSeconds / elapsed : 0 };
}

/** One process's CPU ticks and the time its threads waited on a run queue (schedstat), for per-process tables. */
export interface ProcessSample {
  pid: number;
  /** utime + stime, seconds (all threads). */
  cpuSeconds: number;
  /** Time its threads were runnable but waiting for a core, seconds (/proc/PID/task/TID/schedstat field 2). */
  runQueueSeconds?: number;
}

/** Each process of `pids` separately (gone ones are left out). */
export function sampleEach(pids: readonly number[]): ProcessSample[] {
  const out: ProcessSample[] = [];
  for (const pid of pids) {
    const s = readStat(pid);
    if (!s) continue;
    let waitNs: number | undefined;
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const f = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').trim().split(' ');
        waitNs = (waitNs ?? 0) + Number(f[1]);
      }
    } catch {
      // no schedstat (kernel without CONFIG_SCHED_INFO, or the process went): CPU only
    }
    out.push({
      pid,
      cpuSeconds: s.ticks / CLOCK_TICKS,
      runQueueSeconds: waitNs === undefined ? undefined : waitNs / 1e9,
    });
  }
  return out;
}

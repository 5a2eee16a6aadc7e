/**
 * The machine facts an ingest figure depends on, printed beside it: cores, load average, CPU steal
 * over the measuring window (/proc/stat), the fsync latency of the data directory, and a process's
 * CPU time (/proc/<pid>/stat) for the server's CPU per 1 000 points.
 */
import { closeSync, fdatasyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';

/** Aggregate CPU jiffies from the first line of /proc/stat; undefined off Linux. */
export interface CpuTimes {
  total: number;
  steal: number;
  idle: number;
}

export function cpuTimes(): CpuTimes | undefined {
  try {
    const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    const f = first.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { total, steal: f[7] ?? 0, idle: (f[3] ?? 0) + (f[4] ?? 0) };
  } catch {
    return undefined;
  }
}

/** Share of all CPU time between two samples that was stolen by the hypervisor, and that was busy. */
export function cpuWindow(a: CpuTimes | undefined, b: CpuTimes | undefined): { stealPct: number; busyPct: number } {
  if (!a || !b || b.total <= a.total) return { stealPct: Number.NaN, busyPct: Number.NaN };
  const d = b.total - a.total;
  return { stealPct: (100 * (b.steal - a.steal)) / d, busyPct: (100 * (d - (b.idle - a.idle))) / d };
}

/** User + system CPU of a process so far, ms (from /proc/<pid>/stat; this process by default). */
export function processCpuMs(pid: number = process.pid): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
}

/** Median and worst of `n` fdatasync()s of a small file rewritten in `dir`, ms. */
export function fsyncLatency(dir: string, n = 20): { p50Ms: number; maxMs: number } {
  const path = join(dir, 'fsync-probe');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(4096, 1);
  const lat: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      writeSync(fd, block, 0, block.length, 0);
      const t0 = performance.now();
      fdatasyncSync(fd);
      lat.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  lat.sort((a, b) => a - b);
  return { p50Ms: lat[Math.floor(n / 2)], maxMs: lat[n - 1] };
}

export interface MachineFacts {
  cores: number;
  loadAvg1: number;
  fsyncP50Ms: number;
  fsyncMaxMs: number;
}

export function machineFacts(dataDir: string): MachineFacts {
  const f = fsyncLatency(dataDir);
  return { cores: availableParallelism(), loadAvg1: loadavg()[0], fsyncP50Ms: f.p50Ms, fsyncMaxMs: f.maxMs };
}

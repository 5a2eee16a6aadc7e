/**
 * PostgreSQL's own CPU during an ingest phase: the backends serving the platform's connections
 * (found by the `application_name` the bench gives them in the URL) and the server's background
 * processes (WAL writer, checkpointer, background writer, autovacuum), read from /proc/<pid>/stat.
 * Other clients' backends (other work on a shared server) are left out. Works when PostgreSQL runs
 * on this host; elsewhere the pids mean nothing and every sample is empty.
 */
import pg from 'pg';
import type { CpuSampler } from './ingest-generators.ts';
import { CLOCK_TICKS, readStat } from './load-cpu.ts';

/** `url` with `application_name` set, so that the bench's backends can be told from others. */
export function withApplicationName(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.toString();
}

export interface PgCpu {
  sample: CpuSampler;
  close(): Promise<void>;
}

/** A sampler of the CPU of the backends named `appName` and of the background processes. */
export async function pgCpu(url: string, appName: string): Promise<PgCpu> {
  const client = new pg.Client({ connectionString: withApplicationName(url, `${appName}_probe`) });
  await client.connect();
  return {
    sample: async () => {
      const { rows } = await client.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE application_name = $1 OR backend_type <> 'client backend'`,
        [appName],
      );
      const out = new Map<number, number>();
      for (const { pid } of rows) {
        const stat = readStat(pid);
        if (stat) out.set(pid, (stat.ticks * 1000) / CLOCK_TICKS);
      }
      return out;
    },
    close: () => client.end(),
  };
}

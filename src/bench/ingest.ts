/**
 * `securesense bench ingest [--seconds 3] [--concurrency 16] [--devices 100] [--outstanding 1]
 *   [--generators 2] [--pg URL] [--pg-workers 1,2] [--json]`
 *
 * Platform throughput, per store engine, with the platform in this process and the load generators
 * in `--generators` child processes (`ingest-load.ts`), so that the figures measure the server:
 * - HTTP ingest: points stored per second through `POST /users/:uid/resources/:rid/data`, each
 *   request a JSON payload of 10 values (10 streams, auto-created by the first payload), each point
 *   with its own time so that no write is an overwrite; `--concurrency` keep-alive connections;
 * - reads: `GET …/streams/:sid/data?limit=1000` (the newest 1 000 points of a stream) per second;
 * - CoAPs ingest: the same payloads as CoAP POSTs over coaps:// from `--devices` simulated devices,
 *   each with its own PSK identity bound to its own resource and one DTLS session kept for the
 *   whole run (handshakes happen before the clock starts), `--outstanding` confirmable requests
 *   outstanding per device (1 is NSTART = 1, RFC 7252 §4.7).
 *
 * Beside each figure: the server's CPU per 1 000 points (from /proc/<pid>/stat), the generators'
 * CPU, the CPU steal and busy share of the machine over the window, and before the runs the fsync
 * latency of the data directory, the cores and the load average. SQLite runs on a temporary file
 * (WAL, synchronous=FULL); PostgreSQL, when a URL is given (`--pg` or SECURESENSE_BENCH_PG_URL or
 * SECURESENSE_TEST_PG_URL), in a throw-away schema; then, scaled out, on a `securesense serve
 * --workers N` for each N of `--pg-workers` (0 skips these runs) on a schema of its own, every
 * generator on its one set of shared ports (the kernel spreads the connections and flows over the
 * workers), the CPU of the primary and all workers summed as the server's. A `serve` is a fresh
 * process: a short unmeasured warm-up of both protocols comes first, and `--workers 1` beside 2
 * tells the second worker's effect from the fresh process's. With PostgreSQL on this host, its own CPU (the
 * platform's backends and its background processes) is printed beside the platform's.
 */

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../platform/config.ts';
import { createPlatform, dropPostgresSchema, type Platform } from '../platform/index.ts';
import { progressStep } from '../util/progress.ts';
import { type PhaseFigures, runPhase } from './ingest-generators.ts';
import type { LoadJob } from './ingest-load.ts';
import { type MachineFacts, machineFacts, processCpuMs } from './ingest-machine.ts';
import { pgCpu, withApplicationName } from './ingest-pg-cpu.ts';
import { processTree } from './load-cpu.ts';

export interface IngestFigures {
  /** The engine, and how the platform ran: `sqlite`, `postgres`, `postgres serve --workers 2`. */
  label: string;
  engine: 'sqlite' | 'postgres';
  /** Platform workers serving the load (1: the bench process itself). */
  workers: number;
  http: PhaseFigures;
  /** Absent for the scale-out run, which measures ingest only. */
  reads?: PhaseFigures;
  pointsInStream?: number;
  coapsDevices: number;
  coaps: PhaseFigures;
  /** With `serve --workers`: each process's share of the server CPU per phase, %, primary first. */
  cpuSplit?: { http: number[]; coaps: number[] };
}

export interface IngestOptions {
  seconds: number;
  concurrency: number;
  devices: number;
  outstanding: number;
  generators: number;
  /** A `serve --workers N` on PostgreSQL for each N here, after the in-process runs (empty: none). */
  pgWorkers: number[];
  pgSchema?: string;
}

const BIN = fileURLToPath(new URL('../../bin/securesense.mjs', import.meta.url));

async function ok(res: Response, what: string): Promise<unknown> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Splits `n` into `parts` near-equal positive shares (fewer parts when n is small). */
function split(n: number, parts: number): number[] {
  const k = Math.max(1, Math.min(parts, n));
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

/** What the load runs against, as paths: the same on every platform process sharing the store. */
interface Fixture {
  token: string;
  /** `/users/:uid/resources/:rid/data` of the HTTP resource (10 streams). */
  dataPath: string;
  /** `…/streams/:sid/data?limit=1000` of one of them, holding more than 1 000 points. */
  readPath: string;
  devices: Array<{ identity: string; key: string; path: string }>;
}

/** Where one platform process listens. */
interface Target {
  http: string;
  coaps: string;
}

/** Creates the user, the HTTP resource with its 10 streams and 1 000 older points, and the devices. */
async function setUp(platform: Platform, opts: IngestOptions): Promise<Fixture> {
  const base = platform.http.plain!.url;
  const json = { 'content-type': 'application/json' };
  const user = (await ok(
    await fetch(`${base}/users`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ username: 'bench', password: 'bench password' }),
    }),
    'create user',
  )) as { id: number; token: string };
  const auth = { authorization: `Bearer ${user.token}` };
  const res = (await ok(
    await fetch(`${base}/users/${user.id}/resources`, {
      method: 'POST',
      headers: { ...json, ...auth },
      body: JSON.stringify({ label: 'bench' }),
    }),
    'create resource',
  )) as { id: number };
  const dataPath = `/users/${user.id}/resources/${res.id}/data`;
  const firstBody: Record<string, { value: number; time: number }> = {};
  for (let i = 0; i < 10; i++) firstBody[`s${i}`] = { value: i, time: 1_650_000_000_000 };
  const first = (await ok(
    await fetch(`${base}${dataPath}`, {
      method: 'POST',
      headers: { ...json, ...auth },
      body: JSON.stringify(firstBody),
    }),
    'first payload',
  )) as { created: Array<{ id: number }> };
  if (first.created.length !== 10) throw new Error(`expected 10 streams, got ${first.created.length}`);
  // 1 000 points older than everything ingested, so that every read returns a full 1 000.
  const streamPath = `/users/${user.id}/resources/${res.id}/streams/${first.created[0].id}/data`;
  const older = Array.from({ length: 1000 }, (_, i) => ({ value: i, time: 1_600_000_000_000 + i }));
  await ok(
    await fetch(`${base}${streamPath}`, { method: 'POST', headers: { ...json, ...auth }, body: JSON.stringify(older) }),
    'fill',
  );
  // coaps://: each device its own resource, PSK identity and DTLS session.
  const caller = { kind: 'user' as const, userId: user.id };
  const devices = await Promise.all(
    Array.from({ length: opts.devices }, async (_, i) => {
      const r = await platform.service.createResource(caller, user.id, { label: `device-${i}` });
      const key = randomBytes(16).toString('hex');
      await platform.service.addDeviceCredential(caller, user.id, r.resource.id, {
        mode: 'psk',
        pskIdentity: `bench-${i}`,
        pskKey: key,
      });
      return { identity: `bench-${i}`, key, path: `/users/${user.id}/resources/${r.resource.id}/data` };
    }),
  );
  return { token: user.token, dataPath, readPath: `${streamPath}?limit=1000`, devices };
}

/** HTTP ingest jobs: the connections split over the generators. */
function httpJobs(fx: Fixture, target: Target, opts: IngestOptions): LoadJob[] {
  return split(opts.concurrency, opts.generators).map((concurrency, g) => ({
    kind: 'http-post',
    url: `${target.http}${fx.dataPath}`,
    token: fx.token,
    concurrency,
    seconds: opts.seconds,
    // Each generator its own range of times (1e9 ms apart), so that no two points collide.
    timeBase: 1_700_000_000_000 + g * 1e9,
  }));
}

/** CoAPs ingest jobs: the devices split over the generators. */
function coapsJobs(fx: Fixture, target: Target, opts: IngestOptions): LoadJob[] {
  let offset = 0;
  return split(fx.devices.length, opts.generators).map((n, g) => {
    const mine = fx.devices.slice(offset, offset + n).map((d) => ({ ...d, url: `${target.coaps}${d.path}` }));
    offset += n;
    return {
      kind: 'coaps-post',
      devices: mine,
      seconds: opts.seconds,
      outstanding: opts.outstanding,
      timeBase: 1_800_000_000_000 + g * 1e9,
    };
  });
}

function benchConfig(db: string) {
  const cfg = loadConfig({
    env: {},
    overrides: {
      db,
      http: { host: '127.0.0.1', port: 0 },
      coap: { host: '127.0.0.1', port: null, coapsPort: 0 },
      logLevel: 'silent',
    },
  });
  // One token drives every lane, far above the default per-credential limit (200/s): the bench
  // measures the ingest path, not the limiter, so the limit is off here.
  cfg.api.rateLimit = 0;
  return cfg;
}

/** The `application_name` of the bench's PostgreSQL connections, whose backends' CPU is counted. */
const PG_APP = `ss_bench_${process.pid}`;

/** Both protocols and the reads, with the platform in this process. */
export async function benchEngine(
  engine: 'sqlite' | 'postgres',
  db: string,
  opts: IngestOptions,
): Promise<IngestFigures> {
  const url = engine === 'postgres' ? withApplicationName(db, PG_APP) : db;
  const platform = await createPlatform(benchConfig(url), { pgSchema: opts.pgSchema, coap: true });
  const probe = engine === 'postgres' ? await pgCpu(db, PG_APP) : undefined;
  try {
    const fx = await setUp(platform, opts);
    const self: Target = {
      http: platform.http.plain!.url,
      coaps: `coaps://127.0.0.1:${platform.coap!.coaps!.port}`,
    };
    const phase = (jobs: LoadJob[]) => runPhase(jobs, [process.pid], probe?.sample);
    // Requests per commit over a phase: how well the group commit shares transactions.
    const grouped = async (jobs: LoadJob[]): Promise<PhaseFigures> => {
      const a = platform.store.ingestStats();
      const f = await phase(jobs);
      const b = platform.store.ingestStats();
      return { ...f, requestsPerCommit: (b.requests - a.requests) / Math.max(1, b.commits - a.commits) };
    };
    const http = await grouped(httpJobs(fx, self, opts));

    const readUrl = `${self.http}${fx.readPath}`;
    const check = (await ok(await fetch(readUrl, { headers: { authorization: `Bearer ${fx.token}` } }), 'read')) as {
      points: unknown[];
    };
    const pointsInStream = check.points.length;
    if (pointsInStream !== 1000) throw new Error(`a read returned ${pointsInStream} points, not 1000`);
    const reads = await phase([
      {
        kind: 'http-get',
        url: readUrl,
        token: fx.token,
        concurrency: Math.max(1, Math.floor(opts.concurrency / 4)),
        seconds: opts.seconds,
        timeBase: 0,
      },
    ]);
    const coaps = await grouped(coapsJobs(fx, self, opts));
    return { label: engine, engine, workers: 1, http, reads, pointsInStream, coapsDevices: fx.devices.length, coaps };
  } finally {
    await probe?.close();
    await platform.close();
  }
}

interface ServeProcess {
  /** The primary's and every worker's. */
  pids: number[];
  target: Target;
  stop(): Promise<void>;
}

/**
 * Starts `securesense serve --workers N` on `db` (any free ports, no rate limit), waits until all
 * its workers listen, and finds the workers' pids (the primary's children).
 */
async function startServe(db: string, workers: number): Promise<ServeProcess> {
  const args = [BIN, 'serve', '--db', db, '--workers', String(workers), '--host', '127.0.0.1', '--http-port', '0'];
  const proc = spawn(process.execPath, [...args, '--coap-port', 'off', '--coaps-port', '0', '--log-level', 'warn'], {
    env: { ...process.env, SECURESENSE_RATE_LIMIT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async () => {
    proc.kill('SIGINT');
    await exited;
  };
  const lines = createInterface({ input: proc.stdout });
  const listening = await new Promise<{ http: string; coaps: string }>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.includes('"event":"listening"')) resolve(JSON.parse(line) as { http: string; coaps: string });
    });
    proc.once('exit', (code) => reject(new Error(`securesense serve exited with ${code} before listening`)));
  });
  // With one worker serve runs in the process itself; with more, the primary forks them.
  const pids = processTree(proc.pid!);
  if (pids.length !== (workers > 1 ? workers + 1 : 1)) {
    await stop();
    throw new Error(`serve --workers ${workers}: found ${pids.length} processes`);
  }
  return { pids, target: { http: listening.http, coaps: listening.coaps }, stop };
}

/**
 * PostgreSQL scaled out: one `securesense serve --workers N` on its own schema, every generator on
 * its shared ports; server CPU is the primary's and the workers' together. (Set up by a platform
 * in this process, closed before the server starts.)
 */
export async function benchScaleOut(
  pgUrl: string,
  schema: string,
  workers: number,
  opts: IngestOptions,
): Promise<IngestFigures> {
  const u = new URL(withApplicationName(pgUrl, PG_APP));
  u.searchParams.set('options', `-c search_path=${schema}`);
  const setup = await createPlatform(benchConfig(u.toString()), { coap: true });
  let fx: Fixture;
  try {
    fx = await setUp(setup, opts);
  } finally {
    await setup.close();
  }
  const server = await startServe(u.toString(), workers);
  const probe = await pgCpu(pgUrl, PG_APP);
  try {
    // Unmeasured: the fresh processes' JIT warms up on both paths first.
    const warm = { ...opts, seconds: Math.min(1, opts.seconds) };
    await runPhase(httpJobs(fx, server.target, warm), server.pids);
    await runPhase(coapsJobs(fx, server.target, warm), server.pids);
    // How the kernel spread the load: each process's share of the server's CPU over a phase.
    const shares = async (phase: () => Promise<PhaseFigures>): Promise<[PhaseFigures, number[]]> => {
      const a = server.pids.map((pid) => processCpuMs(pid));
      const f = await phase();
      const d = server.pids.map((pid, i) => processCpuMs(pid) - a[i]);
      const total = Math.max(
        1,
        d.reduce((x, y) => x + y, 0),
      );
      return [f, d.map((ms) => (100 * ms) / total)];
    };
    const [http, httpSplit] = await shares(() =>
      runPhase(httpJobs(fx, server.target, opts), server.pids, probe.sample),
    );
    const [coaps, coapsSplit] = await shares(() =>
      runPhase(coapsJobs(fx, server.target, opts), server.pids, probe.sample),
    );
    return {
      label: `postgres serve --workers ${workers}`,
      engine: 'postgres',
      workers,
      http,
      coapsDevices: fx.devices.length,
      coaps,
      cpuSplit: { http: httpSplit, coaps: coapsSplit },
    };
  } finally {
    await probe.close();
    await server.stop();
  }
}

function printTable(title: string, rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  process.stdout.write(`\n${title}\n`);
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i])).join('  ')}\n`);
}

function report(results: IngestFigures[], machine: MachineFacts, o: IngestOptions): void {
  const f0 = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
  const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
  process.stdout.write(
    `machine: ${machine.cores} cores, load average ${machine.loadAvg1.toFixed(2)}, fdatasync of the data directory p50 ${machine.fsyncP50Ms.toFixed(2)} ms (max ${machine.fsyncMaxMs.toFixed(2)} ms)\n` +
      `server in this process (pid ${process.pid}; SQLite points committed on its writer thread)` +
      `${o.pgWorkers.map((n) => `, \`securesense serve --workers ${n}\` on PostgreSQL (CPU of its primary and workers, after a warm-up)`).join('')}; ` +
      `load from ${o.generators} generator process(es); ${o.seconds} s per phase\n`,
  );
  const head = [
    'engine',
    'req/s',
    'points/s',
    'p50 ms',
    'p99 ms',
    'errors',
    'server CPU ms/1k pts',
    'server CPU %',
    'gen CPU %',
    'steal %',
    'machine busy %',
    'req/commit',
    'PG CPU ms/1k pts',
    'PG CPU %',
  ];
  const row = (engine: string, p: PhaseFigures) => [
    engine,
    f0(p.requestsPerSec),
    f0(p.pointsPerSec),
    f1(p.p50Ms),
    f1(p.p99Ms),
    String(p.errors),
    f1(p.serverCpuPer1000),
    f0(p.serverCpuPct),
    f0(p.generatorCpuPct),
    f1(p.stealPct),
    f0(p.machineBusyPct),
    f1(p.requestsPerCommit ?? Number.NaN),
    f1(p.pgCpuPer1000 ?? Number.NaN),
    f0(p.pgCpuPct ?? Number.NaN),
  ];
  printTable(`HTTP ingest: POST …/resources/:rid/data, JSON with 10 values; ${o.concurrency} keep-alive connections`, [
    head,
    ...results.map((r) => row(r.label, r.http)),
  ]);
  printTable(
    `CoAPs ingest: CoAP POST …/resources/:rid/data over DTLS (PSK, AES-128-CCM-8), same payloads; ${o.devices} devices, one session and ${o.outstanding} request(s) outstanding each`,
    [head, ...results.map((r) => row(r.label, r.coaps))],
  );
  printTable(
    `HTTP reads: GET …/streams/:sid/data?limit=1000 (the newest 1 000 points); ${Math.max(1, Math.floor(o.concurrency / 4))} connections`,
    [
      ['engine', 'reads/s', 'p50 ms', 'p99 ms', 'errors', 'server CPU ms/1k reads'],
      ...results.flatMap((r) =>
        r.reads
          ? [
              [
                r.label,
                f0(r.reads.requestsPerSec),
                f1(r.reads.p50Ms),
                f1(r.reads.p99Ms),
                String(r.reads.errors),
                f0(r.reads.serverCpuPer1000),
              ],
            ]
          : [],
      ),
    ],
  );
  for (const r of results)
    if (r.cpuSplit && r.workers > 1) {
      const pct = (xs: number[]) => xs.map((x) => `${Math.round(x)} %`).join(' / ');
      process.stdout.write(
        `${r.label}: server CPU by process (primary / workers): HTTP ${pct(r.cpuSplit.http)}, CoAPs ${pct(r.cpuSplit.coaps)}\n`,
      );
    }
  for (const r of results)
    for (const [name, p] of [
      ['HTTP', r.http],
      ['CoAPs', r.coaps],
      ['reads', r.reads],
    ] as const)
      if (p?.firstError) process.stdout.write(`${r.label} ${name}: first error: ${p.firstError}\n`);
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '16' },
      devices: { type: 'string', default: '100' },
      outstanding: { type: 'string', default: '1' },
      generators: { type: 'string', default: '2' },
      pg: { type: 'string' },
      'pg-workers': { type: 'string', default: '1,2' },
      json: { type: 'boolean', default: false },
    },
  });
  const o: IngestOptions = {
    seconds: Number(values.seconds),
    concurrency: Number(values.concurrency),
    devices: Number(values.devices),
    outstanding: Number(values.outstanding),
    generators: Number(values.generators),
    pgWorkers: values['pg-workers'] === '0' ? [] : values['pg-workers'].split(',').map(Number),
  };
  const positiveInt = (n: number) => Number.isInteger(n) && n >= 1;
  if (
    !(o.seconds > 0) ||
    ![o.concurrency, o.devices, o.outstanding, o.generators].every(positiveInt) ||
    !o.pgWorkers.every((n) => Number.isInteger(n) && n >= 1 && n <= 64)
  ) {
    process.stderr.write(
      'usage: securesense bench ingest [--seconds S] [--concurrency N] [--devices N] [--outstanding N] [--generators N] [--pg URL] [--pg-workers N[,N…]|0] [--json]\n',
    );
    return 2;
  }
  const pg = values.pg ?? process.env.SECURESENSE_BENCH_PG_URL ?? process.env.SECURESENSE_TEST_PG_URL;
  const results: IngestFigures[] = [];

  const dir = mkdtempSync(join(tmpdir(), 'ss-bench-'));
  let machine: MachineFacts;
  try {
    machine = machineFacts(dir);
    results.push(await benchEngine('sqlite', join(dir, 'bench.db'), o));
    progressStep('sqlite measured');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (pg) {
    const schema = `ss_bench_${process.pid}`;
    try {
      results.push(await benchEngine('postgres', pg, { ...o, pgSchema: schema }));
      progressStep('postgres measured');
    } finally {
      await dropPostgresSchema(pg, schema);
    }
    for (const n of o.pgWorkers) {
      const scaled = `ss_bench_${process.pid}_w${n}`;
      try {
        results.push(await benchScaleOut(pg, scaled, n, o));
        progressStep(`postgres serve --workers ${n} measured`);
      } finally {
        await dropPostgresSchema(pg, scaled);
      }
    }
  } else {
    process.stderr.write('PostgreSQL not measured: give --pg URL or set SECURESENSE_BENCH_PG_URL\n');
  }

  if (values.json) {
    // Latency arrays stay in the children; the figures are summaries.
    process.stdout.write(`${JSON.stringify({ machine, options: o, results })}\n`);
    return 0;
  }
  report(results, machine, o);
  return 0;
}

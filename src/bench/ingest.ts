/**
 * `securesense bench ingest [--seconds 3] [--concurrency 16] [--devices 100] [--outstanding 1]
 *   [--generators 2] [--pg URL] [--json]`
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
 * SECURESENSE_TEST_PG_URL), in a throw-away schema.
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPlatform, dropPostgresSchema } from '../platform/index.ts';
import { loadConfig } from '../util/config.ts';
import { type PhaseFigures, runPhase } from './ingest-generators.ts';
import type { CoapsDevice, LoadJob } from './ingest-load.ts';
import { type MachineFacts, machineFacts } from './ingest-machine.ts';

export interface IngestFigures {
  engine: 'sqlite' | 'postgres';
  http: PhaseFigures;
  reads: PhaseFigures;
  pointsInStream: number;
  coapsDevices: number;
  coaps: PhaseFigures;
}

export interface IngestOptions {
  seconds: number;
  concurrency: number;
  devices: number;
  outstanding: number;
  generators: number;
  pgSchema?: string;
}

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

export async function benchEngine(
  engine: 'sqlite' | 'postgres',
  db: string,
  opts: IngestOptions,
): Promise<IngestFigures> {
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
  const platform = await createPlatform(cfg, { pgSchema: opts.pgSchema, coap: true });
  try {
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
    const dataUrl = `${base}/users/${user.id}/resources/${res.id}/data`;
    const firstBody: Record<string, { value: number; time: number }> = {};
    for (let i = 0; i < 10; i++) firstBody[`s${i}`] = { value: i, time: 1_650_000_000_000 };
    const first = (await ok(
      await fetch(dataUrl, { method: 'POST', headers: { ...json, ...auth }, body: JSON.stringify(firstBody) }),
      'first payload',
    )) as { created: Array<{ id: number }> };
    if (first.created.length !== 10) throw new Error(`expected 10 streams, got ${first.created.length}`);
    const sid = first.created[0].id;

    // Requests per commit over a phase: how well the group commit shares transactions.
    const grouped = async (phase: Promise<PhaseFigures>): Promise<PhaseFigures> => {
      const a = platform.store.ingestStats();
      const f = await phase;
      const b = platform.store.ingestStats();
      return { ...f, requestsPerCommit: (b.requests - a.requests) / Math.max(1, b.commits - a.commits) };
    };
    // Each generator its own range of times (1e9 ms apart), so that no two points collide.
    const http = await grouped(
      runPhase(
        split(opts.concurrency, opts.generators).map(
          (concurrency, g): LoadJob => ({
            kind: 'http-post',
            url: dataUrl,
            token: user.token,
            concurrency,
            seconds: opts.seconds,
            timeBase: 1_700_000_000_000 + g * 1e9,
          }),
        ),
      ),
    );

    // Make sure the stream holds more than 1 000 points (a slow ingest run may not have), older
    // than everything ingested, so that every read returns a full 1 000.
    const streamUrl = `${base}/users/${user.id}/resources/${res.id}/streams/${sid}/data`;
    const older = Array.from({ length: 1000 }, (_, i) => ({ value: i, time: 1_600_000_000_000 + i }));
    await ok(
      await fetch(streamUrl, { method: 'POST', headers: { ...json, ...auth }, body: JSON.stringify(older) }),
      'fill',
    );
    const readUrl = `${streamUrl}?limit=1000`;
    const check = (await ok(await fetch(readUrl, { headers: auth }), 'read')) as { points: unknown[] };
    const pointsInStream = check.points.length;
    if (pointsInStream !== 1000) throw new Error(`a read returned ${pointsInStream} points, not 1000`);
    const reads = await runPhase([
      {
        kind: 'http-get',
        url: readUrl,
        token: user.token,
        concurrency: Math.max(1, Math.floor(opts.concurrency / 4)),
        seconds: opts.seconds,
        timeBase: 0,
      },
    ]);

    // coaps://: each device its own resource, PSK identity and DTLS session.
    const coapsBase = `coaps://127.0.0.1:${platform.coap!.coaps!.port}`;
    const caller = { kind: 'user' as const, userId: user.id };
    const devices: CoapsDevice[] = await Promise.all(
      Array.from({ length: opts.devices }, async (_, i) => {
        const r = await platform.service.createResource(caller, user.id, { label: `device-${i}` });
        const key = randomBytes(16).toString('hex');
        await platform.service.addDeviceCredential(caller, user.id, r.resource.id, {
          mode: 'psk',
          pskIdentity: `bench-${i}`,
          pskKey: key,
        });
        return { identity: `bench-${i}`, key, url: `${coapsBase}/users/${user.id}/resources/${r.resource.id}/data` };
      }),
    );
    let offset = 0;
    const coaps = await grouped(
      runPhase(
        split(devices.length, opts.generators).map((n, g): LoadJob => {
          const mine = devices.slice(offset, offset + n);
          offset += n;
          return {
            kind: 'coaps-post',
            devices: mine,
            seconds: opts.seconds,
            outstanding: opts.outstanding,
            timeBase: 1_800_000_000_000 + g * 1e9,
          };
        }),
      ),
    );
    return { engine, http, reads, pointsInStream, coapsDevices: devices.length, coaps };
  } finally {
    await platform.close();
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
      `server in this process (pid ${process.pid}); load from ${o.generators} generator process(es); ${o.seconds} s per phase\n`,
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
  ];
  printTable(`HTTP ingest: POST …/resources/:rid/data, JSON with 10 values; ${o.concurrency} keep-alive connections`, [
    head,
    ...results.map((r) => row(r.engine, r.http)),
  ]);
  printTable(
    `CoAPs ingest: CoAP POST …/resources/:rid/data over DTLS (PSK, AES-128-CCM-8), same payloads; ${o.devices} devices, one session and ${o.outstanding} request(s) outstanding each`,
    [head, ...results.map((r) => row(r.engine, r.coaps))],
  );
  printTable(
    `HTTP reads: GET …/streams/:sid/data?limit=1000 (the newest 1 000 points); ${Math.max(1, Math.floor(o.concurrency / 4))} connections`,
    [
      ['engine', 'reads/s', 'p50 ms', 'p99 ms', 'errors', 'server CPU ms/1k reads'],
      ...results.map((r) => [
        r.engine,
        f0(r.reads.requestsPerSec),
        f1(r.reads.p50Ms),
        f1(r.reads.p99Ms),
        String(r.reads.errors),
        f0(r.reads.serverCpuPer1000),
      ]),
    ],
  );
  for (const r of results)
    for (const [name, p] of [
      ['HTTP', r.http],
      ['CoAPs', r.coaps],
      ['reads', r.reads],
    ] as const)
      if (p.firstError) process.stdout.write(`${r.engine} ${name}: first error: ${p.firstError}\n`);
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
      json: { type: 'boolean', default: false },
    },
  });
  const o: IngestOptions = {
    seconds: Number(values.seconds),
    concurrency: Number(values.concurrency),
    devices: Number(values.devices),
    outstanding: Number(values.outstanding),
    generators: Number(values.generators),
  };
  const positiveInt = (n: number) => Number.isInteger(n) && n >= 1;
  if (!(o.seconds > 0) || ![o.concurrency, o.devices, o.outstanding, o.generators].every(positiveInt)) {
    process.stderr.write(
      'usage: securesense bench ingest [--seconds S] [--concurrency N] [--devices N] [--outstanding N] [--generators N] [--pg URL] [--json]\n',
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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (pg) {
    const schema = `ss_bench_${process.pid}`;
    try {
      results.push(await benchEngine('postgres', pg, { ...o, pgSchema: schema }));
    } finally {
      await dropPostgresSchema(pg, schema);
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

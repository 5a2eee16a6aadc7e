/**
 * `npm run bench -- workers`: the platform (`securesense serve --workers N`) with 1 and 2 worker
 * processes in the same run: PSK full handshakes/s and CoAP CON GET/s over many DTLS PSK sessions
 * on its coaps:// port, from the C load generator (load-gen.ts; its many sockets spread over the
 * workers by the kernel's SO_REUSEPORT hash). Printed beside each rate: the server's CPU (all its
 * processes, in cores) and the generator's, since on a small machine they compete for the cores,
 * then a table of every process's CPU (the primary, each worker) and the time its threads waited
 * for a core (run-queue wait from /proc/PID/task/TID/schedstat, seconds per second).
 *
 * The request is GET /.well-known/core (2.05, the platform's resource directory); the device is
 * one PSK credential bound through the HTTP API; rate limits are raised out of the way; DTLS
 * sessions are kept in the store in both cases (a session key is set). A fresh SQLite store per
 * run in a temporary directory, and/or PostgreSQL (`--db sqlite,postgres://…`).
 *
 * `--write-batch 0,20` compares the session store written at every handshake (0, the behaviour
 * before batching) with batches every 20 ms (the default), in the same sitting; `--rounds R`
 * repeats the whole matrix R times, in turn (the rate printed is the median of the rounds, each
 * round's beside it), so that other load on the machine falls on every configuration alike.
 *
 * Options: --seconds S (default 4) --warmup S (default 1) --workers N[,N] (default 1,2)
 *          --c-hs N (handshakes in flight, default 16) --c-coap N (sessions, default 64)
 *          --db sqlite|PATH|URL[,…] (default sqlite: a temporary file) --write-batch MS[,MS] (default 20)
 *          --rounds R (default 1) --json
 *          --cpu-prof DIR (V8 CPU profiles of the server's processes, written into DIR at their exit)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stopChild } from './child.ts';
import { CLOCK_TICKS } from './load-cpu.ts';
import { buildLoadGen, type GenSpec } from './load-gen.ts';
import { measureWindow, type WindowResult } from './load-measure.ts';
import type { Running } from './load-targets.ts';

const BIN = fileURLToPath(new URL('../../bin/securesense.mjs', import.meta.url));
const SESSION_KEY = randomBytes(32).toString('hex');

interface Platform extends Running {
  http: string;
}

async function startPlatform(workers: number, db: string, writeBatch: number, cpuProfDir?: string): Promise<Platform> {
  const proc: ChildProcess = spawn(
    process.execPath,
    [
      // V8's profiler in every server process (the workers inherit the primary's node options).
      ...(cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : []),
      BIN,
      'serve',
      '--workers',
      String(workers),
      '--db',
      db,
      '--host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--coap-port',
      'off',
      '--coaps-port',
      '0',
      '--no-poller',
      '--log-level',
      'error',
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        SECURESENSE_RATE_LIMIT: '1000000',
        SECURESENSE_RATE_BURST: '10000000',
        // Sessions in the store for 1 worker too, so that both counts do the same work per handshake.
        SECURESENSE_SESSION_KEY: SESSION_KEY,
        SECURESENSE_SESSION_WRITE_BATCH: String(writeBatch),
      },
    },
  );
  const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the platform did not listen within 60 s')), 60_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      for (const l of out.split('\n')) {
        if (!l.includes('"event":"listening"')) continue;
        const j = JSON.parse(l) as Record<string, unknown>;
        // With workers the primary's line (it names how many) comes when all listen.
        if (workers > 1 && j.workers === undefined) continue;
        clearTimeout(timer);
        resolve(j);
      }
    });
    proc.once('exit', (code) => reject(new Error(`the platform exited (${code})`)));
  });
  const stop = () => stopChild(proc, 5000);
  return {
    target: 'ours',
    pid: proc.pid ?? 0,
    port: Number(new URL(String(line.coaps)).port),
    http: String(line.http),
    stop,
  };
}

async function post(url: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const j = (await res.json()) as Record<string, unknown>;
  if (res.status !== 201) throw new Error(`POST ${url}: ${res.status} ${JSON.stringify(j)}`);
  return j;
}

/** A user, a resource and a PSK device on the platform; the generator's credentials. */
async function pskDevice(base: string): Promise<{ identity: string; keyHex: string }> {
  // Names of their own: a PostgreSQL store keeps the rows of earlier runs.
  const name = `bench-${randomBytes(4).toString('hex')}`;
  const u = await post(`${base}/users`, { username: name, password: 'a good password' });
  const token = String(u.token);
  const r = await post(`${base}/users/${u.id}/resources`, { label: 'bench' }, token);
  const d = await post(`${base}/users/${u.id}/resources/${r.id}/devices`, { mode: 'psk', psk_identity: name }, token);
  return { identity: name, keyHex: String(d.psk_key) };
}

type Work = [string, number, Omit<GenSpec, 'port'>];

interface Row {
  store: string;
  writeBatch: number;
  workers: number;
  work: string;
  c: number;
  results: WindowResult[];
  /** Each process's name (primary, worker N) by pid, for the per-process table. */
  names: Map<number, string>;
}

/** "worker N" for a process started with SECURESENSE_WORKER=N/…, else "primary". */
function processName(pid: number): string {
  try {
    const m = /(?:^|\0)SECURESENSE_WORKER=(\d+)\//.exec(readFileSync(`/proc/${pid}/environ`, 'latin1'));
    return m ? `worker ${m[1]}` : 'primary';
  } catch {
    return `pid ${pid}`;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const list = (v: string | undefined, d: string) => (v ?? d).split(',').filter((x) => x !== '');

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      workers: { type: 'string' },
      'c-hs': { type: 'string' },
      'c-coap': { type: 'string' },
      db: { type: 'string' },
      'write-batch': { type: 'string' },
      rounds: { type: 'string' },
      resume: { type: 'boolean' },
      'cpu-prof': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const seconds = Number(values.seconds ?? 4);
  const warmupSeconds = Number(values.warmup ?? 1);
  const counts = list(values.workers, '1,2').map(Number);
  const cHs = Number(values['c-hs'] ?? 16);
  const cCoap = Number(values['c-coap'] ?? 64);
  const stores = list(values.db, 'sqlite');
  const batches = list(values['write-batch'], '20').map(Number);
  const rounds = Number(values.rounds ?? 1);
  const gen = buildLoadGen();
  const dir = mkdtempSync(join(tmpdir(), 'ss-bench-workers-'));
  const rows: Row[] = [];
  const storeName = (db: string) => (db.startsWith('postgres') ? 'PostgreSQL' : 'SQLite');
  let runNo = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const db of stores) {
        for (const writeBatch of batches) {
          for (const n of counts) {
            const file = db === 'sqlite' ? join(dir, `run${runNo++}.db`) : db;
            const p = await startPlatform(n, file, writeBatch, values['cpu-prof']);
            try {
              const psk = await pskDevice(p.http);
              const works: Work[] = [
                ['PSK full handshakes/s', cHs, { kind: 'hs', sec: 'psk', conns: cHs, psk }],
                ...(values.resume
                  ? [['PSK resumptions/s', cHs, { kind: 'hs', sec: 'psk', conns: cHs, psk, resume: true }] as Work]
                  : []),
                [
                  'CoAPs CON GET/s, many sessions',
                  cCoap,
                  { kind: 'coap', sec: 'psk', conns: cCoap, depth: 1, psk, path: '.well-known/core' },
                ],
              ];
              for (const [work, c, spec] of works) {
                const result = await measureWindow(gen, p, spec, { seconds, warmupSeconds, procs: 1 });
                const store = storeName(db);
                let row = rows.find(
                  (r) => r.store === store && r.writeBatch === writeBatch && r.workers === n && r.work === work,
                );
                if (!row) {
                  row = { store, writeBatch, workers: n, work, c, results: [], names: new Map() };
                  rows.push(row);
                }
                row.results.push(result);
                for (const s of result.serverProcesses) row.names.set(s.pid, processName(s.pid));
                process.stderr.write(
                  `round ${round + 1}, ${store}, write batch ${writeBatch} ms, workers ${n}, ${work}: ${result.rate.toFixed(0)}/s\n`,
                );
              }
            } finally {
              await p.stop();
            }
          }
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rate = (r: Row) => median(r.results.map((x) => x.rate));
  const base = (r: Row) =>
    rows.find(
      (x) => x.store === r.store && x.writeBatch === r.writeBatch && x.work === r.work && x.workers === counts[0],
    );
  const f2 = (v: number) => v.toFixed(2);
  const out = (l: string) => process.stdout.write(`${l}\n`);
  out(
    `${rounds} round(s) of ${seconds} s windows; CPU in cores (1.00 = one core busy for the whole window), clock ticks of ${1000 / CLOCK_TICKS} ms.\n`,
  );
  out(
    '| store | write batch | work | c | workers | rate | each round | vs 1 worker | server CPU | generator CPU | p50 ms | errors |',
  );
  out('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const b = base(r);
    const m = (f: (w: WindowResult) => number) => median(r.results.map(f));
    out(
      `| ${r.store} | ${r.writeBatch} ms | ${r.work} | ${r.c} | ${r.workers} | ${rate(r).toFixed(0)} | ${r.results.map((x) => x.rate.toFixed(0)).join(' / ')} | ${b ? `${(rate(r) / rate(b)).toFixed(2)}×` : '—'} | ${f2(m((w) => w.serverCpu))} | ${f2(m((w) => w.genCpu))} | ${m((w) => w.p50Ms ?? Number.NaN).toFixed(2)} | ${r.results.reduce((s, x) => s + x.errors, 0)} |`,
    );
  }
  out(
    '\nEach process over the window (median of the rounds): CPU in cores, run-queue wait (summed over its threads) in s/s.\n',
  );
  out('| store | write batch | work | workers | process | CPU | run-queue wait |');
  out('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const byName = new Map<string, { cpu: number[]; rq: number[] }>();
    for (const res of r.results)
      for (const s of res.serverProcesses) {
        // With 1 worker, serve does not fork: its one process does the work.
        const named = r.names.get(s.pid) ?? `pid ${s.pid}`;
        const name = r.workers === 1 && named === 'primary' ? 'server (one process)' : named;
        const e = byName.get(name) ?? { cpu: [], rq: [] };
        e.cpu.push(s.cpu);
        if (s.runQueue !== undefined) e.rq.push(s.runQueue);
        byName.set(name, e);
      }
    const names = [...byName.keys()].sort();
    for (const name of names) {
      const e = byName.get(name);
      if (!e) continue;
      out(
        `| ${r.store} | ${r.writeBatch} ms | ${r.work} | ${r.workers} | ${name} | ${f2(median(e.cpu))} | ${e.rq.length ? f2(median(e.rq)) : '—'} |`,
      );
    }
    out(
      `| ${r.store} | ${r.writeBatch} ms | ${r.work} | ${r.workers} | generator | ${f2(median(r.results.map((x) => x.genCpu)))} | — |`,
    );
  }
  if (values.json) out(JSON.stringify(rows.map((r) => ({ ...r, names: Object.fromEntries(r.names), rate: rate(r) }))));
  return 0;
}

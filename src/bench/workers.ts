/**
 * `npm run bench -- workers`: the platform (`securesense serve --workers N`) with 1 and 2 worker
 * processes in the same run: PSK full handshakes/s and CoAP CON GET/s over many DTLS PSK sessions
 * on its coaps:// port, from the C load generator (load-gen.ts; its many sockets spread over the
 * workers by the kernel's SO_REUSEPORT hash). Printed beside each rate: the server's CPU (all its
 * processes, in cores) and the generator's, since on a small machine they compete for the cores.
 *
 * The request is GET /.well-known/core (2.05, the platform's resource directory); the device is one PSK credential bound through the HTTP API; rate limits are raised out
 * of the way; DTLS sessions are kept in the store in both cases (a session key is set). A fresh
 * SQLite store per worker count in a temporary directory, or `--db postgres://…`.
 *
 * Options: --seconds S (default 4) --warmup S (default 1) --workers N[,N] (default 1,2)
 *          --c-hs N (handshakes in flight, default 16) --c-coap N (sessions, default 64)
 *          --db URL|PATH (default: a temporary SQLite file) --json
 *          --cpu-prof DIR (V8 CPU profiles of the server's processes, written into DIR at their exit)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stopChild } from './child.ts';
import { buildLoadGen, type GenSpec } from './load-gen.ts';
import { measureWindow, type WindowResult } from './load-measure.ts';
import type { Running } from './load-targets.ts';

const BIN = fileURLToPath(new URL('../../bin/securesense.mjs', import.meta.url));
const SESSION_KEY = randomBytes(32).toString('hex');

interface Platform extends Running {
  http: string;
}

async function startPlatform(workers: number, db: string, cpuProfDir?: string): Promise<Platform> {
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

interface Row {
  workers: number;
  work: string;
  c: number;
  result: WindowResult;
}

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
      'cpu-prof': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const seconds = Number(values.seconds ?? 4);
  const warmupSeconds = Number(values.warmup ?? 1);
  const counts = (values.workers ?? '1,2').split(',').map(Number);
  const cHs = Number(values['c-hs'] ?? 16);
  const cCoap = Number(values['c-coap'] ?? 64);
  const gen = buildLoadGen();
  const dir = mkdtempSync(join(tmpdir(), 'ss-bench-workers-'));
  const rows: Row[] = [];
  try {
    for (const n of counts) {
      const p = await startPlatform(n, values.db ?? join(dir, `w${n}.db`), values['cpu-prof']);
      try {
        const psk = await pskDevice(p.http);
        const works: [string, number, Omit<GenSpec, 'port'>][] = [
          ['PSK full handshakes/s', cHs, { kind: 'hs', sec: 'psk', conns: cHs, psk }],
          [
            'CoAPs CON GET/s, many sessions',
            cCoap,
            { kind: 'coap', sec: 'psk', conns: cCoap, depth: 1, psk, path: '.well-known/core' },
          ],
        ];
        for (const [work, c, spec] of works) {
          const result = await measureWindow(gen, p, spec, { seconds, warmupSeconds, procs: 1 });
          rows.push({ workers: n, work, c, result });
          process.stderr.write(`workers ${n}, ${work}: ${result.rate.toFixed(0)}/s\n`);
        }
      } finally {
        await p.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const base = (r: Row) => rows.find((x) => x.work === r.work && x.workers === counts[0])?.result.rate;
  process.stdout.write(
    '| work | c | workers | rate | vs first | server CPU (cores) | generator CPU (cores) | p50 ms | errors |\n|---|---|---|---|---|---|---|---|---|\n',
  );
  for (const r of rows) {
    const b = base(r);
    process.stdout.write(
      `| ${r.work} | ${r.c} | ${r.workers} | ${r.result.rate.toFixed(0)} | ${b ? (r.result.rate / b).toFixed(2) : '—'} | ${r.result.serverCpu.toFixed(2)} | ${r.result.genCpu.toFixed(2)} | ${r.result.p50Ms?.toFixed(2) ?? '—'} | ${r.result.errors} |\n`,
    );
  }
  if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  return 0;
}

/**
 * `npm run bench -- dtls-cpu`: DTLS work per **server CPU-second**, the figure that does not depend
 * on how fast the client is. The server runs in its own process; its user + system CPU is read
 * from `/proc/<pid>/stat` at the start and end of each measured window, and the work done in the
 * window (handshakes or record round trips) is divided by it.
 *
 *   - `full`: PSK full handshakes (cookie exchange included), `--concurrency` client endpoints
 *     each connecting, sending close_notify, connecting again;
 *   - `resumed`: the same with a session to resume (abbreviated handshakes);
 *   - `records`: one established PSK session, `--window` application_data records outstanding,
 *     each echoed by the server (ours echoes the record; libcoap answers it as a CoAP request).
 *
 * Servers: ours (a child process running DtlsServer with an echo handler) and, with `--peer`,
 * `coap-server-gnutls -k` (libcoap's PSK server) in the same run, alternating, printed with
 * ours ÷ peer. `--profile DIR` runs our server with `--cpu-prof` into DIR; `--external PORT,PID`
 * measures a server started by hand instead (`node --import tsx src/bench/dtls-cpu.ts
 * --dtls-cpu-server`, e.g. under `perf record`).
 *
 * Options: --seconds S (default 3) --concurrency N (default 8) --window N (default 32)
 *          --modes full,resumed,records --rounds N (default 1) --peer --profile DIR --external PORT,PID
 *          --count (our server counts native crypto objects, UDP sends, promises and timers over the
 *          window and the table gets them per unit of work; the counting slows it, so its rate is not
 *          comparable with a run without --count); --count-sites: the same, Buffers also by call site
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DtlsEndpoint } from '../dtls/endpoint.ts';
import type { ClientConfig } from '../dtls/handshake/client.ts';
import { DtlsServer } from '../dtls/index.ts';
import { closeClients, handshakeUntil, openClients } from './handshakes.ts';
import { installOpCounters, type OpCounts } from './op-counts.ts';

const SERVER_FLAG = '--dtls-cpu-server';
const IDENTITY = 'bench';
/** Printable, because libcoap takes its PSK as a command-line string. */
const KEY_TEXT = 'securesense-psk!';
const KEY = Buffer.from(KEY_TEXT, 'utf8');
const CLIENT: ClientConfig = { psk: { identity: IDENTITY, key: KEY } };
/** A CoAP CON GET with a 2-byte token (libcoap answers it; ours echoes it). */
const PAYLOAD = Buffer.from([0x42, 0x01, 0x00, 0x01, 0xab, 0xcd]);
const TICKS_PER_SECOND = 100;
/** Set in our server's environment by --count. */
const COUNT_ENV = 'SECURESENSE_BENCH_COUNT';
/** Sent to our server under --count: print the counts so far (one JSON line) and start again. */
const COUNT_SIGNAL = 'SIGUSR2';

/** --count: operations per unit of work; 'sites': Buffers also by call site. */
type Count = boolean | 'sites';

type BenchMode = 'full' | 'resumed' | 'records';
type Target = 'ours' | 'coap-server-gnutls' | 'coap-server-openssl';

/** The libcoap server each mode is compared with: GnuTLS's does not resume sessions, OpenSSL's does. */
const PEER: Record<BenchMode, Target> = {
  full: 'coap-server-gnutls',
  resumed: 'coap-server-openssl',
  records: 'coap-server-gnutls',
};

interface Measured {
  work: number;
  seconds: number;
  cpu: number;
  /** Operations in our server over the window (--count). */
  counts?: OpCounts;
}

/** The server's user + system CPU seconds so far (fields 14 and 15 of /proc/PID/stat). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** Runs in the child: our server, echoing every application record; prints its port. */
async function serverMain(): Promise<void> {
  const mode = process.env[COUNT_ENV];
  const readCounts = mode === '1' || mode === 'sites' ? installOpCounters(mode === 'sites') : undefined;
  const server = await DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === IDENTITY ? KEY : undefined),
    maxHandshakes: 100_000,
    maxSessions: 1_000_000,
    idleTimeoutMs: 0,
  });
  server.on('connection', (c) => c.on('data', (d: Buffer) => c.send(d)));
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  if (readCounts) process.on(COUNT_SIGNAL, () => process.stdout.write(`${JSON.stringify(readCounts())}\n`));
  process.on('SIGTERM', () => {
    void server.close().then(() => process.exit(0));
  });
}

interface Running {
  proc: ChildProcess;
  port: number;
  /** Our server under --count: the counts since the previous call. */
  counts?: () => Promise<OpCounts>;
}

async function startOurs(profileDir: string | undefined, count: Count): Promise<Running> {
  const self = fileURLToPath(import.meta.url);
  const flags = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const proc = spawn(process.execPath, [...flags, '--import', 'tsx', self, SERVER_FLAG], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: count ? { ...process.env, [COUNT_ENV]: count === 'sites' ? 'sites' : '1' } : process.env,
  });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  const { port } = JSON.parse(first.value as string) as { port: number };
  if (!count) return { proc, port };
  const counts = async () => {
    proc.kill(COUNT_SIGNAL);
    const line = await lines.next();
    return JSON.parse(line.value as string) as OpCounts;
  };
  return { proc, port, counts };
}

let peerPort = 25684;

async function startPeer(binary: Target): Promise<Running> {
  const port = peerPort++;
  const proc = spawn(binary, ['-A', '127.0.0.1', '-p', String(port - 1000), '-k', KEY_TEXT, '-v', '0'], {
    stdio: 'ignore',
  });
  // libcoap listens for DTLS on its port + 1 (5683 → 5684); give it a moment to bind.
  await new Promise((r) => setTimeout(r, 300));
  return { proc, port: port - 999 };
}

async function stop(r: Running): Promise<void> {
  if (r.proc.exitCode !== null) return;
  const exited = new Promise((res) => r.proc.once('exit', res));
  r.proc.kill('SIGTERM');
  const t = setTimeout(() => r.proc.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

async function measureHandshakes(r: Running, seconds: number, concurrency: number, resume: boolean): Promise<Measured> {
  const clients = await openClients(r.port, concurrency, CLIENT);
  await r.counts?.();
  const pid = r.proc.pid!;
  const cpu0 = cpuSeconds(pid);
  const t0 = process.hrtime.bigint();
  const work = await handshakeUntil(clients, resume, Date.now() + seconds * 1000);
  const cpu = cpuSeconds(pid) - cpu0;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const counts = await r.counts?.();
  await closeClients(clients);
  return { work, seconds: elapsed, cpu, counts };
}

async function measureRecords(r: Running, seconds: number, window: number): Promise<Measured> {
  const remote = { address: '127.0.0.1', port: r.port, family: 'IPv4' as const };
  const ep = await DtlsEndpoint.open({});
  const a = await ep.connect(remote, CLIENT);
  let work = 0;
  await r.counts?.();
  let stopAt = Number.POSITIVE_INFINITY;
  let outstanding = 0;
  let done: () => void = () => {};
  const finished = new Promise<void>((res) => {
    done = res;
  });
  const sendOne = () => {
    outstanding++;
    a.send(PAYLOAD);
  };
  a.on('data', () => {
    outstanding--;
    work++;
    if (Date.now() < stopAt) sendOne();
    else if (outstanding === 0) done();
  });
  // A lost datagram must not shrink the window for good: top it up now and then.
  const refill = setInterval(() => {
    while (Date.now() < stopAt && outstanding < window) sendOne();
  }, 50);
  const pid = r.proc.pid!;
  const cpu0 = cpuSeconds(pid);
  const t0 = process.hrtime.bigint();
  stopAt = Date.now() + seconds * 1000;
  for (let i = 0; i < window; i++) sendOne();
  await Promise.race([finished, new Promise((res) => setTimeout(res, seconds * 1000 + 1000))]);
  clearInterval(refill);
  const cpu = cpuSeconds(pid) - cpu0;
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const counts = await r.counts?.();
  await a.close();
  await ep.close();
  return { work, seconds: elapsed, cpu, counts };
}

async function measure(target: Target, mode: BenchMode, o: Options): Promise<Measured> {
  if (target === 'ours' && o.external) {
    const proc = { pid: o.external.pid, exitCode: 0 } as ChildProcess;
    const r = { proc, port: o.external.port };
    if (mode === 'records') return measureRecords(r, o.seconds, o.window);
    return measureHandshakes(r, o.seconds, o.concurrency, mode === 'resumed');
  }
  const r = target === 'ours' ? await startOurs(o.profile, o.count) : await startPeer(target);
  try {
    if (mode === 'records') return await measureRecords(r, o.seconds, o.window);
    return await measureHandshakes(r, o.seconds, o.concurrency, mode === 'resumed');
  } finally {
    await stop(r);
  }
}

interface Options {
  seconds: number;
  concurrency: number;
  window: number;
  profile?: string;
  count: Count;
  /** Our server started elsewhere (e.g. under `perf record`): its port and process id. */
  external?: { port: number; pid: number };
}

/** Counts per unit of work, largest first: `  per handshake: createCipheriv 2.0, …`. */
function perWork(counts: OpCounts, work: number): string {
  const items = Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${(n / Math.max(1, work)).toFixed(2)}`);
  return `           per unit of work: ${items.join(', ')}`;
}

const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(0).padStart(8) : '       –');

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '8' },
      window: { type: 'string', default: '32' },
      modes: { type: 'string', default: 'full,resumed,records' },
      rounds: { type: 'string', default: '1' },
      peer: { type: 'boolean', default: false },
      profile: { type: 'string' },
      external: { type: 'string' },
      count: { type: 'boolean', default: false },
      'count-sites': { type: 'boolean', default: false },
    },
  });
  const o: Options = {
    seconds: Number(values.seconds),
    concurrency: Number(values.concurrency),
    window: Number(values.window),
    profile: values.profile,
    count: values['count-sites'] ? 'sites' : values.count,
    external: values.external
      ? { port: Number(values.external.split(',')[0]), pid: Number(values.external.split(',')[1]) }
      : undefined,
  };
  const modes = values.modes.split(',') as BenchMode[];
  process.stdout.write('mode       target               work/s   server CPU-s   work/CPU-s   ours÷peer\n');
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const mode of modes) {
      const perCpu: Partial<Record<Target, number>> = {};
      const targets: Target[] = values.peer ? ['ours', PEER[mode]] : ['ours'];
      for (const target of targets) {
        const m = await measure(target, mode, o);
        perCpu[target] = m.work / m.cpu;
        const ratio =
          target !== 'ours' && perCpu.ours !== undefined ? (perCpu.ours / perCpu[target]!).toFixed(2).padStart(9) : '';
        process.stdout.write(
          `${mode.padEnd(10)} ${target.padEnd(18)} ${fmt(m.work / m.seconds)} ${m.cpu.toFixed(2).padStart(14)} ${fmt(perCpu[target]!).padStart(12)}   ${ratio}\n`,
        );
        if (m.counts) process.stdout.write(`${perWork(m.counts, m.work)}\n`);
      }
    }
  }
  return 0;
}

if (process.argv.includes(SERVER_FLAG)) await serverMain();

/**
 * `npm run bench -- coap`: confirmable GETs per **server CPU-second**, our server against libcoap and
 * the `coap` npm package in the same run.
 *
 * Every server runs in its own process; its CPU time (utime + stime from `/proc/PID/stat`) is read
 * at the start and end of the measured window, so the figure is the work the server does per
 * CPU-second, whether or not the load generator keeps it busy all the time. Rows:
 * - plain UDP: a raw load generator in this process — pre-encoded CON GET /time datagrams from many
 *   sockets (each below 65 536 Message IDs per run, so that the servers' deduplication never
 *   answers from its cache), `concurrency` outstanding in all, a lost one replaced after 2 s.
 *   Targets: our demo server as the CLI runs it (`securesense coap serve`, which prints a JSON line
 *   per request) and as a library without that output, coap-server-notls, coap-server-gnutls and the
 *   coap npm server;
 * - coaps:// PSK over one established DTLS session: our CoapClient with NSTART = concurrency,
 *   against our server (CLI and library) and coap-server-gnutls.
 * The last column divides each row's work per CPU-second by libcoap's on the same transport
 * (coap-server-notls for UDP, coap-server-gnutls for coaps): for our rows that is "ours ÷ libcoap".
 *
 * Options: --seconds S (default 5) --concurrency N (default 64) --sockets N (default 32, UDP)
 *          --rounds N (default 1: each round runs every target once, alternating ours and peers)
 *          --only NAME[,NAME]
 *
 * Run as a program with `--serve PORT [DTLS_PORT]`, this module is the library server of the rows
 * "securesense (library)": the demo resources with no per-request output.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CoapClient } from '../coap/client.ts';
import { encodeMessage } from '../coap/message.ts';
import { Code, OptionNumber } from '../coap/options.ts';
import { type CoapUri, parseCoapUri } from '../coap/uri.ts';
import { hasBinary, stopChild } from './child.ts';

interface Target {
  name: string;
  transport: 'udp' | 'coaps-psk';
  /** Starts the server; returns the URI of a small resource, its process and a stopper. */
  start(): Promise<{ uri: string; pid: number; stop: () => Promise<void> }>;
  needs?: string;
}

interface LoadResult {
  requests: number;
  errors: number;
  lost: number;
  elapsed: number;
  /** Server CPU seconds over the window. */
  cpu: number;
  /** Latencies of the counted requests, ms. */
  latencies: Float64Array;
  rssStartKB: number;
  rssEndKB: number;
  note?: string;
}

export interface Result {
  round: number;
  name: string;
  transport: string;
  requests: number;
  seconds: number;
  perSecond: number;
  cpu: number;
  perCpuSecond: number;
  p50: number;
  p99: number;
  errors: number;
  lost: number;
  rssStartKB: number;
  rssEndKB: number;
  note?: string;
}

const PSK_IDENTITY = 'bench';
const PSK_KEY = 'bench-psk-key-0123';
const SELF = fileURLToPath(import.meta.url);
const BIN = fileURLToPath(new URL('../../bin/securesense.mjs', import.meta.url));

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Clock ticks per second of /proc/PID/stat's utime and stime. */
const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const n = Number(r.stdout?.trim());
  return n > 0 ? n : 100;
})();

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  // The command name may hold spaces or parentheses: fields are counted after its closing ')'.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

function rssKB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

function spawnServer(cmd: string, args: string[]): { proc: ChildProcess; stop: () => Promise<void> } {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const stop = () => stopChild(proc, 2000);
  proc.once('exit', (code) => {
    if (code && code !== 143) process.stderr.write(`bench: ${cmd} exited ${code}: ${stderr}\n`);
  });
  return { proc, stop };
}

/** Waits for a server to answer a GET on plain UDP. */
async function waitReady(uri: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const c = new CoapClient({
      params: { ackTimeout: 200, maxRetransmit: 1 },
    });
    try {
      const r = await c.get(uri);
      if (r.ok) return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await c.close();
    }
  }
  throw new Error(`server at ${uri} did not answer`);
}

/**
 * A server in its own process, started on a free port and ready once `GET coap://…:port/time`
 * answers (every server here serves /time on plain UDP, the coaps ones as well). `coapsPort` says
 * where its coaps:// listens, for the coaps-psk targets.
 */
function processTarget(
  name: string,
  transport: Target['transport'],
  command: { cmd: string; needs?: string; args: (port: number, dtlsPort: number) => string[] },
  coapsPort?: (port: number, dtlsPort: number) => number,
): Target {
  return {
    name,
    transport,
    needs: command.needs,
    async start() {
      const port = await freePort();
      const dtlsPort = transport === 'coaps-psk' ? await freePort() : 0;
      const s = spawnServer(command.cmd, command.args(port, dtlsPort));
      try {
        await waitReady(`coap://127.0.0.1:${port}/time`);
      } catch (err) {
        await s.stop();
        throw err;
      }
      const uri =
        transport === 'coaps-psk' && coapsPort
          ? `coaps://127.0.0.1:${coapsPort(port, dtlsPort)}/time`
          : `coap://127.0.0.1:${port}/time`;
      return { uri, pid: s.proc.pid ?? 0, stop: s.stop };
    },
  };
}

const pskArgs = () => ['--psk', `${PSK_IDENTITY}:${Buffer.from(PSK_KEY).toString('hex')}`];
const oursCli = (extra: (port: number, dtlsPort: number) => string[]) => ({
  cmd: process.execPath,
  args: (port: number, dtlsPort: number) => [
    BIN,
    'coap',
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    ...extra(port, dtlsPort),
  ],
});
/** This module run as the library server, through the same TypeScript loader as the CLI. */
const oursLibrary = (secure: boolean) => ({
  cmd: process.execPath,
  args: (port: number, dtlsPort: number) => [
    '--import',
    import.meta.resolve('tsx'),
    SELF,
    '--serve',
    String(port),
    ...(secure ? [String(dtlsPort)] : []),
  ],
});
const libcoap = (cmd: string, extra: string[] = []) => ({
  cmd,
  needs: cmd,
  args: (port: number) => ['-A', '127.0.0.1', '-p', String(port), ...extra, '-v', '0'],
});

// The npm package's server in its own node process, answering like the others: a short text.
const npmCoapServer = (port: number) => `const coap = require('coap');
        const s = coap.createServer((req, res) => { res.setOption('Content-Format', 'text/plain'); res.end(new Date().toISOString()); });
        s.listen(${port}, '127.0.0.1');`;

const CLI = 'securesense (CLI)';
const LIBRARY = 'securesense (library)';
const TARGETS: Target[] = [
  processTarget(
    CLI,
    'udp',
    oursCli(() => []),
  ),
  processTarget('libcoap coap-server-notls', 'udp', libcoap('coap-server-notls')),
  processTarget(LIBRARY, 'udp', oursLibrary(false)),
  processTarget('libcoap coap-server-gnutls', 'udp', libcoap('coap-server-gnutls')),
  processTarget('coap (npm) server', 'udp', { cmd: process.execPath, args: (port) => ['-e', npmCoapServer(port)] }),
  processTarget(
    CLI,
    'coaps-psk',
    oursCli((_, dtlsPort) => ['--dtls-port', String(dtlsPort), ...pskArgs()]),
    (_, dtlsPort) => dtlsPort,
  ),
  // libcoap serves coaps:// on the port after its coap:// one.
  processTarget(
    'libcoap coap-server-gnutls',
    'coaps-psk',
    libcoap('coap-server-gnutls', ['-k', PSK_KEY]),
    (port) => port + 1,
  ),
  processTarget(LIBRARY, 'coaps-psk', oursLibrary(true), (_, dtlsPort) => dtlsPort),
];

/** Fails the bench if a socket would reuse a Message ID (the server would answer from its dedup cache). */
const MAX_PER_SOCKET = 65_000;

/**
 * Raw plain-UDP load: `sockets` endpoints keep `concurrency` CON GET /time outstanding in all;
 * each answer (matched by Message ID) triggers the next request on its socket. A request without
 * answer after 2 s (ACK_TIMEOUT) is counted lost and replaced, so that the load does not stall.
 */
async function rawLoad(
  uri: CoapUri,
  seconds: number,
  concurrency: number,
  sockets: number,
  pid: number,
): Promise<LoadResult> {
  // CON GET with a 2-byte token and the URI's path: a template whose Message ID and token are set per request.
  const template = encodeMessage({
    type: 'CON',
    code: Code.GET,
    messageId: 0,
    token: Buffer.alloc(2),
    options: uri.path.map((seg) => ({ number: OptionNumber.UriPath, value: Buffer.from(seg) })),
    payload: Buffer.alloc(0),
  });
  const host = uri.host;
  const port = uri.port;
  const latencies: number[] = [];
  let counting = false;
  let requests = 0;
  let errors = 0;
  let lost = 0;
  let exhausted = false;
  const lanes: Array<{ socket: Socket; timer: NodeJS.Timeout }> = [];
  const n = Math.max(1, Math.min(sockets, concurrency));
  for (let i = 0; i < n; i++) {
    const socket = createSocket('udp4');
    const pending = new Map<number, number>();
    let mid = Math.floor(Math.random() * 0x10000);
    let sent = 0;
    const fire = () => {
      if (sent >= MAX_PER_SOCKET) {
        exhausted = true;
        return;
      }
      sent++;
      mid = (mid + 1) & 0xffff;
      // A fresh datagram per request, as a real client sends.
      const d = Buffer.from(template);
      d[2] = mid >> 8;
      d[3] = mid & 0xff;
      d[4] = i & 0xff;
      d[5] = mid & 0xff;
      pending.set(mid, performance.now());
      socket.send(d, port, host);
    };
    socket.on('message', (m: Buffer) => {
      if (m.length < 4) return;
      const id = (m[2] << 8) | m[3];
      const at = pending.get(id);
      if (at === undefined) return;
      pending.delete(id);
      if (counting) {
        if (m[1] === 69) {
          requests++;
          if (latencies.length < 2_000_000) latencies.push(performance.now() - at);
        } else errors++;
      }
      fire();
    });
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    const timer = setInterval(() => {
      const old = performance.now() - 2000;
      for (const [id, at] of pending) {
        if (at > old) continue;
        pending.delete(id);
        if (counting) lost++;
        fire();
      }
    }, 250);
    lanes.push({ socket, timer });
    const share = Math.floor(concurrency / n) + (i < concurrency % n ? 1 : 0);
    for (let k = 0; k < share; k++) fire();
  }
  try {
    await new Promise((r) => setTimeout(r, 1000));
    counting = true;
    const cpu0 = cpuSeconds(pid);
    const rssStartKB = rssKB(pid);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const cpu = cpuSeconds(pid) - cpu0;
    const elapsed = (performance.now() - t0) / 1000;
    counting = false;
    return {
      requests,
      errors,
      lost,
      elapsed,
      cpu,
      latencies: Float64Array.from(latencies),
      rssStartKB,
      rssEndKB: rssKB(pid),
      note: exhausted ? `a socket ran out of Message IDs: use more --sockets` : undefined,
    };
  } finally {
    for (const l of lanes) {
      clearInterval(l.timer);
      l.socket.close();
    }
  }
}

/**
 * coaps:// load over one established DTLS session: our client keeps `concurrency` confirmable GETs
 * outstanding (NSTART = concurrency).
 */
async function sessionLoad(uri: CoapUri, seconds: number, concurrency: number, pid: number): Promise<LoadResult> {
  const client = new CoapClient({
    params: { nstart: concurrency, ackTimeout: 2000 },
    security: { psk: { identity: PSK_IDENTITY, key: Buffer.from(PSK_KEY) } },
  });
  try {
    // Establish the session (and warm up) before the clock starts: the figure is per established session.
    await client.get(uri);
    const latencies: number[] = [];
    const acc = { requests: 0, errors: 0 };
    const worker = async (until: number, count: boolean) => {
      while (Date.now() < until) {
        const at = performance.now();
        try {
          const r = await client.get(uri);
          if (count) {
            if (r.ok) {
              acc.requests++;
              if (latencies.length < 2_000_000) latencies.push(performance.now() - at);
            } else acc.errors++;
          }
        } catch {
          if (count) acc.errors++;
        }
      }
    };
    const workers = (until: number, count: boolean) =>
      Promise.all(Array.from({ length: concurrency }, () => worker(until, count)));
    await workers(Date.now() + 1000, false);
    const cpu0 = cpuSeconds(pid);
    const rssStartKB = rssKB(pid);
    const t0 = performance.now();
    await workers(Date.now() + seconds * 1000, true);
    const cpu = cpuSeconds(pid) - cpu0;
    return {
      ...acc,
      lost: 0,
      elapsed: (performance.now() - t0) / 1000,
      cpu,
      latencies: Float64Array.from(latencies),
      rssStartKB,
      rssEndKB: rssKB(pid),
    };
  } finally {
    await client.close();
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

export interface MeasureOptions {
  seconds: number;
  concurrency: number;
  sockets: number;
  rounds: number;
  /** Substrings of target names or transports to run; all when absent. */
  only?: string[];
}

/** Runs every (selected) target `rounds` times in turn and returns a row for each run. */
export async function measure(o: MeasureOptions): Promise<Result[]> {
  const { seconds, concurrency, sockets, rounds, only } = o;
  const results: Result[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const target of TARGETS) {
      if (only && !only.some((x) => target.name.toLowerCase().includes(x) || target.transport.includes(x))) continue;
      // A row that did not run says why, in place of its figures.
      const base = { round, name: target.name, transport: target.transport };
      const notRun = (note: string): Result => ({
        ...base,
        requests: 0,
        seconds: 0,
        perSecond: 0,
        cpu: 0,
        perCpuSecond: 0,
        p50: 0,
        p99: 0,
        errors: 0,
        lost: 0,
        rssStartKB: 0,
        rssEndKB: 0,
        note,
      });
      if (target.needs && !hasBinary(target.needs)) {
        results.push(notRun(`${target.needs} not installed`));
        continue;
      }
      let stop: (() => Promise<void>) | undefined;
      try {
        const started = await target.start();
        stop = started.stop;
        const uri = parseCoapUri(started.uri);
        const r =
          target.transport === 'udp'
            ? await rawLoad(uri, seconds, concurrency, sockets, started.pid)
            : await sessionLoad(uri, seconds, concurrency, started.pid);
        const sorted = r.latencies.sort();
        results.push({
          ...base,
          requests: r.requests,
          seconds: r.elapsed,
          perSecond: r.requests / r.elapsed,
          cpu: r.cpu,
          perCpuSecond: r.cpu > 0 ? r.requests / r.cpu : 0,
          p50: percentile(sorted, 0.5),
          p99: percentile(sorted, 0.99),
          errors: r.errors,
          lost: r.lost,
          rssStartKB: r.rssStartKB,
          rssEndKB: r.rssEndKB,
          note: r.note,
        });
      } catch (err) {
        results.push(notRun((err as Error).message));
      } finally {
        await stop?.();
      }
    }
  }
  return results;
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '64' },
      sockets: { type: 'string', default: '32' },
      rounds: { type: 'string', default: '1' },
      only: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const sockets = Number(values.sockets);
  const rounds = Number(values.rounds);
  if (!(seconds > 0) || !(concurrency >= 1) || !(sockets >= 1) || !(rounds >= 1))
    throw new Error('--seconds, --concurrency, --sockets and --rounds must be positive');
  const only = values.only?.split(',').map((s) => s.trim().toLowerCase());
  process.stdout.write(
    `CoAP confirmable GET /time, ${concurrency} outstanding, ${seconds} s per server; UDP: raw load from ${sockets} sockets, coaps: securesense CoapClient over one PSK session; work per server CPU-second from /proc\n`,
  );
  const results = await measure({ seconds, concurrency, sockets, rounds, only });
  const reference = (r: Result) =>
    results.find(
      (x) =>
        x.round === r.round &&
        x.transport === r.transport &&
        x.name === (r.transport === 'udp' ? 'libcoap coap-server-notls' : 'libcoap coap-server-gnutls'),
    )?.perCpuSecond ?? 0;
  const rows = results.map((r) => {
    const ref = reference(r);
    const ratio = r.perCpuSecond > 0 && ref > 0 ? (r.perCpuSecond / ref).toFixed(2) : '-';
    const fig = (v: number, digits = 0) => (r.perSecond > 0 ? v.toFixed(digits) : '-');
    return [
      String(r.round),
      r.transport,
      r.name,
      fig(r.perSecond),
      fig(r.p50, 2),
      fig(r.p99, 2),
      fig(r.cpu, 2),
      fig(r.perCpuSecond),
      r.perSecond > 0 ? `${Math.round(r.rssStartKB / 1024)}→${Math.round(r.rssEndKB / 1024)}` : '-',
      String(r.errors + r.lost),
      ratio,
      r.note ?? '',
    ];
  });
  const header = [
    'round',
    'transport',
    'server',
    'GET/s',
    'p50 ms',
    'p99 ms',
    'server CPU s',
    'GET/CPU-s',
    'RSS MB',
    'errors+lost',
    '÷ libcoap',
    'note',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |\n`;
  process.stdout.write(line(header));
  process.stdout.write(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`);
  for (const row of rows) process.stdout.write(line(row));
  process.stdout.write(
    `${JSON.stringify({ event: 'bench', bench: 'coap', seconds, concurrency, sockets, rounds, results })}\n`,
  );
  return 0;
}

/** The library server of the "securesense (library)" rows: `--serve PORT [DTLS_PORT]`. */
async function serve(port: number, dtlsPort: number | undefined): Promise<void> {
  const { createDemoServer } = await import('../coap/demo.ts');
  const { UdpTransport } = await import('../coap/transport-udp.ts');
  const demo = createDemoServer();
  demo.server.listen(await UdpTransport.bind({ host: '127.0.0.1', port }));
  if (dtlsPort !== undefined) {
    const { DtlsServerTransport } = await import('../coap/transport-dtls.ts');
    const key = Buffer.from(PSK_KEY);
    demo.server.listen(
      await DtlsServerTransport.listen({
        host: '127.0.0.1',
        port: dtlsPort,
        psk: (identity) => (identity === PSK_IDENTITY ? key : undefined),
      }),
    );
  }
  const stop = () => {
    demo.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] === SELF && process.argv[2] === '--serve') {
  await serve(Number(process.argv[3]), process.argv[4] !== undefined ? Number(process.argv[4]) : undefined);
}

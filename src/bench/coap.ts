/**
 * `npm run bench -- coap`: confirmable GETs per second, one load generator for every server.
 *
 * The load generator is our in-process CoAP client keeping N requests outstanding (NSTART = N) for a
 * fixed time against each server in turn, all in the same run: our server, libcoap's
 * coap-server-notls and coap-server-gnutls, and the `coap` npm package's server on plain UDP; our
 * server and coap-server-gnutls over one established coaps:// PSK session. Every server runs in its
 * own process so that the generator does not share its event loop. Ratios are against our server on
 * the same transport.
 *
 * Options: --seconds S (default 3) --concurrency N (default 16) --only NAME[,NAME]
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CoapClient } from '../coap/client.ts';
import { type CoapUri, parseCoapUri } from '../coap/uri.ts';

interface Target {
  name: string;
  transport: 'udp' | 'coaps-psk';
  /** Starts the server; returns the URI of a small resource and a stopper. */
  start(): Promise<{ uri: string; stop: () => Promise<void> }>;
  needs?: string;
}

interface Result {
  name: string;
  transport: string;
  requests: number;
  seconds: number;
  perSecond: number;
  errors: number;
  note?: string;
}

const PSK_IDENTITY = 'bench';
const PSK_KEY = 'bench-psk-key-0123';
const BIN = fileURLToPath(new URL('../../bin/securesense.mjs', import.meta.url));

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const hasBinary = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

function spawnServer(cmd: string, args: string[]): { proc: ChildProcess; stop: () => Promise<void> } {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(t);
  };
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
      await waitReady(`coap://127.0.0.1:${port}/time`);
      const uri =
        transport === 'coaps-psk' && coapsPort
          ? `coaps://127.0.0.1:${coapsPort(port, dtlsPort)}/time`
          : `coap://127.0.0.1:${port}/time`;
      return { uri, stop: s.stop };
    },
  };
}

const ours = (args: (port: number, dtlsPort: number) => string[]) => ({
  cmd: process.execPath,
  args: (port: number, dtlsPort: number) => [
    BIN,
    'coap',
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    ...args(port, dtlsPort),
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

const TARGETS: Target[] = [
  processTarget(
    'securesense',
    'udp',
    ours(() => []),
  ),
  processTarget('libcoap coap-server-notls', 'udp', libcoap('coap-server-notls')),
  processTarget('libcoap coap-server-gnutls', 'udp', libcoap('coap-server-gnutls')),
  processTarget('coap (npm) server', 'udp', { cmd: process.execPath, args: (port) => ['-e', npmCoapServer(port)] }),
  processTarget(
    'securesense',
    'coaps-psk',
    ours((_, dtlsPort) => [
      '--dtls-port',
      String(dtlsPort),
      '--psk',
      `${PSK_IDENTITY}:${Buffer.from(PSK_KEY).toString('hex')}`,
    ]),
    (_, dtlsPort) => dtlsPort,
  ),
  // libcoap serves coaps:// on the port after its coap:// one.
  processTarget(
    'libcoap coap-server-gnutls',
    'coaps-psk',
    libcoap('coap-server-gnutls', ['-k', PSK_KEY]),
    (port) => port + 1,
  ),
];

/**
 * Keeps `concurrency` confirmable GETs outstanding for `seconds`; counts the 2.05s. Plain UDP load
 * comes from four client endpoints (sockets), because one endpoint has only 65536 Message IDs per
 * EXCHANGE_LIFETIME (RFC 7252 §4.4, §4.8.2) and a fast server would exhaust them; coaps:// load
 * goes over one established DTLS session, as the issue asks.
 */
async function load(
  uri: CoapUri,
  seconds: number,
  concurrency: number,
  secure: boolean,
): Promise<{ requests: number; errors: number; elapsed: number }> {
  const endpoints = secure ? 1 : Math.min(4, concurrency);
  const clients = Array.from(
    { length: endpoints },
    (_, i) =>
      new CoapClient({
        params: { nstart: Math.ceil((concurrency - i) / endpoints), ackTimeout: 2000 },
        security: secure ? { psk: { identity: PSK_IDENTITY, key: Buffer.from(PSK_KEY) } } : undefined,
      }),
  );
  try {
    // Establish the session (and warm up) before the clock starts: the figure is per established session.
    await Promise.all(clients.map((c) => c.get(uri)));
    const worker = async (
      client: CoapClient,
      until: number,
      count: boolean,
      acc: { requests: number; errors: number },
    ) => {
      while (Date.now() < until) {
        try {
          const r = await client.get(uri);
          if (count) {
            if (r.ok) acc.requests++;
            else acc.errors++;
          }
        } catch {
          if (count) acc.errors++;
        }
      }
    };
    const workers = (until: number, count: boolean, acc: { requests: number; errors: number }) =>
      Promise.all(Array.from({ length: concurrency }, (_, i) => worker(clients[i % endpoints], until, count, acc)));
    await workers(Date.now() + 500, false, { requests: 0, errors: 0 });
    const acc = { requests: 0, errors: 0 };
    const start = performance.now();
    await workers(Date.now() + seconds * 1000, true, acc);
    return { ...acc, elapsed: (performance.now() - start) / 1000 };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '16' },
      only: { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  if (!(seconds > 0) || !(concurrency >= 1)) throw new Error('--seconds and --concurrency must be positive');
  const only = values.only?.split(',').map((s) => s.trim().toLowerCase());
  const results: Result[] = [];
  process.stdout.write(
    `CoAP confirmable GET /time, ${concurrency} outstanding, ${seconds} s per server, load generator: securesense CoapClient\n`,
  );
  for (const target of TARGETS) {
    if (only && !only.some((o) => target.name.toLowerCase().includes(o) || target.transport.includes(o))) continue;
    // A row that did not run says why, in place of its figures.
    const notRun = (note: string): Result => ({
      name: target.name,
      transport: target.transport,
      requests: 0,
      seconds: 0,
      perSecond: 0,
      errors: 0,
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
      const r = await load(parseCoapUri(started.uri), seconds, concurrency, target.transport === 'coaps-psk');
      results.push({
        name: target.name,
        transport: target.transport,
        requests: r.requests,
        seconds: r.elapsed,
        perSecond: r.requests / r.elapsed,
        errors: r.errors,
      });
    } catch (err) {
      results.push(notRun((err as Error).message));
    } finally {
      await stop?.();
    }
  }
  const ours = (transport: string) =>
    results.find((r) => r.name === 'securesense' && r.transport === transport)?.perSecond ?? 0;
  const rows = results.map((r) => {
    const base = ours(r.transport);
    const ratio = r.perSecond > 0 && base > 0 ? (base / r.perSecond).toFixed(2) : '-';
    return [r.transport, r.name, r.perSecond ? r.perSecond.toFixed(0) : '-', String(r.errors), ratio, r.note ?? ''];
  });
  const header = ['transport', 'server', 'GET/s', 'errors', 'ours ÷ this', 'note'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |\n`;
  process.stdout.write(line(header));
  process.stdout.write(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`);
  for (const row of rows) process.stdout.write(line(row));
  process.stdout.write(`${JSON.stringify({ event: 'bench', bench: 'coap', seconds, concurrency, results })}\n`);
  return 0;
}

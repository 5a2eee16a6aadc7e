/**
 * `npm run bench -- sessions [--sessions N] [--clients K] [--no-peer] [--settle MS]
 * [--server-flags=FLAGS] [--heap-snapshot FILE]`: how many idle PSK sessions
 * one server process holds, and what each costs. Our DTLS server runs alone in a child process
 * with `--max-sessions N`; K client processes complete N handshakes from N distinct source
 * addresses and ports in 127.0.0.0/8 (250 addresses × as many ports as needed), each dropping its
 * side at once (the server keeps the session, idle). The server's RSS (from /proc) and heap are
 * read before, at 50 000 (or N/3) and at N sessions; then an honest client connects at the cap
 * and must get in, evicting the idlest session. Then libcoap's `coap-server-gnutls -k KEY` is
 * given the same clients, and its RSS growth per session held is printed beside ours.
 *
 * Each measurement collects garbage three times (and with `--settle MS` waits that long and
 * collects again, so that V8 can give back the pages its last collections freed); it prints RSS
 * split into heap used, V8's free heap pages (heap total − used), external memory (array buffers
 * and other native memory V8 knows of) and the rest (code, stacks, the allocator's own free lists),
 * because RSS per session and heap per session differ mostly by what the collector keeps in hand.
 * `--server-flags=FLAGS` passes extra Node flags (space-separated; the `=` is needed because they
 * start with a dash) to the server process, e.g. `--server-flags=--max-semi-space-size=1`;
 * `--compact` ends each measurement with a last-resort collection (V8 compacts the heap, as under
 * memory pressure), which separates live bytes from pages the collector merely keeps;
 * `--heap-snapshot FILE` writes the server's heap at the last checkpoint (for DevTools, or to sort
 * by constructor).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { DtlsEndpoint } from '../dtls/endpoint.ts';
import { connect, DtlsServer } from '../dtls/index.ts';

const IDENTITY = 'bench';
/** ASCII, because coap-server-gnutls takes its -k key as the bytes of the argument. */
const KEY_TEXT = 'securesense-bench';
const KEY = Buffer.from(KEY_TEXT);
const SERVER_FLAG = '--sessions-server';
const CLIENT_FLAG = '--sessions-client';
const ADDRESSES = 250;
const FIRST_PORT = 20_000;

/** Session i comes from 127.1.(i mod 250).1, port 20000 + ⌊i / 250⌋: every pair used once per run. */
function source(i: number, salt: number): { host: string; port: number } {
  return { host: `127.${1 + salt}.${i % ADDRESSES}.1`, port: FIRST_PORT + Math.floor(i / ADDRESSES) };
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

// --- child: our server ----------------------------------------------------------------------------

/** V8's gc() of `--expose-gc`: with options, a last-resort collection also compacts every page it can. */
type Gc = (o?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

async function serverMain(maxSessions: number, settleMs: number, compact: boolean): Promise<void> {
  const server = await DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === IDENTITY ? KEY : undefined),
    maxSessions,
    idleTimeoutMs: 0,
  });
  const gc = (globalThis as { gc?: Gc }).gc;
  const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  say({ port: server.address().port, recvBuffer: server.recvBufferSize() });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'measure') {
      for (let i = 0; i < 3; i++) gc?.();
      if (settleMs > 0) {
        await new Promise((res) => setTimeout(res, settleMs));
        gc?.();
      }
      // What V8 does under memory pressure: a full collection that compacts, so that the free heap
      // pages left by the handshakes' garbage are given back.
      if (compact) gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
      const m = process.memoryUsage();
      say({
        heap: m.heapUsed,
        heapTotal: m.heapTotal,
        external: m.external,
        arrayBuffers: m.arrayBuffers,
        rss: m.rss,
        stats: server.stats,
      });
    }
    if (line.startsWith('snapshot ')) {
      gc?.();
      const file = writeHeapSnapshot(line.slice('snapshot '.length));
      say({ snapshot: file });
    }
    if (line === 'exit') break;
  }
  await server.close();
  process.exit(0);
}

// --- child: clients -------------------------------------------------------------------------------

/**
 * Completes handshakes for sessions [from, to) against `port`, `concurrency` at once; prints
 * {ok, failed, stopped}. Stops early at `deadline` (ms since the epoch) or after 100 failures in a
 * row: a server that no longer answers has reached what it can hold.
 */
async function clientMain(
  port: number,
  from: number,
  to: number,
  salt: number,
  concurrency: number,
  deadline: number,
): Promise<void> {
  let next = from;
  let ok = 0;
  let failed = 0;
  let streak = 0;
  let stopped = false;
  const remote = { address: '127.0.0.1', port, family: 'IPv4' as const };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < to) {
        if (Date.now() > deadline || streak >= 100) {
          stopped = true;
          break;
        }
        const src = source(next++, salt);
        let ep: DtlsEndpoint | undefined;
        try {
          ep = await DtlsEndpoint.open({ host: src.host, port: src.port });
          const a = await ep.connect(
            remote,
            { psk: { identity: IDENTITY, key: KEY } },
            { retransmitInitialMs: 1000, maxRetransmits: 2 },
          );
          // Forget our side without a word: the server keeps an idle session.
          a.destroy();
          ok++;
          streak = 0;
        } catch {
          failed++;
          streak++;
        } finally {
          await ep?.close();
        }
      }
    }),
  );
  process.stdout.write(`${JSON.stringify({ ok, failed, stopped })}\n`);
  process.exit(0);
}

// --- parent ---------------------------------------------------------------------------------------

interface Child {
  proc: ChildProcess;
  /** The child's next JSON line. */
  next(): Promise<Record<string, unknown>>;
}

function child(args: string[], nodeFlags: string[] = []): Child {
  const self = fileURLToPath(import.meta.url);
  const proc = spawn(process.execPath, ['--expose-gc', ...nodeFlags, '--import', 'tsx', self, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  proc.stdin?.on('error', () => {});
  const it = createInterface({ input: proc.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  return {
    proc,
    next: async () => {
      const r = await it.next();
      if (r.done) throw new Error('bench child ended early');
      return JSON.parse(r.value as string) as Record<string, unknown>;
    },
  };
}

/** Runs K client processes over sessions [from, to); resolves with the handshakes that succeeded and failed. */
async function runClients(
  port: number,
  from: number,
  to: number,
  k: number,
  salt: number,
  budgetMs = 3_600_000,
): Promise<{ ok: number; failed: number; stopped: boolean }> {
  const deadline = Date.now() + budgetMs;
  const per = Math.ceil((to - from) / k);
  const results = await Promise.all(
    Array.from({ length: k }, async (_, j) => {
      const a = from + j * per;
      const b = Math.min(to, a + per);
      if (a >= b) return { ok: 0, failed: 0, stopped: false };
      const c = child([CLIENT_FLAG, String(port), String(a), String(b), String(salt), '48', String(deadline)]);
      const r = await c.next();
      return { ok: Number(r.ok), failed: Number(r.failed), stopped: r.stopped === true };
    }),
  );
  return results.reduce((x, y) => ({ ok: x.ok + y.ok, failed: x.failed + y.failed, stopped: x.stopped || y.stopped }));
}

interface Measure {
  heap: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  rss: number;
  stats: { sessions: number; evictions: { sessionCapacity: number } };
}

async function measure(srv: Child): Promise<Measure> {
  srv.proc.stdin?.write('measure\n');
  return (await srv.next()) as unknown as Measure;
}

const kib = (b: number) => `${(b / 1024).toFixed(2)} KiB`;

interface OursOptions {
  settleMs: number;
  compact: boolean;
  serverFlags: string[];
  heapSnapshot: string | undefined;
}

/** `m` − `base` per session, split as RSS = heap used + V8 free heap pages + external + other. */
function breakdown(m: Measure, base: Measure, s: number): string {
  const d = (f: (x: Measure) => number) => kib((f(m) - f(base)) / s);
  const free = (x: Measure) => x.heapTotal - x.heap;
  const other = (x: Measure) => x.rss - x.heapTotal - x.external;
  return (
    `RSS ${d((x) => x.rss)} = heap used ${d((x) => x.heap)} + V8 free pages ${d(free)} + ` +
    `external ${d((x) => x.external)} (array buffers ${d((x) => x.arrayBuffers)}) + other ${d(other)}`
  );
}

async function ours(n: number, k: number, o: OursOptions): Promise<string[]> {
  const out: string[] = [];
  const srv = child([SERVER_FLAG, String(n), String(o.settleMs), o.compact ? '1' : '0'], o.serverFlags);
  try {
    const { port, recvBuffer } = (await srv.next()) as { port: number; recvBuffer: number };
    out.push(`ours: server pid ${srv.proc.pid}, port ${port}, SO_RCVBUF granted ${recvBuffer} bytes`);
    if (o.serverFlags.length > 0) out.push(`  server node flags: ${o.serverFlags.join(' ')}`);
    if (o.settleMs > 0) out.push(`  each measurement after 3 collections, ${o.settleMs} ms and one more`);
    if (o.compact) out.push('  and then a last-resort (compacting) collection');
    const base = await measure(srv);
    out.push(
      `  baseline: RSS ${(base.rss / 2 ** 20).toFixed(1)} MiB, heap used ${(base.heap / 2 ** 20).toFixed(1)} MiB ` +
        `of ${(base.heapTotal / 2 ** 20).toFixed(1)} MiB, external ${(base.external / 2 ** 20).toFixed(1)} MiB`,
    );
    const checkpoints = [...new Set([Math.min(50_000, Math.floor(n / 3)), n])].filter((c) => c > 0);
    let held = 0;
    let prev: Measure | undefined;
    const t0 = Date.now();
    for (const c of checkpoints) {
      const r = await runClients(port, held, c, k, 0);
      if (r.failed > 0) out.push(`  (${r.failed} handshakes failed on the way to ${c})`);
      held = c;
      const m = await measure(srv);
      const s = m.stats.sessions;
      out.push(
        `  ${String(s).padStart(7)} sessions (${((Date.now() - t0) / 1000).toFixed(0)} s): ` +
          `RSS +${((m.rss - base.rss) / 2 ** 20).toFixed(1)} MiB = ${kib((m.rss - base.rss) / s)}/session, ` +
          `heap ${kib((m.heap - base.heap) / s)} + buffers ${kib((m.arrayBuffers - base.arrayBuffers) / s)}/session`,
        `           from 0: ${breakdown(m, base, s)}`,
      );
      if (prev && s > prev.stats.sessions) {
        out.push(
          `           per added session (${prev.stats.sessions} → ${s}): ${breakdown(m, prev, s - prev.stats.sessions)}`,
        );
      }
      prev = m;
    }
    if (o.heapSnapshot) {
      srv.proc.stdin?.write(`snapshot ${o.heapSnapshot}\n`);
      const { snapshot } = (await srv.next()) as { snapshot: string };
      out.push(`  heap snapshot at ${held} sessions: ${snapshot}`);
    }
    const start = performance.now();
    try {
      const c = await connect({ host: '127.0.0.1', port, psk: { identity: IDENTITY, key: KEY }, maxRetransmits: 3 });
      const ms = performance.now() - start;
      const after = await measure(srv);
      out.push(
        `  honest client at the cap (${after.stats.sessions} sessions): admitted in ${ms.toFixed(0)} ms, ` +
          `evictions of the idlest: ${after.stats.evictions.sessionCapacity}`,
      );
      await c.close();
    } catch (err) {
      out.push(`  honest client at the cap: NOT admitted (${(err as Error).message})`);
    }
    srv.proc.stdin?.write('exit\n');
  } finally {
    setTimeout(() => srv.proc.kill('SIGKILL'), 3000).unref();
  }
  return out;
}

async function libcoap(n: number, k: number, budgetMs: number): Promise<string[]> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const proc = spawn('coap-server-gnutls', ['-A', '127.0.0.1', '-p', String(port - 1), '-v', '0', '-k', KEY_TEXT], {
    stdio: 'ignore',
  });
  const failed = await new Promise<string | undefined>((resolve) => {
    proc.once('error', (e) => resolve(e.message));
    setTimeout(() => resolve(undefined), 800);
  });
  if (failed) return [`libcoap coap-server-gnutls: not run (${failed})`];
  try {
    const pid = proc.pid ?? 0;
    const base = rssOf(pid);
    // libcoap listens for coaps:// on its port + 1. Given as long as ours took, at most.
    const t0 = Date.now();
    const r = await runClients(port, 0, n, k, 1, budgetMs);
    await new Promise((res) => setTimeout(res, 500));
    const rss = rssOf(pid);
    const alive = proc.exitCode === null;
    const why = r.stopped ? ' (stopped: time budget or 100 failures in a row)' : '';
    return [
      `libcoap coap-server-gnutls -k KEY (pid ${pid}): ${r.ok} of ${n} handshakes completed, ${r.failed} failed` +
        `${why}${alive ? '' : ' (server exited)'} in ${((Date.now() - t0) / 1000).toFixed(0)} s, ` +
        `RSS +${((rss - base) / 2 ** 20).toFixed(1)} MiB = ${r.ok > 0 ? kib((rss - base) / r.ok) : '—'}/session`,
    ];
  } finally {
    proc.kill('SIGKILL');
  }
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      sessions: { type: 'string' },
      clients: { type: 'string' },
      'no-peer': { type: 'boolean' },
      settle: { type: 'string' },
      compact: { type: 'boolean' },
      'server-flags': { type: 'string' },
      'heap-snapshot': { type: 'string' },
    },
  });
  const settleMs = Number(values.settle ?? 0);
  if (!Number.isInteger(settleMs) || settleMs < 0 || settleMs > 600_000) {
    process.stderr.write('--settle must be milliseconds in 0..600000\n');
    return 2;
  }
  const serverFlags = (values['server-flags'] ?? '').split(/\s+/).filter((f) => f !== '');
  if (serverFlags.some((f) => !f.startsWith('--'))) {
    process.stderr.write(
      '--server-flags takes Node flags (each starting with --), e.g. --server-flags=--max-semi-space-size=1\n',
    );
    return 2;
  }
  const n = Number(values.sessions ?? 150_000);
  const k = Number(values.clients ?? 2);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) {
    process.stderr.write('--sessions must be an integer in 1..1000000\n');
    return 2;
  }
  if (!Number.isInteger(k) || k < 1 || k > 16) {
    process.stderr.write('--clients must be an integer in 1..16\n');
    return 2;
  }
  process.stdout.write(`Idle PSK sessions held by one server process: ${n} sessions, ${k} client processes\n`);
  const t0 = Date.now();
  const opts = { settleMs, compact: values.compact === true, serverFlags, heapSnapshot: values['heap-snapshot'] };
  for (const line of await ours(n, k, opts)) process.stdout.write(`${line}\n`);
  const budget = Math.max(30_000, Date.now() - t0);
  if (!values['no-peer']) for (const line of await libcoap(n, k, budget)) process.stdout.write(`${line}\n`);
  return 0;
}

const [, , flag, ...rest] = process.argv;
if (flag === SERVER_FLAG) void serverMain(Number(rest[0]), Number(rest[1] ?? 0), rest[2] === '1');
if (flag === CLIENT_FLAG) {
  const [port, from, to, salt, conc, deadline] = rest.map(Number);
  void clientMain(port, from, to, salt, conc, deadline);
}

/**
 * `npm run bench -- load`: work per server CPU-second, ours against the C servers, in one run.
 *
 * The load comes from our C generator (bench/loadgen/loadgen.c, GnuTLS, one epoll loop, many
 * sockets; src/bench/load-gen.ts): a JavaScript client spends more CPU per handshake or request than
 * libcoap does, so it could not keep a C server busy. Each server runs in its own process; its
 * utime + stime over the window (/proc) divides the work done in that window, so the figure holds
 * even where the generator, not the server, set the pace. The generator's CPU is printed beside it.
 *
 * Work: DTLS 1.2 handshakes from fresh sockets, each closed with close_notify (PSK full and resumed,
 * mutual RPK, X.509 with server authentication and mutual; c = handshakes in flight), and CoAP CON
 * GET /time over UDP, over one DTLS PSK session and over many (c = requests outstanding).
 * Servers: ours (`securesense coap serve`), libcoap's coap-server-notls / -gnutls / -openssl, the
 * `coap` npm package's server.
 *
 * Options: --seconds S (window, default 5) --warmup S (default 0.5) --only ROW[,ROW]
 *          --targets NAME[,NAME] (substrings) --c N[,N] (replaces each row's concurrencies)
 *          --procs N (generator processes, default 1) --json (the results as one JSON line too)
 *          --profile DIR (our server runs under `node --cpu-prof`; its .cpuprofile lands in DIR)
 *          --node-flags 'F …' (Node.js/V8 flags for our server, e.g. a GC setting being tried)
 */
import { parseArgs } from 'node:util';
import { progressStep } from '../util/progress.ts';
import { hasBinary } from './child.ts';
import { processTree, sampleCpu } from './load-cpu.ts';
import { buildLoadGen, type GenSpec } from './load-gen.ts';
import { measureWindow, type WindowOptions } from './load-measure.ts';
import { formatTable, type LoadResult } from './load-table.ts';
import {
  killAll,
  type Material,
  makeMaterial,
  PSK_HEX,
  PSK_IDENTITY,
  type Running,
  removeMaterial,
  type Security,
  serves,
  startTarget,
  type TargetName,
  targetBinary,
} from './load-targets.ts';

/** A kind of work, measured at each of its concurrencies against each of its servers. */
export interface Row {
  id: string;
  label: string;
  sec: Security;
  concurrency: number[];
  targets: TargetName[];
  /** The generator's task for concurrency c (connections, depth, credentials). */
  spec(c: number, m: Material): Omit<GenSpec, 'port'>;
}

const psk = { identity: PSK_IDENTITY, keyHex: PSK_HEX };
const HS_C = [4, 16];
const COAP_C = [16, 64];
const libcoapDtls: TargetName[] = ['ours', 'coap-server-gnutls', 'coap-server-openssl'];

export const ROWS: Row[] = [
  {
    id: 'psk',
    label: 'PSK full handshake',
    sec: 'psk',
    concurrency: HS_C,
    targets: libcoapDtls,
    spec: (c) => ({ kind: 'hs', sec: 'psk', conns: c, psk }),
  },
  {
    id: 'psk-resumed',
    label: 'PSK resumed handshake',
    sec: 'psk',
    concurrency: HS_C,
    targets: ['ours', 'coap-server-openssl', 'coap-server-gnutls'],
    spec: (c) => ({ kind: 'hs', sec: 'psk', conns: c, psk, resume: true }),
  },
  {
    id: 'rpk',
    label: 'RPK mutual handshake',
    sec: 'rpk',
    concurrency: HS_C,
    targets: ['ours', 'coap-server-gnutls'],
    spec: (c, m) => ({ kind: 'hs', sec: 'rpk', conns: c, rpk: { key: m.clientRpkKey, spki: m.clientRpkSpki } }),
  },
  {
    id: 'x509',
    label: 'X.509 handshake, server auth',
    sec: 'x509',
    concurrency: HS_C,
    targets: libcoapDtls,
    spec: (c) => ({ kind: 'hs', sec: 'x509', conns: c }),
  },
  {
    id: 'x509-mutual',
    label: 'X.509 mutual handshake',
    sec: 'x509-mutual',
    concurrency: HS_C,
    targets: libcoapDtls,
    spec: (c, m) => ({
      kind: 'hs',
      sec: 'x509',
      mutual: true,
      conns: c,
      cert: { cert: m.clientCert, key: m.clientKey },
    }),
  },
  {
    id: 'coap-udp',
    label: 'CoAP CON GET, UDP',
    sec: 'none',
    concurrency: COAP_C,
    targets: ['ours', 'coap-server-notls', 'coap (npm)'],
    // c clients, one request outstanding each
    spec: (c) => ({ kind: 'coap', sec: 'none', conns: c, depth: 1 }),
  },
  {
    id: 'coap-dtls-one',
    label: 'CoAP CON GET, one DTLS session',
    sec: 'psk',
    concurrency: COAP_C,
    targets: libcoapDtls,
    spec: (c) => ({ kind: 'coap', sec: 'psk', conns: 1, depth: c, psk }),
  },
  {
    id: 'coap-dtls-many',
    label: 'CoAP CON GET, c DTLS sessions',
    sec: 'psk',
    concurrency: COAP_C,
    targets: libcoapDtls,
    spec: (c) => ({ kind: 'coap', sec: 'psk', conns: c, depth: 1, psk }),
  },
];

export interface LoadOptions extends WindowOptions {
  rows: Row[];
  /** Keeps a target when any of these is a substring of its name; all when undefined. */
  targets?: string[];
  concurrency?: number[];
  progress?: (line: string) => void;
  /** Node.js flags for our server (`--cpu-prof --cpu-prof-dir DIR`, a V8 setting being tried). */
  serverNodeFlags?: string[];
}

function resultOf(
  row: Row,
  c: number,
  target: TargetName,
  w: Awaited<ReturnType<typeof measureWindow>>,
  idleRssBytes: number,
): LoadResult {
  let note = w.firstError;
  if (w.notResumed > 0 && w.ok === 0) note = 'does not resume the session';
  if (!note && w.renewals > 0) note = `${w.renewals} new endpoint(s): Message IDs used up`;
  return {
    row: row.id,
    label: row.label,
    concurrency: c,
    target,
    rate: w.rate,
    p50Ms: w.p50Ms,
    p99Ms: w.p99Ms,
    serverCpu: w.serverCpu,
    perCpuSecond: w.ok > 0 ? w.perCpuSecond : undefined,
    genCpu: w.genCpu,
    serverIdleRssMb: idleRssBytes / 1e6,
    serverRssMb: w.serverRssBytes / 1e6,
    ok: w.ok,
    errors: w.errors,
    note,
  };
}

/**
 * Every (row, target, concurrency), in that order: one server process per (row, target) serves
 * its concurrencies, and ours and the peers of a row are measured seconds apart.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadResult[]> {
  const bin = buildLoadGen();
  const m = await makeMaterial();
  const results: LoadResult[] = [];
  const say = opts.progress ?? (() => {});
  try {
    for (const row of opts.rows) {
      const cs = opts.concurrency ?? row.concurrency;
      const targets = row.targets.filter(
        (t) => serves(t, row.sec) && (!opts.targets || opts.targets.some((s) => t.includes(s))),
      );
      for (const target of targets) {
        const notRun = (note: string) => {
          for (const c of cs)
            results.push({ row: row.id, label: row.label, concurrency: c, target, ok: 0, errors: 0, note });
          say(`${row.id} → ${target}: not measured (${note})`);
        };
        const bin2 = targetBinary(target);
        if (bin2 && !hasBinary(bin2)) {
          notRun(`${bin2} not installed`);
          continue;
        }
        let server: Running | undefined;
        try {
          const lifetimeMs = cs.length * (opts.seconds + opts.warmupSeconds + 30) * 1000;
          server = await startTarget(target, row.sec, m, lifetimeMs, opts.serverNodeFlags);
        } catch (err) {
          notRun((err as Error).message.split('\n')[0]);
          continue;
        }
        // Before any load: the baseline of the RSS figure.
        const idleRss = sampleCpu(processTree(server.pid)).rssBytes;
        try {
          for (const c of cs) {
            try {
              const w = await measureWindow(bin, server, row.spec(c, m), opts);
              const r = resultOf(row, c, target, w, idleRss);
              results.push(r);
              say(
                `${row.id} c=${c} → ${target}: ${r.rate?.toFixed(0)} /s, server CPU ${Math.round(w.serverCpu * 100)} %, ` +
                  `${r.perCpuSecond?.toFixed(0) ?? '-'} /CPU-s, gen CPU ${Math.round(w.genCpu * 100)} %` +
                  `${r.errors ? `, ${r.errors} errors` : ''}${r.note ? ` (${r.note})` : ''}`,
              );
            } catch (err) {
              const note = (err as Error).message.split('\n')[0];
              results.push({ row: row.id, label: row.label, concurrency: c, target, ok: 0, errors: 0, note });
              say(`${row.id} c=${c} → ${target}: not measured (${note})`);
            }
          }
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    removeMaterial(m);
  }
  return results;
}

const list = (v: string | undefined) =>
  v
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '0.5' },
      only: { type: 'string' },
      targets: { type: 'string' },
      c: { type: 'string' },
      procs: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      profile: { type: 'string' },
      'node-flags': { type: 'string' },
    },
  });
  const seconds = Number(values.seconds);
  const warmupSeconds = Number(values.warmup);
  const procs = Number(values.procs);
  if (!(seconds > 0 && seconds <= 600)) throw new Error('--seconds must be in (0, 600]');
  if (!(warmupSeconds >= 0 && warmupSeconds <= 60)) throw new Error('--warmup must be in [0, 60]');
  if (!Number.isInteger(procs) || procs < 1 || procs > 16) throw new Error('--procs must be an integer in 1..16');
  const only = list(values.only);
  const unknown = only?.filter((id) => !ROWS.some((r) => r.id === id));
  if (unknown?.length)
    throw new Error(`--only: unknown row ${unknown.join(', ')} (rows: ${ROWS.map((r) => r.id).join(', ')})`);
  const concurrency = list(values.c)?.map(Number);
  if (concurrency?.some((c) => !Number.isInteger(c) || c < 1 || c > 1024))
    throw new Error('--c must be integers in 1..1024');
  const rows = only ? ROWS.filter((r) => only.includes(r.id)) : ROWS;

  const onSignal = (signal: NodeJS.Signals) => {
    killAll();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    process.stderr.write(
      `bench load: ${seconds} s windows after ${warmupSeconds} s warm-up, ${procs} generator process(es) (bench/loadgen, GnuTLS)\n`,
    );
    const results = await runLoad({
      rows,
      targets: list(values.targets),
      concurrency,
      seconds,
      warmupSeconds,
      procs,
      serverNodeFlags: [
        ...(values.profile ? ['--cpu-prof', '--cpu-prof-dir', values.profile] : []),
        ...(list(values['node-flags']?.replaceAll(' ', ',')) ?? []),
      ],
      progress: (line) => progressStep(line),
    });
    process.stdout.write(formatTable(results));
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ event: 'bench', bench: 'load', seconds, procs, results })}\n`);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

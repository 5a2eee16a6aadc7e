/**
 * `securesense bench NAME` (and `npm run bench -- NAME`): each benchmark is `src/bench/<name>.ts`
 * exporting `run(args): Promise<number>`; it prints a table and measures against third-party peers
 * in the same run. The option tables here are what `bench NAME --help` lists and what is checked
 * before the benchmark starts (a typo exits 2 at once instead of after minutes of measuring).
 */
import { startProgress } from '../util/progress.ts';
import { command, dispatch, type OptionTable, type SubCommand } from './args.ts';

/** Every bench shows a progress line on stderr (a benchmark's rows may report with util/progress.ts `progressStep`). */
const QUIET = { type: 'boolean', help: 'no progress line on stderr' } as const;

const SECONDS = { type: 'string', arg: 'S', help: 'seconds per measurement (default 3)' } as const;
const JSON_OUT = { type: 'boolean', help: 'print the figures as JSON' } as const;

interface Bench {
  summary: string;
  options: OptionTable;
  load(): Promise<{ run(args: string[]): Promise<number> }>;
}

const BENCHES: Record<string, Bench> = {
  dtls: {
    summary: 'DTLS handshakes/s (psk, rpk, x509), resumptions/s, heap per idle session',
    options: {
      seconds: SECONDS,
      concurrency: { type: 'string', arg: 'N', help: 'handshakes in flight (default 4)' },
      sessions: { type: 'string', arg: 'N', help: 'idle sessions for the heap figure (default 10000)' },
      'no-peers': { type: 'boolean', help: 'measure our engine only (no OpenSSL/GnuTLS servers)' },
      json: JSON_OUT,
    },
    load: () => import('../bench/dtls.ts'),
  },
  'oscore-bytes': {
    summary: 'bytes per request/response: coap://, coap:// + OSCORE, coaps:// DTLS PSK, same payload',
    options: {},
    load: () => import('../bench/oscore-bytes.ts'),
  },
  coap: {
    summary: 'CoAP confirmable GETs/s: ours vs libcoap vs the coap npm package',
    options: {
      seconds: SECONDS,
      concurrency: { type: 'string', arg: 'N', help: 'requests outstanding (default 16)' },
      only: { type: 'string', arg: 'LIST', help: 'comma-separated servers to measure (default all)' },
    },
    load: () => import('../bench/coap.ts'),
  },
  ingest: {
    summary: 'platform points/s over HTTP and CoAPs, reads/s, SQLite and PostgreSQL',
    options: {
      seconds: SECONDS,
      concurrency: { type: 'string', arg: 'N', help: 'requests in flight (default 16)' },
      devices: { type: 'string', arg: 'N', help: 'devices writing (default 100)' },
      outstanding: { type: 'string', arg: 'N', help: 'confirmable requests outstanding per device (default 1)' },
      generators: { type: 'string', arg: 'N', help: 'load generator processes (default 2)' },
      pg: { type: 'string', arg: 'URL', help: 'PostgreSQL to measure (default SECURESENSE_BENCH_PG_URL)' },
      'pg-workers': {
        type: 'string',
        arg: 'N,…',
        help: 'a serve --workers N on PostgreSQL for each N of the list (default 1,2; 0 skips them)',
      },
      json: JSON_OUT,
    },
    load: () => import('../bench/ingest.ts'),
  },
  'dtls-cpu': {
    summary: 'DTLS PSK handshakes, resumptions and records per server CPU-second, ours vs libcoap',
    options: {
      seconds: SECONDS,
      concurrency: { type: 'string', arg: 'N', help: 'handshakes or requests in flight (default 8)' },
      window: { type: 'string', arg: 'N', help: 'records outstanding per session (default 32)' },
      modes: { type: 'string', arg: 'LIST', help: 'full,resumed,records (default all three)' },
      rounds: { type: 'string', arg: 'N', help: 'rounds, alternating ours and the peer (default 1)' },
      peer: { type: 'boolean', help: 'also measure coap-server-gnutls/openssl' },
      profile: { type: 'string', arg: 'DIR', help: "write the server's CPU profile to DIR" },
      external: { type: 'string', arg: 'CMD', help: 'measure another server command instead of ours' },
      count: {
        type: 'boolean',
        help: 'count crypto objects, sends, promises, timers and Buffers per handshake in our server',
      },
      'count-sites': { type: 'boolean', help: 'as --count, with the Buffers also counted by call site' },
    },
    load: () => import('../bench/dtls-cpu.ts'),
  },
  load: {
    summary: 'work per server CPU-second under a C load generator: ours vs libcoap and the coap npm server',
    options: {
      seconds: { type: 'string', arg: 'S', help: 'seconds per measured window (default 5)' },
      warmup: { type: 'string', arg: 'S', help: 'seconds of load before each window (default 0.5)' },
      only: { type: 'string', arg: 'ROWS', help: 'comma-separated rows to run (default all)' },
      targets: { type: 'string', arg: 'LIST', help: 'comma-separated servers (default all)' },
      c: { type: 'string', arg: 'N,…', help: 'concurrencies (default per row)' },
      procs: { type: 'string', arg: 'N', help: 'generator processes (default 1)' },
      profile: { type: 'string', arg: 'DIR', help: 'run our server under node --cpu-prof, its profile into DIR' },
      'node-flags': {
        type: 'string',
        arg: "'F …'",
        help: 'Node.js/V8 flags for our server (a GC setting being tried)',
      },
      json: JSON_OUT,
    },
    load: () => import('../bench/load.ts'),
  },
  workers: {
    summary:
      'the platform with 1 and 2 worker processes: PSK handshakes/s and CoAPs req/s, CPU of each process and of the generator',
    options: {
      seconds: { type: 'string', arg: 'S', help: 'seconds per measured window (default 4)' },
      warmup: { type: 'string', arg: 'S', help: 'seconds of load before each window (default 1)' },
      workers: { type: 'string', arg: 'N,…', help: 'worker counts to compare (default 1,2)' },
      'c-hs': { type: 'string', arg: 'N', help: 'handshakes in flight (default 16)' },
      'c-coap': { type: 'string', arg: 'N', help: 'DTLS sessions sending requests (default 64)' },
      db: {
        type: 'string',
        arg: 'sqlite|PATH|URL,…',
        help: 'the stores to compare (default sqlite: a temporary SQLite file per run; postgres://… for PostgreSQL)',
      },
      'write-batch': {
        type: 'string',
        arg: 'MS,…',
        help: 'session store write batch intervals to compare (default 20; 0 = a write per handshake)',
      },
      rounds: {
        type: 'string',
        arg: 'R',
        help: 'repeat the whole matrix R times, in turn (default 1; medians printed)',
      },
      resume: { type: 'boolean', help: 'also PSK abbreviated handshakes/s (sessions resumed through the store)' },
      'cpu-prof': { type: 'string', arg: 'DIR', help: "V8 CPU profiles of the server's processes, into DIR" },
      json: JSON_OUT,
    },
    load: () => import('../bench/workers.ts'),
  },
  sessions: {
    summary: 'idle PSK sessions one server process holds (RSS, heap per session), ours vs libcoap',
    options: {
      sessions: { type: 'string', arg: 'N', help: 'sessions to hold (default 150000)' },
      clients: { type: 'string', arg: 'N', help: 'client processes (default 2)' },
      'no-peer': { type: 'boolean', help: 'measure our server only (no coap-server-gnutls)' },
      settle: { type: 'string', arg: 'MS', help: 'wait this long (and collect garbage again) before each measurement' },
      compact: { type: 'boolean', help: 'end each measurement with a compacting (last-resort) collection' },
      'server-flags': {
        type: 'string',
        arg: 'FLAGS',
        help: 'extra Node flags for the server process (--server-flags=--max-semi-space-size=1)',
      },
      'heap-snapshot': { type: 'string', arg: 'FILE', help: "write the server's heap snapshot at the last checkpoint" },
    },
    load: () => import('../bench/sessions.ts'),
  },
  runtime: {
    summary: "P-256 keygen+ECDH and CLI start-up on the pinned Node vs the machine's",
    options: {
      seconds: { type: 'string', arg: 'S', help: 'seconds per API, Node and round (default 1)' },
      rounds: { type: 'string', arg: 'N', help: 'rounds, alternating between the Nodes (default 3)' },
      runs: { type: 'string', arg: 'N', help: 'securesense --version runs per Node (default 10)' },
      json: JSON_OUT,
    },
    load: () => import('../bench/runtime.ts'),
  },
};

/** Each bench checked against its table (`--help`, exit 2 on a bad option), then run with the same arguments. */
const SUBS: Record<string, SubCommand> = Object.fromEntries(
  Object.entries(BENCHES).map(([name, b]): [string, SubCommand] => [
    name,
    {
      summary: b.summary,
      run: (args) =>
        command(
          { name: `bench ${name}`, usage: '[options]', about: b.summary, options: { ...b.options, quiet: QUIET } },
          async ({ values }) => {
            const progress = startProgress({ label: `bench ${name}`, quiet: values.quiet === true });
            try {
              // --quiet is ours: the benchmark's own parser sees the rest.
              return await (await b.load()).run(args.filter((a) => a !== '--quiet'));
            } finally {
              progress.end();
            }
          },
        )(args),
    },
  ]),
);

export async function run(args: string[]): Promise<number> {
  return dispatch('bench', SUBS, args);
}

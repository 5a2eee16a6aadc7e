/**
 * `securesense bench NAME` (and `npm run bench -- NAME`): each benchmark is `src/bench/<name>.ts`
 * exporting `run(args): Promise<number>`; it prints a table and measures against third-party peers
 * in the same run. The option tables here are what `bench NAME --help` lists and what is checked
 * before the benchmark starts (a typo exits 2 at once instead of after minutes of measuring).
 */
import { command, dispatch, type OptionTable, type SubCommand } from './args.ts';

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
      pg: { type: 'string', arg: 'URL', help: 'PostgreSQL to measure (default SECURESENSE_BENCH_PG_URL)' },
      json: JSON_OUT,
    },
    load: () => import('../bench/ingest.ts'),
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
        command({ name: `bench ${name}`, usage: '[options]', about: b.summary, options: b.options }, async () =>
          (await b.load()).run(args),
        )(args),
    },
  ]),
);

export async function run(args: string[]): Promise<number> {
  return dispatch('bench', SUBS, args);
}

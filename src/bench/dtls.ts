/**
 * `npm run bench -- dtls`: DTLS handshakes per second and memory per idle session.
 *
 *   - PSK full handshakes/s and resumed (abbreviated) handshakes/s: our client against our server
 *     on loopback, in one process, `--concurrency` handshakes in flight (default 4).
 *   - RPK and X.509 full handshakes/s with client authentication (X.509: mutual, leaf issued by an
 *     intermediate, so each side verifies two certificate signatures), same set-up, and beside them
 *     the P-256 ceiling from `openssl speed ecdhp256 ecdsap256`: the handshakes/s that the
 *     signature and key-agreement operations alone would allow on one core (src/bench/p256-ceiling.ts).
 *   - Heap bytes per established idle session: a server in a child process (run with --expose-gc)
 *     holds `--sessions` sessions (default 10 000); its heap (JS heap + ArrayBuffers) before and
 *     after, divided by the sessions it holds.
 *   - Servers compared in the same run (src/bench/dtls-servers.ts): our client, one handshake at a
 *     time, against our server (child process), `openssl s_server -dtls1_2` and `gnutls-serv --udp`,
 *     per mode (PSK, X.509, mutual X.509, mutual RPK; resumed where the server resumes), printed
 *     with ours ÷ peer.
 *
 * Options: --seconds S (default 3, the length of every phase) --concurrency N (default 4)
 *          --sessions N (default 10000) --no-peers (skip the server comparison) --json
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PinnedKeys, type PublicKeyCredentials } from '../dtls/credentials/index.ts';
import { DtlsEndpoint } from '../dtls/endpoint.ts';
import type { ClientConfig } from '../dtls/handshake/client.ts';
import { DtlsServer, loadTrustAnchors, ownCertificate, ownRawPublicKey } from '../dtls/index.ts';
import { createCa, generateKeyPem, issueCertificate } from '../pki/index.ts';
import { progressStep } from '../util/progress.ts';
import { compareServers, type PhaseResult } from './dtls-servers.ts';
import { closeClients, handshakeUntil, openClients } from './handshakes.ts';
import { formatCeiling, measureP256Ceiling } from './p256-ceiling.ts';

const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const IDENTITY = 'bench';
const CHILD_FLAG = '--dtls-bench-child';

interface Row {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

interface Pki {
  server: PublicKeyCredentials;
  rpkClient: ClientConfig;
  x509Client: ClientConfig;
}

/** A root, an intermediate, a server and a device certificate, and raw key pairs for both sides. */
async function makePki(): Promise<Pki> {
  const root = await createCa({ cn: 'Bench Root' });
  const intermediate = await createCa({ cn: 'Bench Intermediate', parent: root });
  const server = await issueCertificate({ ca: intermediate, cn: 'localhost', dns: ['localhost'], ip: ['127.0.0.1'] });
  const device = await issueCertificate({ ca: intermediate, cn: 'bench-device' });
  const serverRpk = ownRawPublicKey(await generateKeyPem());
  const clientRpk = ownRawPublicKey(await generateKeyPem());
  const anchors = loadTrustAnchors(root.certPem);
  return {
    server: {
      certificate: ownCertificate(server.keyPem!, server.chainPem),
      rpk: serverRpk,
      trust: { anchors, pinnedKeys: new PinnedKeys([clientRpk.spki]) },
      clientAuth: 'need',
    },
    rpkClient: { pki: { rpk: clientRpk, trust: { pinnedKeys: new PinnedKeys([serverRpk.spki]) } } },
    x509Client: {
      pki: { certificate: ownCertificate(device.keyPem!, device.chainPem), trust: { anchors } },
      peerName: '127.0.0.1',
    },
  };
}

async function startServer(pki?: PublicKeyCredentials): Promise<DtlsServer> {
  return DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === IDENTITY ? KEY : undefined),
    certificate: pki?.certificate,
    rpk: pki?.rpk,
    trust: pki?.trust,
    clientAuth: pki?.clientAuth,
    maxHandshakes: 100_000,
    maxSessions: 1_000_000,
    idleTimeoutMs: 0,
  });
}

/** Handshakes/s with `concurrency` client endpoints each connecting, closing, connecting again. */
async function handshakeRate(
  port: number,
  seconds: number,
  concurrency: number,
  resume: boolean,
  cfg: ClientConfig = { psk: { identity: IDENTITY, key: KEY } },
): Promise<number> {
  const clients = await openClients(port, concurrency, cfg);
  const deadline = Date.now() + seconds * 1000;
  const start = process.hrtime.bigint();
  const count = await handshakeUntil(clients, resume, deadline);
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  await closeClients(clients);
  return count / elapsed;
}

/** Runs in the child: a server; answers "measure" on stdin with its heap figures. */
async function childMain(): Promise<void> {
  const server = await startServer();
  const gc = (globalThis as { gc?: () => void }).gc;
  const measure = () => {
    for (let i = 0; i < 3; i++) gc?.();
    const m = process.memoryUsage();
    return { heap: m.heapUsed + m.arrayBuffers, sessions: server.counts().sessions };
  };
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'measure') process.stdout.write(`${JSON.stringify(measure())}\n`);
    if (line === 'exit') break;
  }
  await server.close();
}

async function heapPerSession(sessions: number, concurrency: number): Promise<{ bytes: number; held: number }> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', self, CHILD_FLAG], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  child.stdin.on('error', () => {});
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => JSON.parse((await lines.next()).value as string) as Record<string, number>;
  try {
    const { port } = await next();
    child.stdin.write('measure\n');
    const before = await next();
    const remote = { address: '127.0.0.1', port, family: 'IPv4' as const };
    let made = 0;
    // A socket per session (the server keys sessions by address and port), all kept open until the
    // measurement so that no port is reused; the client side is dropped silently so that the server
    // keeps every session, idle.
    const sockets: DtlsEndpoint[] = [];
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (made < sessions) {
          made++;
          const ep = await DtlsEndpoint.open({});
          sockets.push(ep);
          const a = await ep.connect(remote, { psk: { identity: IDENTITY, key: KEY } });
          a.destroy();
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 500));
    child.stdin.write('measure\n');
    const after = await next();
    child.stdin.write('exit\n');
    await Promise.all(sockets.map((e) => e.close()));
    const held = after.sessions - before.sessions;
    return { bytes: (after.heap - before.heap) / held, held };
  } finally {
    setTimeout(() => child.kill('SIGKILL'), 2000).unref();
  }
}

const MODE_NAMES: Record<PhaseResult['mode'], string> = {
  psk: 'psk',
  x509: 'x509, server auth',
  'x509-mutual': 'x509, mutual auth',
  'rpk-mutual': 'rpk, mutual auth',
};

/** The comparison table: one line per mode, each server's handshakes/s and ours ÷ that server. */
function formatServers(results: PhaseResult[], seconds: number): string {
  const peers = ['openssl s_server', 'gnutls-serv'] as const;
  const fmt = (r: PhaseResult | undefined) =>
    r === undefined ? '—' : r.rate === undefined ? `failed: ${r.error ?? '?'}` : r.rate.toFixed(1);
  const lines = [
    `Servers compared: our client, one handshake in flight, fresh port + close_notify each (${seconds} s per phase)`,
    `  ${'mode'.padEnd(30)} ${'ours'.padStart(9)} ${'openssl'.padStart(9)} ${'ours÷ossl'.padStart(9)} ${'gnutls'.padStart(9)} ${'ours÷gnutls'.padStart(11)}`,
  ];
  const keys = [...new Set(results.map((r) => `${r.mode}|${r.resumed}`))];
  for (const key of keys) {
    const [mode, resumed] = key.split('|') as [PhaseResult['mode'], string];
    const pick = (server: PhaseResult['server']) =>
      results.find((r) => r.mode === mode && String(r.resumed) === resumed && r.server === server);
    const ours = pick('ours');
    const cells = peers.map((p) => {
      const r = pick(p);
      const ratio = ours?.rate && r?.rate ? `${(ours.rate / r.rate).toFixed(2)}×` : '—';
      return [fmt(r), ratio] as const;
    });
    lines.push(
      `  ${`${MODE_NAMES[mode]}${resumed === 'true' ? ', resumed' : ''}`.padEnd(30)} ${fmt(ours).padStart(9)} ${cells[0][0].padStart(9)} ${cells[0][1].padStart(9)} ${cells[1][0].padStart(9)} ${cells[1][1].padStart(11)}`,
    );
  }
  const failures = results.filter((r) => r.error);
  for (const f of failures) lines.push(`  note: ${f.mode}${f.resumed ? ' resumed' : ''} → ${f.server}: ${f.error}`);
  return `${lines.join('\n')}\n`;
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '4' },
      sessions: { type: 'string', default: '10000' },
      'no-peers': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const sessions = Number(values.sessions);
  const rows: Row[] = [];
  const pki = await makePki();
  const server = await startServer(pki.server);
  const port = server.address().port;
  let ceiling: ReturnType<typeof measureP256Ceiling> | undefined;
  try {
    rows.push({
      name: 'psk full handshakes (ours ↔ ours)',
      value: await handshakeRate(port, seconds, concurrency, false),
      unit: '/s',
    });
    rows.push({
      name: 'psk resumed handshakes (ours ↔ ours)',
      value: await handshakeRate(port, seconds, concurrency, true),
      unit: '/s',
    });
    rows.push({
      name: 'rpk full handshakes, client auth (ours ↔ ours)',
      value: await handshakeRate(port, seconds, concurrency, false, pki.rpkClient),
      unit: '/s',
    });
    rows.push({
      name: 'x509 full handshakes, mutual auth (ours ↔ ours)',
      value: await handshakeRate(port, seconds, concurrency, false, pki.x509Client),
      unit: '/s',
      note: 'chains of 2 certificates each way',
    });
    try {
      ceiling = measureP256Ceiling({ seconds: Math.max(1, Math.min(seconds, 2)), chainSignatures: 2 });
      rows.push({
        name: 'rpk ceiling: P-256 ops alone, both sides, one core',
        value: ceiling.rpk.bothSides,
        unit: '/s',
        note: 'openssl speed',
      });
      rows.push({
        name: 'x509 ceiling: P-256 ops alone, both sides, one core',
        value: ceiling.x509Mutual.bothSides,
        unit: '/s',
        note: 'openssl speed',
      });
    } catch (err) {
      process.stderr.write(`P-256 ceiling not measured: ${(err as Error).message}\n`);
    }
  } finally {
    await server.close();
  }
  const servers = values['no-peers']
    ? []
    : await compareServers({ seconds, progress: values.json ? undefined : (l) => progressStep(l.trim()) });
  const heap = await heapPerSession(sessions, concurrency);
  rows.push({
    name: `heap per idle psk session (${heap.held} sessions held)`,
    value: heap.bytes,
    unit: 'bytes',
    note: 'server process, heapUsed + arrayBuffers, after gc',
  });
  if (values.json) process.stdout.write(`${JSON.stringify({ rows, ceiling, servers })}\n`);
  else {
    process.stdout.write(`DTLS benchmark (loopback, ${seconds} s per row, concurrency ${concurrency})\n`);
    for (const r of rows) {
      process.stdout.write(
        `  ${r.name.padEnd(56)} ${r.value.toFixed(r.unit === '/s' ? 1 : 0).padStart(10)} ${r.unit}${r.note ? `   (${r.note})` : ''}\n`,
      );
    }
    if (ceiling) process.stdout.write(`${formatCeiling(ceiling)}\n`);
    if (servers.length > 0) process.stdout.write(formatServers(servers, seconds));
  }
  return 0;
}

if (process.argv.includes(CHILD_FLAG)) void childMain();

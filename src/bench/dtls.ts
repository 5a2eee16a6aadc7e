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
 *   - Third-party peers in the same run: gnutls-cli and openssl s_client handshaking with our
 *     server, one process per handshake (so the figure includes their process start; it is a
 *     peer figure, not a ceiling).
 *
 * Options: --seconds S (default 3) --concurrency N (default 4) --sessions N (default 10000)
 *          --no-peers (skip the third-party rows) --json
 */
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PinnedKeys, type PublicKeyCredentials } from '../dtls/credentials/index.ts';
import { DtlsEndpoint } from '../dtls/endpoint.ts';
import type { ClientConfig } from '../dtls/handshake/client.ts';
import type { SessionState } from '../dtls/handshake/types.ts';
import { DtlsServer, loadTrustAnchors, ownCertificate, ownRawPublicKey } from '../dtls/index.ts';
import { createCa, generateKeyPem, issueCertificate } from '../pki/index.ts';
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
  const remote = { address: '127.0.0.1', port, family: 'IPv4' as const };
  const endpoints = await Promise.all(Array.from({ length: concurrency }, () => DtlsEndpoint.open({})));
  // One full handshake each gives the sessions to resume.
  const sessions: SessionState[] = [];
  for (const ep of endpoints) {
    const a = await ep.connect(remote, cfg);
    sessions.push(a.session);
    await a.close();
  }
  let count = 0;
  const deadline = Date.now() + seconds * 1000;
  const start = process.hrtime.bigint();
  await Promise.all(
    endpoints.map(async (ep, i) => {
      while (Date.now() < deadline) {
        const a = await ep.connect(remote, resume ? { ...cfg, session: sessions[i] } : cfg);
        if (a.resumed !== resume) throw new Error('unexpected resumption state');
        count++;
        await a.close();
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  await Promise.all(endpoints.map((e) => e.close()));
  return count / elapsed;
}

/**
 * Third-party client handshakes against our server, one process at a time (asynchronously: the
 * server shares this event loop); returns handshakes/s or undefined when the peer is missing.
 */
async function peerRate(cmd: string, args: string[], seconds: number, parallel: number): Promise<number | undefined> {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) return undefined;
  let ok = 0;
  const deadline = Date.now() + seconds * 1000;
  const start = Date.now();
  const worker = async () => {
    while (Date.now() < deadline) {
      const code = await new Promise<number | null>((resolve) => {
        const p = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'] });
        const t = setTimeout(() => p.kill('SIGKILL'), 5000);
        p.on('exit', (c) => {
          clearTimeout(t);
          resolve(c);
        });
        p.on('error', () => resolve(-1));
      });
      if (code === 0) ok++;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return ok / ((Date.now() - start) / 1000);
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
    if (!values['no-peers']) {
      const hex = KEY.toString('hex');
      const g = await peerRate(
        'gnutls-cli',
        [
          '--udp',
          '--port',
          String(port),
          '--pskusername',
          IDENTITY,
          '--pskkey',
          hex,
          '--priority',
          'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK:-CIPHER-ALL:+AES-128-CCM-8',
          '127.0.0.1',
        ],
        seconds,
        concurrency,
      );
      if (g !== undefined) {
        rows.push({
          name: 'psk full handshakes (gnutls-cli → ours)',
          value: g,
          unit: '/s',
          note: `one process per handshake, ${concurrency} at a time`,
        });
      }
      const o = await peerRate(
        'openssl',
        [
          's_client',
          '-dtls1_2',
          '-connect',
          `127.0.0.1:${port}`,
          '-psk',
          hex,
          '-psk_identity',
          IDENTITY,
          '-cipher',
          'PSK-AES128-CCM8',
        ],
        seconds,
        concurrency,
      );
      if (o !== undefined) {
        rows.push({
          name: 'psk full handshakes (openssl s_client → ours)',
          value: o,
          unit: '/s',
          note: `one process per handshake, ${concurrency} at a time`,
        });
      }
    }
  } finally {
    await server.close();
  }
  const heap = await heapPerSession(sessions, concurrency);
  rows.push({
    name: `heap per idle psk session (${heap.held} sessions held)`,
    value: heap.bytes,
    unit: 'bytes',
    note: 'server process, heapUsed + arrayBuffers, after gc',
  });
  if (values.json) process.stdout.write(`${JSON.stringify({ rows, ceiling })}\n`);
  else {
    process.stdout.write(`DTLS benchmark (loopback, ${seconds} s per row, concurrency ${concurrency})\n`);
    for (const r of rows) {
      process.stdout.write(
        `  ${r.name.padEnd(56)} ${r.value.toFixed(r.unit === '/s' ? 1 : 0).padStart(10)} ${r.unit}${r.note ? `   (${r.note})` : ''}\n`,
      );
    }
    if (ceiling) process.stdout.write(`${formatCeiling(ceiling)}\n`);
  }
  return 0;
}

if (process.argv.includes(CHILD_FLAG)) void childMain();

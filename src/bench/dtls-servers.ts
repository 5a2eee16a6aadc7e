/**
 * Server-to-server comparison for `npm run bench -- dtls`: ONE client — ours (src/dtls, in this
 * process) — doing sequential full handshakes for a fixed time against each server in turn, in the
 * same run:
 *
 *   - our DtlsServer, in a child process (so that the server does not share the client's event loop),
 *   - `openssl s_server -dtls1_2` (PSK; X.509 with a P-256 certificate; X.509 with `-Verify 1`),
 *   - `gnutls-serv --udp` (PSK; X.509; X.509 with a required client certificate; RFC 7250 raw
 *     public keys, which only GnuTLS of the two offers).
 *
 * One handshake in flight at a time, a fresh client port (a new UDP socket) for each, close_notify
 * after each: the pattern a sequential server such as `s_server` can serve at all, and the same load
 * for every server. Resumed (abbreviated, RFC 5246 §7.3) handshakes are measured against every
 * server that resumes a session ID across clients.
 *
 * No peer can hang the bench: every handshake has a deadline, a phase stops after three failures
 * in a row, every peer process has a hard lifetime and is killed when its phases end or this
 * process exits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PinnedKeys } from '../dtls/credentials/index.ts';
import type { ClientAuth } from '../dtls/credentials/keys.ts';
import { DtlsEndpoint } from '../dtls/endpoint.ts';
import type { ClientConfig } from '../dtls/handshake/client.ts';
import type { SessionState } from '../dtls/handshake/types.ts';
import { DtlsServer, loadTrustAnchors, ownCertificate, ownRawPublicKey } from '../dtls/index.ts';
import { createCa, generateKeyPem, issueCertificate, rawPublicKey } from '../pki/index.ts';
import { hasBinary, secretDir, stopChild } from './child.ts';

const SERVER_FLAG = '--dtls-bench-server';
const IDENTITY = 'bench';
const KEY_HEX = '000102030405060708090a0b0c0d0e0f';
const KEY = Buffer.from(KEY_HEX, 'hex');
/** A handshake that takes longer than this on loopback has stalled. */
const HANDSHAKE_DEADLINE_MS = 3000;
/** Consecutive failures after which a phase gives up on its server. */
const MAX_FAILURES_IN_A_ROW = 3;

const GNUTLS_PRIORITY = {
  psk: 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK:-CIPHER-ALL:+AES-128-CCM-8',
  x509: 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-CCM-8:-KX-ALL:+ECDHE-ECDSA:-GROUP-ALL:+GROUP-SECP256R1',
  rpk: 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-CIPHER-ALL:+AES-128-CCM-8:-KX-ALL:+ECDHE-ECDSA:-GROUP-ALL:+GROUP-SECP256R1:-CTYPE-ALL:+CTYPE-SRV-RAWPK:+CTYPE-CLI-RAWPK',
} as const;

export type Mode = 'psk' | 'x509' | 'x509-mutual' | 'rpk-mutual';
export type ServerName = 'ours' | 'openssl s_server' | 'gnutls-serv';

export interface PhaseResult {
  mode: Mode;
  resumed: boolean;
  server: ServerName;
  /** Handshakes/s, or undefined when the server could not be measured (see `error`). */
  rate?: number;
  ok: number;
  failed: number;
  error?: string;
}

/** The files on disk (for the peers and our child server) and the client configurations. */
export interface Material {
  dir: string;
  files: {
    root: string;
    serverLeaf: string;
    serverKey: string;
    intermediate: string;
    /** Server leaf followed by the intermediate. */
    serverChain: string;
    serverRpkKey: string;
    serverRpkSpki: string;
    clientRpkSpki: string;
    psk: string;
  };
  client: Record<Mode, ClientConfig>;
}

/** Root → intermediate → (server, device) certificates, and raw key pairs, written to a temp dir. */
export async function makeMaterial(): Promise<Material> {
  const root = await createCa({ cn: 'Bench Root' });
  const intermediate = await createCa({ cn: 'Bench Intermediate', parent: root });
  const server = await issueCertificate({ ca: intermediate, cn: 'localhost', dns: ['localhost'], ip: ['127.0.0.1'] });
  const device = await issueCertificate({ ca: intermediate, cn: 'bench-device' });
  const serverRpkKey = await generateKeyPem();
  const clientRpkKey = await generateKeyPem();
  const { dir, write } = secretDir('securesense-dtlsbench-');
  const files = {
    root: write('root.pem', root.certPem),
    serverLeaf: write('server.pem', server.certPem),
    serverKey: write('server-key.pem', server.keyPem ?? ''),
    intermediate: write('intermediate.pem', intermediate.certPem),
    serverChain: write('server-chain.pem', server.chainPem),
    serverRpkKey: write('server-rpk-key.pem', serverRpkKey),
    serverRpkSpki: write('server-rpk.pem', rawPublicKey(serverRpkKey).spkiPem),
    clientRpkSpki: write('client-rpk.pem', rawPublicKey(clientRpkKey).spkiPem),
    psk: write('psk.txt', `${IDENTITY}:${KEY_HEX}\n`),
  };
  const anchors = loadTrustAnchors(root.certPem);
  const clientRpk = ownRawPublicKey(clientRpkKey);
  const serverSpki = ownRawPublicKey(serverRpkKey).spki;
  return {
    dir,
    files,
    client: {
      psk: { psk: { identity: IDENTITY, key: KEY } },
      x509: { pki: { trust: { anchors } }, peerName: '127.0.0.1' },
      'x509-mutual': {
        pki: { certificate: ownCertificate(device.keyPem ?? '', device.chainPem), trust: { anchors } },
        peerName: '127.0.0.1',
      },
      'rpk-mutual': { pki: { rpk: clientRpk, trust: { pinnedKeys: new PinnedKeys([serverSpki]) } } },
    },
  };
}

// --- peer processes ---------------------------------------------------------------------------------

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface Launched {
  proc: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/**
 * Spawns a server, waits until its output matches `ready` (and yields the port, for our child
 * server), and kills it after `lifetimeMs` whatever happens.
 */
async function launchServer(
  cmd: string,
  args: string[],
  ready: RegExp,
  lifetimeMs: number,
  port?: number,
): Promise<Launched> {
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(proc);
  proc.stdin?.on('error', () => {});
  const kill = setTimeout(() => proc.kill('SIGKILL'), lifetimeMs);
  kill.unref();
  const exited = new Promise<void>((resolve) => {
    proc.on('exit', () => {
      live.delete(proc);
      clearTimeout(kill);
      resolve();
    });
    proc.on('error', () => {
      live.delete(proc);
      clearTimeout(kill);
      resolve();
    });
  });
  let out = '';
  const found = await new Promise<number | undefined>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} not ready after 10 s: ${out.slice(-300)}`)), 10_000);
    const onData = (d: Buffer) => {
      // Both peers print per connection; the pipes are drained for the whole run so they never block.
      if (out.length < 16_384) out += d.toString('latin1');
      const m = out.match(ready);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] !== undefined ? Number(m[1]) : port);
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited before it was ready: ${out.slice(-300)}`));
    });
  }).catch((err: Error) => {
    proc.kill('SIGKILL');
    throw err;
  });
  if (found === undefined) throw new Error(`${cmd}: no port`);
  // gnutls-serv and s_server print before their socket loop runs; give them a moment.
  await new Promise((r) => setTimeout(r, 100));
  return {
    proc,
    port: found,
    stop: () => stopChild(proc, 1000),
  };
}

/** A free UDP port on 127.0.0.1 (bound and released; the peers need a number on their command line). */
async function freeUdpPort(): Promise<number> {
  const ep = await DtlsEndpoint.open({});
  const port = ep.address().port;
  await ep.close();
  return port;
}

async function startOurs(m: Material, clientAuth: ClientAuth, lifetimeMs: number): Promise<Launched> {
  const self = fileURLToPath(import.meta.url);
  return launchServer(
    process.execPath,
    ['--import', 'tsx', self, SERVER_FLAG, m.dir, clientAuth],
    /"port":(\d+)/,
    lifetimeMs,
  );
}

async function startOpenssl(m: Material, mode: Mode, lifetimeMs: number): Promise<Launched> {
  const port = await freeUdpPort();
  const args = ['s_server', '-dtls1_2', '-accept', `127.0.0.1:${port}`];
  if (mode === 'psk') args.push('-nocert', '-psk', KEY_HEX, '-psk_identity', IDENTITY, '-cipher', 'PSK-AES128-CCM8');
  else {
    args.push('-cipher', 'ECDHE-ECDSA-AES128-CCM8', '-cert', m.files.serverLeaf, '-key', m.files.serverKey);
    args.push('-cert_chain', m.files.intermediate, '-groups', 'P-256');
    if (mode === 'x509-mutual') args.push('-CAfile', m.files.root, '-Verify', '1', '-verify_return_error');
  }
  return launchServer('openssl', args, /ACCEPT/, lifetimeMs, port);
}

async function startGnutls(m: Material, mode: Mode, lifetimeMs: number): Promise<Launched> {
  const port = await freeUdpPort();
  const args = ['--udp', '--echo', '-p', String(port)];
  if (mode === 'psk') args.push('--pskpasswd', m.files.psk, '--priority', GNUTLS_PRIORITY.psk);
  else if (mode === 'rpk-mutual') {
    args.push('--priority', GNUTLS_PRIORITY.rpk, '--rawpkkeyfile', m.files.serverRpkKey);
    args.push('--rawpkfile', m.files.serverRpkSpki, '--require-client-cert');
  } else {
    args.push('--priority', GNUTLS_PRIORITY.x509, '--x509certfile', m.files.serverChain);
    args.push('--x509keyfile', m.files.serverKey);
    if (mode === 'x509-mutual') {
      args.push('--x509cafile', m.files.root, '--require-client-cert', '--verify-client-cert');
    }
  }
  return launchServer('gnutls-serv', args, /listening on IPv4/, lifetimeMs, port);
}

/** Starts `server` configured for `mode` (our server: client authentication as the mode says). */
export function startTarget(server: ServerName, mode: Mode, m: Material, lifetimeMs: number): Promise<Launched> {
  if (server === 'ours') return startOurs(m, mode.endsWith('mutual') ? 'need' : 'none', lifetimeMs);
  if (server === 'openssl s_server') return startOpenssl(m, mode, lifetimeMs);
  return startGnutls(m, mode, lifetimeMs);
}

/** Removes the temp directory of `makeMaterial`. */
export function removeMaterial(m: Material): void {
  rmSync(m.dir, { recursive: true, force: true });
}

// --- the client loop --------------------------------------------------------------------------------

/** One handshake from a fresh socket, closed with close_notify; rejects after the deadline. */
export async function oneHandshake(
  port: number,
  cfg: ClientConfig,
): Promise<{ session: SessionState; resumed: boolean; cipherSuite: string }> {
  const ep = await DtlsEndpoint.open({});
  let timer: NodeJS.Timeout | undefined;
  try {
    const a = await Promise.race([
      ep.connect({ address: '127.0.0.1', port, family: 'IPv4' }, cfg, { retransmitInitialMs: 500 }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('handshake stalled')), HANDSHAKE_DEADLINE_MS);
      }),
    ]);
    const out = { session: a.session, resumed: a.resumed, cipherSuite: a.cipherSuite };
    await a.close();
    return out;
  } finally {
    clearTimeout(timer);
    await ep.close();
  }
}

/**
 * Sequential handshakes against `port` for `seconds`: one warm-up handshake (which also gives the
 * session to resume), then as many as fit. Stops early after three failures in a row.
 */
async function phase(
  port: number,
  cfg: ClientConfig,
  seconds: number,
  resume: boolean,
): Promise<Omit<PhaseResult, 'mode' | 'server' | 'resumed'>> {
  let session: SessionState;
  try {
    session = (await oneHandshake(port, cfg)).session;
  } catch (err) {
    return { ok: 0, failed: 1, error: (err as Error).message };
  }
  const c = resume ? { ...cfg, session } : cfg;
  let ok = 0;
  let failed = 0;
  let inARow = 0;
  let error: string | undefined;
  const start = process.hrtime.bigint();
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    try {
      const r = await oneHandshake(port, c);
      if (r.resumed !== resume) {
        return { ok, failed: failed + 1, error: resume ? 'the server did not resume the session' : 'resumed?' };
      }
      ok++;
      inARow = 0;
    } catch (err) {
      failed++;
      error = (err as Error).message;
      if (++inARow >= MAX_FAILURES_IN_A_ROW) return { ok, failed, error: `gave up: ${error}` };
    }
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  return { rate: ok / elapsed, ok, failed, error };
}

interface Plan {
  server: ServerName;
  /** Starts the server for a mode; one process serves the phases of that mode. */
  start(mode: Mode): Promise<Launched>;
  modes: Mode[];
  /** Modes in which a resumed-handshake phase follows the full one. */
  resume: Mode[];
}

/**
 * Runs every (mode, server) phase. Order: by mode, then ours / openssl / gnutls, so that the
 * figures compared with each other are measured seconds apart.
 */
export async function compareServers(opts: {
  seconds: number;
  progress?: (line: string) => void;
}): Promise<PhaseResult[]> {
  const m = await makeMaterial();
  const modes: Mode[] = ['psk', 'x509', 'x509-mutual', 'rpk-mutual'];
  const lifetimeMs = (opts.seconds * 2 + 15) * 1000;
  const plans: Plan[] = [
    {
      server: 'ours',
      // One server per mode, as for the peers; client authentication as the peer's mode asks.
      start: (mode) => startTarget('ours', mode, m, lifetimeMs),
      modes,
      resume: ['psk', 'x509-mutual'],
    },
  ];
  if (hasBinary('openssl')) {
    plans.push({
      server: 'openssl s_server',
      start: (mode) => startTarget('openssl s_server', mode, m, lifetimeMs),
      modes: ['psk', 'x509', 'x509-mutual'],
      resume: ['psk', 'x509-mutual'],
    });
  }
  if (hasBinary('gnutls-serv')) {
    plans.push({
      server: 'gnutls-serv',
      start: (mode) => startTarget('gnutls-serv', mode, m, lifetimeMs),
      modes,
      resume: ['psk', 'x509-mutual'],
    });
  }
  const results: PhaseResult[] = [];
  // Ctrl-C or a kill would end this process without its 'exit' handlers: take the peers along.
  const onSignal = (signal: NodeJS.Signals) => {
    for (const p of live) p.kill('SIGKILL');
    removeMaterial(m);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const mode of modes) {
      for (const plan of plans) {
        if (!plan.modes.includes(mode)) continue;
        const runs = plan.resume.includes(mode) ? [false, true] : [false];
        let srv: Launched | undefined;
        try {
          srv = await plan.start(mode);
          for (const resumed of runs) {
            const r = await phase(srv.port, m.client[mode], opts.seconds, resumed);
            results.push({ mode, resumed, server: plan.server, ...r });
            opts.progress?.(
              `  ${mode}${resumed ? ' resumed' : ''} → ${plan.server}: ${r.rate?.toFixed(1) ?? '-'} /s${r.error ? ` (${r.error})` : ''}`,
            );
          }
        } catch (err) {
          const error = (err as Error).message.split('\n')[0];
          opts.progress?.(`  ${mode} → ${plan.server}: not measured (${error})`);
          for (const resumed of runs) {
            if (!results.some((r) => r.mode === mode && r.resumed === resumed && r.server === plan.server)) {
              results.push({ mode, resumed, server: plan.server, ok: 0, failed: 0, error });
            }
          }
        } finally {
          await srv?.stop();
        }
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    removeMaterial(m);
  }
  return results;
}

// --- our server, in the child process ---------------------------------------------------------------

async function serverMain(dir: string, clientAuth: ClientAuth): Promise<void> {
  const read = (name: string) => readFileSync(join(dir, name), 'utf8');
  const server = await DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === IDENTITY ? KEY : undefined),
    certificate: ownCertificate(read('server-key.pem'), read('server-chain.pem')),
    rpk: ownRawPublicKey(read('server-rpk-key.pem')),
    trust: {
      anchors: loadTrustAnchors(read('root.pem')),
      pinnedKeys: new PinnedKeys([read('client-rpk.pem')]),
    },
    clientAuth,
    idleTimeoutMs: 0,
  });
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  // Stops when the parent closes stdin or kills it.
  for await (const _ of createInterface({ input: process.stdin })) {
  }
  await server.close();
  process.exit(0);
}

if (process.argv[2] === SERVER_FLAG) {
  void serverMain(process.argv[3] ?? '', (process.argv[4] ?? 'none') as ClientAuth);
}

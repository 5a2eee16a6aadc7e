/**
 * The servers of `bench load`, each in its own process on 127.0.0.1: ours through the CLI
 * (`securesense coap serve`), libcoap's coap-server-notls / -gnutls / -openssl, and the `coap` npm
 * package's server; plus the credentials (PSK, raw public keys, X.509 from our `pki` library) that
 * both the servers and the generator read from a temp directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createCa, generateKeyPem, issueCertificate, rawPublicKey } from '../pki/index.ts';
import { secretDir } from './child.ts';

export const PSK_IDENTITY = 'bench';
/** libcoap's -k takes the key as text; ours and the generator take its bytes in hex. */
export const PSK_TEXT = 'bench-psk-key-0123';
export const PSK_HEX = Buffer.from(PSK_TEXT).toString('hex');
const BIN = fileURLToPath(new URL('../../bin/securesense.mjs', import.meta.url));

/** Security of a server (and of the generator's handshakes). */
export type Security = 'none' | 'psk' | 'rpk' | 'x509' | 'x509-mutual';

export type TargetName = 'ours' | 'coap-server-notls' | 'coap-server-gnutls' | 'coap-server-openssl' | 'coap (npm)';

export const TARGETS: readonly TargetName[] = [
  'ours',
  'coap-server-notls',
  'coap-server-gnutls',
  'coap-server-openssl',
  'coap (npm)',
];

/** Files on disk for the servers and the generator. Certificates are issued by the root directly. */
export interface Material {
  dir: string;
  root: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  serverRpkKey: string;
  /** libcoap's -M wants the private and the public key in one PEM file. */
  serverRpkBoth: string;
  clientRpkKey: string;
  clientRpkSpki: string;
}

export async function makeMaterial(): Promise<Material> {
  const root = await createCa({ cn: 'Load Bench Root' });
  const server = await issueCertificate({ ca: root, cn: 'localhost', dns: ['localhost'], ip: ['127.0.0.1'] });
  const client = await issueCertificate({ ca: root, cn: 'load-bench-device' });
  const serverRpk = await generateKeyPem();
  const clientRpk = await generateKeyPem();
  const { dir, write } = secretDir('securesense-loadbench-');
  return {
    dir,
    root: write('root.pem', root.certPem),
    serverCert: write('server.pem', server.certPem),
    serverKey: write('server-key.pem', server.keyPem ?? ''),
    clientCert: write('client.pem', client.certPem),
    clientKey: write('client-key.pem', client.keyPem ?? ''),
    serverRpkKey: write('server-rpk-key.pem', serverRpk),
    serverRpkBoth: write('server-rpk-both.pem', `${serverRpk}${rawPublicKey(serverRpk).spkiPem}`),
    clientRpkKey: write('client-rpk-key.pem', clientRpk),
    clientRpkSpki: write('client-rpk.pem', rawPublicKey(clientRpk).spkiPem),
  };
}

export function removeMaterial(m: Material): void {
  rmSync(m.dir, { recursive: true, force: true });
}

/** The binary a target needs, if any. */
export function targetBinary(t: TargetName): string | undefined {
  return t.startsWith('coap-server-') ? t : undefined;
}

/** Which securities a target serves: notls and the npm package have no DTLS; RPK is GnuTLS-only in libcoap. */
export function serves(t: TargetName, sec: Security): boolean {
  if (t === 'coap-server-notls' || t === 'coap (npm)') return sec === 'none';
  if (t === 'coap-server-openssl') return sec !== 'rpk';
  return true;
}

export interface Running {
  target: TargetName;
  pid: number;
  /** The port that the generator loads: coap:// for 'none', coaps:// otherwise. */
  port: number;
  stop(): Promise<void>;
}

const UDP_FREE = async (port: number): Promise<boolean> => {
  const s = createSocket('udp4');
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
};

/** A free port P with P + 1 free as well (libcoap serves coaps:// on the port after its coap:// one). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    if ((await UDP_FREE(port)) && (await UDP_FREE(port + 1))) return port;
  }
  throw new Error('no free UDP port pair on 127.0.0.1');
}

function command(
  t: TargetName,
  sec: Security,
  m: Material,
  port: number,
  nodeFlags: string[] = [],
): { cmd: string; args: string[] } {
  if (t === 'ours') {
    // --quiet: no line per request, as libcoap's servers run here (-v 0) print none either.
    const args = [...nodeFlags, BIN, 'coap', 'serve', '--host', '127.0.0.1', '--port', String(port), '--quiet'];
    if (sec !== 'none') args.push('--dtls-port', String(port + 1));
    if (sec === 'psk') args.push('--psk', `${PSK_IDENTITY}:${PSK_HEX}`);
    if (sec === 'x509' || sec === 'x509-mutual') args.push('--cert', m.serverCert, '--key', m.serverKey);
    if (sec === 'x509-mutual') args.push('--ca', m.root, '--client-auth', 'need');
    if (sec === 'rpk') args.push('--rpk-key', m.serverRpkKey, '--trust-rpk', m.clientRpkSpki, '--client-auth', 'need');
    return { cmd: process.execPath, args };
  }
  if (t === 'coap (npm)') {
    // The npm package's server answering like the others: a short text.
    const code = `const coap = require('coap');
      coap.createServer((req, res) => { res.setOption('Content-Format', 'text/plain'); res.end(new Date().toISOString()); })
        .listen(${port}, '127.0.0.1');`;
    return { cmd: process.execPath, args: ['-e', code] };
  }
  const args = ['-A', '127.0.0.1', '-p', String(port), '-v', '0'];
  if (sec === 'psk') args.push('-k', PSK_TEXT);
  if (sec === 'x509') args.push('-c', m.serverCert, '-j', m.serverKey);
  if (sec === 'x509-mutual') args.push('-c', m.serverCert, '-j', m.serverKey, '-C', m.root);
  if (sec === 'rpk') args.push('-M', m.serverRpkBoth);
  return { cmd: t, args };
}

/** Resolves once a CON GET /time to coap://127.0.0.1:port answers; rejects after `ms`. */
async function answers(port: number, ms: number, proc: ChildProcess): Promise<void> {
  const s = createSocket('udp4');
  s.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      const get = Buffer.from([0x40, 0x01, 0x12, 0x34, 0xb4, ...Buffer.from('time')]);
      const timer = setInterval(() => s.send(get, port, '127.0.0.1'), 100);
      const deadline = setTimeout(() => fail(new Error(`no CoAP answer on port ${port} after ${ms} ms`)), ms);
      const fail = (err: Error) => {
        clearInterval(timer);
        clearTimeout(deadline);
        reject(err);
      };
      proc.once('exit', (code) => fail(new Error(`exited (${code}) before it answered`)));
      s.on('message', () => {
        clearInterval(timer);
        clearTimeout(deadline);
        resolve();
      });
      s.send(get, port, '127.0.0.1');
    });
  } finally {
    s.close();
  }
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Kills every server still running (for a signal handler). */
export function killAll(): void {
  for (const p of live) p.kill('SIGKILL');
}

/**
 * Starts `t` serving `sec`, killed after `lifetimeMs` whatever happens; ready once it answers a
 * CoAP GET on plain UDP (every target serves /time there, the DTLS ones as well). `nodeFlags`
 * go to our server's Node.js (a CPU profile, a GC setting being tried).
 */
export async function startTarget(
  t: TargetName,
  sec: Security,
  m: Material,
  lifetimeMs: number,
  nodeFlags: string[] = [],
): Promise<Running> {
  const port = await freePortPair();
  const { cmd, args } = command(t, sec, m, port, nodeFlags);
  // Ours (with --quiet) prints only its listening line; nothing reads the servers' stdout.
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(proc);
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  const kill = setTimeout(() => proc.kill('SIGKILL'), lifetimeMs);
  kill.unref();
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', () => {
      live.delete(proc);
      clearTimeout(kill);
      resolve();
    });
  });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t2 = setTimeout(() => proc.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(t2);
    }
  };
  try {
    await answers(port, 15_000, proc);
  } catch (err) {
    await stop();
    throw new Error(`${t}: ${(err as Error).message} ${stderr.trim().slice(-300)}`.trim());
  }
  if (proc.pid === undefined) throw new Error(`${t}: no pid`);
  return { target: t, pid: proc.pid, port: sec === 'none' ? port : port + 1, stop };
}

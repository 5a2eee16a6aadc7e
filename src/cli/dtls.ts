/**
 * `securesense dtls server|client`: the DTLS tools, used the way `openssl s_server/s_client` are.
 * They print one JSON line per event on stdout and human-readable errors on stderr.
 */
import { createInterface } from 'node:readline';
import { loadCredentialFiles, type PublicKeyCredentials } from '../dtls/credentials/index.ts';
import {
  alertName,
  connect,
  DtlsAlertError,
  type DtlsConnection,
  DtlsServer,
  type DtlsSession,
  DtlsTimeoutError,
  type PeerAddress,
} from '../dtls/index.ts';

export const summary = 'DTLS 1.2 server and client tools (PSK, RPK, X.509)';

const USAGE = `usage:
  securesense dtls server --port P [--host H] [--psk IDENTITY:HEXKEY …] [--hint TEXT]
                          [--cert FILE --key FILE] [--rpk-key FILE] [--ca FILE …] [--trust-rpk FILE …]
                          [--client-auth none|want|need] [--mtu N]
  securesense dtls client HOST:PORT [--psk IDENTITY:HEXKEY] [--cert FILE --key FILE] [--rpk-key FILE]
                          [--ca FILE …] [--trust-rpk FILE …] [--no-verify-name] [--server-name NAME]
                          [--send TEXT] [--resume] [--mtu N] [--timeout MS]
The server echoes every application-data record to its sender. Both print one JSON line per event
(handshake, data, alert, close) on stdout. --cert is a PEM certificate (its chain may follow it in the
file), --rpk-key a P-256 private key whose public key is our raw public key, --ca a trust anchor,
--trust-rpk a file of pinned public keys (PEM) or SHA-256 fingerprints. The mode (psk, rpk, x509) is
chosen per handshake from what both sides have.
`;

class UsageError extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string[]>;
  switches: Set<string>;
}

const SWITCHES = new Set(['--resume', '--help', '--no-verify-name']);

function parseArgs(args: string[]): Parsed {
  const out: Parsed = { positional: [], flags: new Map(), switches: new Set() };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (SWITCHES.has(a)) out.switches.add(a);
    else if (a.startsWith('--')) {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      out.flags.set(a, [...(out.flags.get(a) ?? []), v]);
    } else out.positional.push(a);
  }
  return out;
}

function one(p: Parsed, flag: string): string | undefined {
  const v = p.flags.get(flag);
  if (v && v.length > 1) throw new UsageError(`${flag} given twice`);
  return v?.[0];
}

function intFlag(p: Parsed, flag: string, min: number, max: number): number | undefined {
  const v = one(p, flag);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be an integer in ${min}..${max}`);
  return n;
}

/** IDENTITY:HEXKEY (the identity may itself contain ':'; the key is after the last one). */
export function parsePsk(spec: string): { identity: string; key: Buffer } {
  const i = spec.lastIndexOf(':');
  const identity = spec.slice(0, i);
  const hex = spec.slice(i + 1);
  if (i <= 0 || !/^([0-9a-fA-F]{2})+$/.test(hex)) throw new UsageError(`--psk '${spec}': expected IDENTITY:HEXKEY`);
  return { identity, key: Buffer.from(hex, 'hex') };
}

/** HOST:PORT or [IPv6]:PORT. */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port < 1 || port > 65535) throw new UsageError(`'${s}': expected HOST:PORT or [IPv6]:PORT`);
  return { host: m[1], port };
}

const emit = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
const peerName = (p: PeerAddress) => (p.family === 'IPv6' ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`);

/** The identity fields of a handshake line: psk identity; rpk fingerprint and SPKI; x509 subject, SANs, fingerprint. */
function identityFields(c: DtlsConnection): Record<string, unknown> {
  const id = c.identity;
  if (id.mode === 'psk') return { mode: 'psk', identity: id.identity };
  if (id.mode === 'rpk') return { mode: 'rpk', fingerprint: id.fingerprint, spki: id.spki.toString('base64') };
  return { mode: 'x509', subject: id.subject, sans: id.sans, fingerprint: id.fingerprint, chain: id.chain.length };
}

function handshakeEvent(c: DtlsConnection): Record<string, unknown> {
  return {
    event: 'handshake',
    peer: peerName(c.remote),
    ...identityFields(c),
    cipher: c.cipherSuite,
    resumed: c.resumed,
  };
}

/** The public-key flags, read from their files (errors name the file). */
function publicKeyFlags(p: Parsed, role: 'server' | 'client'): PublicKeyCredentials {
  const clientAuth = one(p, '--client-auth');
  if (clientAuth !== undefined && (role !== 'server' || !['none', 'want', 'need'].includes(clientAuth))) {
    throw new UsageError(
      role === 'server' ? '--client-auth must be none, want or need' : '--client-auth is a server flag',
    );
  }
  if (role === 'server' && p.switches.has('--no-verify-name'))
    throw new UsageError('--no-verify-name is a client flag');
  try {
    return loadCredentialFiles({
      cert: one(p, '--cert'),
      key: one(p, '--key'),
      ca: p.flags.get('--ca'),
      rpkKey: one(p, '--rpk-key'),
      trustRpk: p.flags.get('--trust-rpk'),
      clientAuth: clientAuth as 'none' | 'want' | 'need' | undefined,
      verifyName: p.switches.has('--no-verify-name') ? false : undefined,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function alertEvent(err: Error, peer?: PeerAddress): Record<string, unknown> {
  if (err instanceof DtlsAlertError) {
    return {
      event: 'alert',
      ...(peer ? { peer: peerName(peer) } : {}),
      alert: alertName(err.description),
      from: err.sent ? 'us' : 'peer',
      message: err.message,
    };
  }
  return { event: 'error', ...(peer ? { peer: peerName(peer) } : {}), message: err.message };
}

/** `npm start` and `securesense dtls server` share this: an echo server printing JSON events. */
export async function runEchoServer(opts: {
  host?: string;
  port: number;
  keys: Map<string, Buffer>;
  hint?: string;
  mtu?: number;
  pki?: PublicKeyCredentials;
}): Promise<DtlsServer> {
  const server = await DtlsServer.listen({
    host: opts.host,
    port: opts.port,
    psk: opts.keys.size > 0 ? (id) => opts.keys.get(id) : undefined,
    pskIdentityHint: opts.hint,
    mtu: opts.mtu,
    certificate: opts.pki?.certificate,
    rpk: opts.pki?.rpk,
    trust: opts.pki?.trust,
    clientAuth: opts.pki?.clientAuth,
  });
  const a = server.address();
  emit({ event: 'listening', address: a.address, port: a.port, family: a.family });
  server.on('connection', (c: DtlsConnection) => {
    emit(handshakeEvent(c));
    c.on('data', (d: Buffer) => {
      emit({ event: 'data', peer: peerName(c.remote), bytes: d.length, text: d.toString('utf8') });
      try {
        c.send(d);
      } catch {
        // The peer closed meanwhile.
      }
    });
    c.on('error', (err: Error) => emit(alertEvent(err, c.remote)));
    c.on('close', () => emit({ event: 'close', peer: peerName(c.remote) }));
  });
  server.on('handshakeError', (err: Error, peer: PeerAddress) => emit(alertEvent(err, peer)));
  return server;
}

async function server(p: Parsed): Promise<number> {
  const port = intFlag(p, '--port', 0, 65535);
  if (port === undefined) throw new UsageError('--port is required');
  const specs = p.flags.get('--psk') ?? [];
  const keys = new Map(specs.map((s) => parsePsk(s)).map((k) => [k.identity, k.key] as const));
  const pki = publicKeyFlags(p, 'server');
  if (keys.size === 0 && !pki.certificate && !pki.rpk) {
    throw new UsageError('give at least one credential: --psk, --cert/--key or --rpk-key');
  }
  const srv = await runEchoServer({
    host: one(p, '--host'),
    port,
    keys,
    hint: one(p, '--hint'),
    mtu: intFlag(p, '--mtu', 64, 65507),
    pki,
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await srv.close();
  return 0;
}

function failure(err: unknown): number {
  const e = err as Error;
  if (err instanceof DtlsAlertError) {
    emit(alertEvent(e));
    process.stderr.write(
      `securesense dtls: handshake failed: ${err.sent ? 'we sent' : 'the server sent'} alert ${alertName(err.description)} (${e.message})\n`,
    );
  } else if (err instanceof DtlsTimeoutError) {
    process.stderr.write(`securesense dtls: ${e.message} (no answer from the server)\n`);
  } else process.stderr.write(`securesense dtls: ${e.message}\n`);
  return 1;
}

/** Sends `text` until a reply arrives (application data is not retransmitted by DTLS) or `ms` passes. */
async function exchange(c: DtlsConnection, text: string, ms: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => {
      c.off('data', onData);
      reject(new Error(`no reply within ${ms} ms`));
    }, ms);
    const onData = (d: Buffer) => {
      clearTimeout(timer);
      resolve(d);
    };
    c.once('data', onData);
    c.send(Buffer.from(text));
  });
}

async function client(p: Parsed): Promise<number> {
  const target = p.positional[0];
  if (!target) throw new UsageError('HOST:PORT is required');
  const { host, port } = parseHostPort(target);
  const pskSpec = one(p, '--psk');
  const psk = pskSpec ? parsePsk(pskSpec) : undefined;
  const pki = publicKeyFlags(p, 'client');
  if (!psk && !pki.trust) {
    throw new UsageError(
      'give --psk, or --ca / --trust-rpk to verify the server (with --cert/--key or --rpk-key to authenticate)',
    );
  }
  const send = one(p, '--send');
  const timeout = intFlag(p, '--timeout', 1, 3_600_000) ?? 10_000;
  const base = {
    host,
    port,
    psk,
    certificate: pki.certificate,
    rpk: pki.rpk,
    trust: pki.trust,
    serverName: one(p, '--server-name'),
    mtu: intFlag(p, '--mtu', 64, 65507),
  };
  const rounds = p.switches.has('--resume') ? 2 : 1;
  let session: DtlsSession | undefined;
  for (let round = 0; round < rounds; round++) {
    let c: DtlsConnection;
    try {
      c = await connect({ ...base, session });
    } catch (err) {
      return failure(err);
    }
    emit(handshakeEvent(c));
    c.on('error', (err: Error) => emit(alertEvent(err, c.remote)));
    if (send !== undefined) {
      try {
        const reply = await exchange(c, send, timeout);
        emit({ event: 'data', peer: peerName(c.remote), bytes: reply.length, text: reply.toString('utf8') });
      } catch (err) {
        await c.close();
        return failure(err);
      }
    } else if (round === rounds - 1) {
      c.on('data', (d: Buffer) =>
        emit({ event: 'data', peer: peerName(c.remote), bytes: d.length, text: d.toString('utf8') }),
      );
      const closedByPeer = new Promise<void>((resolve) => c.once('close', () => resolve()));
      const rl = createInterface({ input: process.stdin });
      const lines = (async () => {
        for await (const line of rl) c.send(Buffer.from(line));
        // Give the last reply a moment to come back.
        await new Promise((r) => setTimeout(r, 500));
      })();
      await Promise.race([lines, closedByPeer]);
      rl.close();
    }
    session = c.session;
    await c.close();
    emit({ event: 'close', peer: peerName(c.remote) });
  }
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    const p = parseArgs(rest);
    if (p.switches.has('--help') || !sub || sub === 'help') {
      process.stdout.write(USAGE);
      return sub ? 0 : 2;
    }
    if (sub === 'server') return await server(p);
    if (sub === 'client') return await client(p);
    throw new UsageError(`unknown sub-command '${sub}'`);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`securesense dtls: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

/**
 * `securesense dtls server|client`: the DTLS tools, used the way `openssl s_server/s_client` are.
 * They print one JSON line per event on stdout and human-readable errors on stderr.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  type DtlsClientSecurity,
  type DtlsServerSecurity,
  dtlsClientSecurity,
  dtlsServerSecurity,
  type ParsedSecurityFlags,
  readSecurityFlags,
  SECURITY_FLAG_SPECS,
} from '../dtls/credentials/flags.ts';
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
import { type DtlsLimitOptions, LIMIT_FLAG_SPECS, LIMIT_FLAGS_USAGE, readLimitFlags } from './dtls-limits.ts';

export const summary = 'DTLS 1.2 server and client tools (PSK, RPK, X.509)';

const USAGE = `usage:
  securesense dtls server --port P [--host H] [--psk IDENTITY:HEXKEY …] [--hint TEXT]
                          [--cert FILE --key FILE] [--rpk-key FILE] [--ca FILE …] [--trust-rpk FILE …]
                          [--client-auth none|want|need] [--mtu N]
                          [--max-sessions N] [--max-handshakes N] [--handshake-timeout MS]
                          [--idle-timeout MS] [--recv-buffer BYTES]
  securesense dtls client HOST:PORT [--psk IDENTITY:HEXKEY] [--cert FILE --key FILE] [--rpk-key FILE]
                          [--ca FILE …] [--trust-rpk FILE …] [--no-verify-name] [--server-name NAME]
                          [--send TEXT] [--resume] [--mtu N] [--timeout MS]
The server echoes every application-data record to its sender. Both print one JSON line per event
(handshake, data, alert, close) on stdout. --cert is a PEM certificate (its chain may follow it in the
file), --rpk-key a P-256 private key whose public key is our raw public key, --ca a trust anchor,
--trust-rpk a file of pinned public keys (PEM) or SHA-256 fingerprints. The mode (psk, rpk, x509) is
chosen per handshake from what both sides have.
Server ${LIMIT_FLAGS_USAGE}
`;

class UsageError extends Error {}

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'server-name': { type: 'string' },
  send: { type: 'string' },
  resume: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean' },
  ...SECURITY_FLAG_SPECS,
  ...LIMIT_FLAG_SPECS,
} as const;

const parseTokens = (args: string[]) =>
  parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true, tokens: true });

interface Parsed {
  positional: string[];
  values: ReturnType<typeof parseTokens>['values'];
}

function parse(args: string[]): Parsed {
  let r: ReturnType<typeof parseTokens>;
  try {
    r = parseTokens(args);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  // parseArgs keeps the last of a repeated single-valued flag; a repeated --port is a mistake worth saying.
  const seen = new Set<string>();
  for (const tok of r.tokens) {
    if (tok.kind !== 'option') continue;
    if ('multiple' in OPTIONS[tok.name as keyof typeof OPTIONS]) continue;
    if (seen.has(tok.name)) throw new UsageError(`${tok.rawName} given twice`);
    seen.add(tok.name);
  }
  return { positional: r.positionals, values: r.values };
}

function intFlag(v: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${flag} must be an integer in ${min}..${max}`);
  return n;
}

/** The security flags for one role, checked and read (errors name the flag and the file). */
function securityFlags(p: Parsed, role: 'server' | 'client'): ParsedSecurityFlags {
  try {
    return readSecurityFlags(p.values, role);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
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

/** `securesense dtls server`: an echo server printing JSON events. */
export async function runEchoServer(opts: {
  host?: string;
  port: number;
  security: DtlsServerSecurity;
  limits?: DtlsLimitOptions;
}): Promise<DtlsServer> {
  const server = await DtlsServer.listen({ host: opts.host, port: opts.port, ...opts.security, ...opts.limits });
  const a = server.address();
  emit({ event: 'listening', address: a.address, port: a.port, family: a.family, recvBuffer: server.recvBufferSize() });
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
  const port = intFlag(p.values.port, '--port', 0, 65535);
  if (port === undefined) throw new UsageError('--port is required');
  const security = dtlsServerSecurity(securityFlags(p, 'server'));
  if (!security) throw new UsageError('give at least one credential: --psk, --cert/--key or --rpk-key');
  let limits: DtlsLimitOptions;
  try {
    limits = readLimitFlags(p.values);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const srv = await runEchoServer({ host: p.values.host, port, security, limits });
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
  for (const flag of Object.keys(LIMIT_FLAG_SPECS)) {
    if (p.values[flag as keyof typeof LIMIT_FLAG_SPECS] !== undefined)
      throw new UsageError(`--${flag} is a server flag`);
  }
  let security: DtlsClientSecurity | undefined;
  try {
    security = dtlsClientSecurity(securityFlags(p, 'client'));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!security) {
    throw new UsageError(
      'give --psk, or --ca / --trust-rpk to verify the server (with --cert/--key or --rpk-key to authenticate)',
    );
  }
  const send = p.values.send;
  const timeout = intFlag(p.values.timeout, '--timeout', 1, 3_600_000) ?? 10_000;
  const base = { host, port, ...security, serverName: p.values['server-name'] };
  const rounds = p.values.resume ? 2 : 1;
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
    if (!sub || sub === 'help' || sub === '--help' || rest.includes('--help')) {
      process.stdout.write(USAGE);
      return sub ? 0 : 2;
    }
    if (sub === 'server') return await server(parse(rest));
    if (sub === 'client') return await client(parse(rest));
    throw new UsageError(`unknown sub-command '${sub}'`);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`securesense dtls: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
}

/**
 * `securesense dtls server|client`: the DTLS tools, used the way `openssl s_server/s_client` are.
 * They print one JSON line per event on stdout and human-readable errors on stderr.
 */
import { createInterface } from 'node:readline';
import { CidForwarder } from '../dtls/cid-forward.ts';
import {
  alertName,
  connect,
  DtlsAlertError,
  type DtlsConnection,
  DtlsServer,
  type DtlsSession,
  DtlsTimeoutError,
  DtlsUnreachableError,
  type PeerAddress,
} from '../dtls/index.ts';
import { udpBackend } from '../net/batch-udp.ts';
import {
  command,
  dispatch,
  durationOption,
  intOption,
  type OptionTable,
  required,
  type SubCommand,
  UsageError,
  type Values,
} from './args.ts';
import { type DtlsLimitOptions, LIMIT_OPTIONS, readLimitFlags } from './dtls-limits.ts';
import { portInUseHint } from './errors.ts';
import {
  type DtlsClientSecurity,
  type DtlsServerSecurity,
  dtlsClientSecurity,
  dtlsServerSecurity,
  type ParsedSecurityFlags,
  readSecurityFlags,
  SECURITY_OPTIONS,
  type SecurityFlags,
} from './security-flags.ts';
import { PrimarySessionCache, runPrimary, type WorkerInfo, workerInfo, workerReady } from './workers.ts';

const ABOUT = `The server echoes every application-data record to its sender. Both print one JSON line per
event (handshake, data, alert, close) on stdout. The mode (psk, rpk, x509) is chosen per handshake
from what both sides have.`;

const SERVER_OPTIONS = {
  port: { type: 'string', arg: 'N', help: 'UDP port to listen on (0 = any free port)' },
  host: { type: 'string', arg: 'ADDR', help: 'address to bind (default all)' },
  ...SECURITY_OPTIONS,
  ...LIMIT_OPTIONS,
  'cid-length': {
    type: 'string',
    arg: 'N',
    help: 'Connection ID (RFC 9146) length given to clients that offer one, 0..32; 0 = ask for none (default 8)',
  },
  lean: {
    type: 'boolean',
    help: 'lean handshake profile: fewest bytes on the air (16-byte cookie, packed records, only the needed extensions)',
  },
  workers: {
    type: 'string',
    arg: 'N',
    help: 'N processes on the one port (SO_REUSEPORT), CIDs handed to the worker that owns them, sessions resumable on any (default 1)',
  },
} as const satisfies OptionTable;

const CLIENT_OPTIONS = {
  ...SECURITY_OPTIONS,
  'server-name': { type: 'string', arg: 'NAME', help: 'the name to check the server certificate against' },
  send: { type: 'string', arg: 'TEXT', help: 'send TEXT, print the reply and close (default: lines of stdin)' },
  resume: { type: 'boolean', help: 'handshake again, resuming the first session' },
  timeout: {
    type: 'string',
    arg: 'DURATION',
    help: 'give up a handshake, or the wait for the reply to --send, after DURATION: 30s, 500ms, 2m, or a plain number of seconds (default: the retransmission schedule; 10s for the reply)',
  },
  'cid-length': {
    type: 'string',
    arg: 'N',
    help: "offer a Connection ID (RFC 9146) of N bytes, 0..32 (0: we need none but use the server's)",
  },
  lean: {
    type: 'boolean',
    help: 'lean handshake profile: fewest bytes on the air (16-byte cookie, packed records, only the needed extensions)',
  },
} as const satisfies OptionTable;

/** The security flags for one role, checked and read (errors name the flag and the file). */
function securityFlags(values: SecurityFlags, role: 'server' | 'client'): ParsedSecurityFlags {
  try {
    return readSecurityFlags(values, role);
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

/** Fields every event line carries (a worker's number, with --workers). */
let eventFields: Record<string, unknown> = {};
const emit = (event: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ ...event, ...eventFields })}\n`);
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
    ...cidFields(c),
  };
}

/** The Connection IDs in use (hex; `ownCid` is what the peer sends us), when any. */
function cidFields(c: DtlsConnection): Record<string, string> {
  const { own, peer } = c.connectionIds;
  const out: Record<string, string> = {};
  if (own) out.ownCid = own.toString('hex');
  if (peer) out.peerCid = peer.toString('hex');
  return out;
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
  connectionId?: { length: number };
  lean?: boolean;
  /** Run as one of several workers on the port (see workers.ts). */
  worker?: WorkerInfo;
}): Promise<DtlsServer> {
  const w = opts.worker;
  const forwarder = w ? await CidForwarder.open({ node: w.node, token: w.token }) : undefined;
  let server: DtlsServer;
  try {
    server = await DtlsServer.listen({
      host: opts.host,
      port: w?.ports?.dtls ?? opts.port,
      ...opts.security,
      ...opts.limits,
      ...(opts.connectionId ? { connectionId: opts.connectionId } : {}),
      ...(opts.lean ? { profile: 'lean' as const } : {}),
      ...(w && forwarder
        ? {
            reusePort: true,
            connectionId: { length: opts.connectionId?.length ?? 8, node: w.node },
            sessionCache: new PrimarySessionCache(),
            cidHandOver: (node: number, d: Buffer, from: PeerAddress) => {
              const ok = forwarder.forward(node, d, from);
              if (ok) emit({ event: 'handover', peer: peerName(from), to: node });
              return ok;
            },
          }
        : {}),
    });
  } catch (err) {
    await forwarder?.close();
    throw err;
  }
  const a = server.address();
  if (w && forwarder) {
    eventFields = { worker: w.node };
    forwarder.receive((d, from) => server.receiveHandedOver(d, from));
    workerReady({ dtls: a.port }, forwarder.address(), (routes) => forwarder.setRoutes(routes));
    const close = server.close.bind(server);
    server.close = async () => {
      await close();
      await forwarder.close();
    };
  } else {
    emit({
      event: 'listening',
      address: a.address,
      port: a.port,
      family: a.family,
      recvBuffer: server.recvBufferSize(),
      io: udpBackend,
    });
  }
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

const server = command(
  { name: 'dtls server', usage: '--port N [options]', about: ABOUT, options: SERVER_OPTIONS },
  async ({ values }) => {
    const port = required(intOption(values.port, '--port', 0, 65535), '--port');
    const workers = intOption(values.workers, '--workers', 1, 64) ?? 1;
    const cid = cidFlag(values['cid-length']);
    if (workers > 1 && cid && cid.length < 5)
      throw new UsageError('--workers needs --cid-length of at least 5 (the first byte names the worker)');
    let limits: DtlsLimitOptions;
    try {
      limits = readLimitFlags(values);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const worker = workerInfo();
    if (workers > 1 && !worker) {
      return runPrimary({
        count: workers,
        args: process.argv.slice(2),
        onListening: (ports) => emit({ event: 'listening', port: ports.dtls, workers }),
        warn: (m) => process.stderr.write(`securesense dtls server: ${m}\n`),
        // The workers' sessions live in the primary's cache (each worker's own is not used).
        sharedSessions: limits.maxCachedSessions,
      });
    }
    const security = dtlsServerSecurity(securityFlags(values, 'server'));
    if (!security) throw new UsageError('give at least one credential: --psk, --cert/--key or --rpk-key');
    // Listening for the signals before the `listening` line, so that a stop sent on seeing it is heard.
    const stop = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    let srv: DtlsServer;
    try {
      srv = await runEchoServer({
        host: values.host,
        port,
        security,
        limits,
        connectionId: cid,
        lean: values.lean,
        worker,
      });
    } catch (err) {
      const hint = portInUseHint(err, { [port]: '--port' });
      if (!hint) throw err;
      process.stderr.write(`securesense dtls server: ${(err as Error).message}\n${hint}\n`);
      return 1;
    }
    await stop;
    await srv.close();
    return 0;
  },
);

/** `--cid-length N` → the connectionId option (undefined when the flag is absent). */
export function cidFlag(v: string | undefined): { length: number } | undefined {
  const length = intOption(v, '--cid-length', 0, 32);
  return length === undefined ? undefined : { length };
}

/** A failed client run: an `error` (or `alert`) event on stdout, the human line on stderr; exit 1. */
function failure(err: unknown): number {
  const e = err instanceof Error ? err : new Error(String(err));
  if (e instanceof DtlsAlertError) {
    emit(alertEvent(e));
    process.stderr.write(
      `securesense dtls: handshake failed: ${e.sent ? 'we sent' : 'the server sent'} alert ${alertName(e.description)} (${e.message})\n`,
    );
  } else if (e instanceof DtlsTimeoutError || e instanceof ReplyTimeoutError) {
    emit({ event: 'error', error: 'timeout', message: e.message });
    process.stderr.write(`securesense dtls: ${e.message} (no answer from the server)\n`);
  } else if (e instanceof DtlsUnreachableError) {
    emit({ event: 'error', error: 'unreachable', peer: peerName(e.peer), message: e.message });
    process.stderr.write(`securesense dtls: ${e.message}\n`);
  } else {
    emit({ event: 'error', message: e.message });
    process.stderr.write(`securesense dtls: ${e.message}\n`);
  }
  return 1;
}

/** No application-data reply to --send within --timeout. */
class ReplyTimeoutError extends Error {
  override name = 'ReplyTimeoutError';
}

/** Sends `text` until a reply arrives (application data is not retransmitted by DTLS) or `ms` passes. */
async function exchange(c: DtlsConnection, text: string, ms: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => {
      c.off('data', onData);
      reject(new ReplyTimeoutError(`no reply within ${ms} ms`));
    }, ms);
    const onData = (d: Buffer) => {
      clearTimeout(timer);
      resolve(d);
    };
    c.once('data', onData);
    c.send(Buffer.from(text));
  });
}

const client = command(
  {
    name: 'dtls client',
    usage: 'HOST:PORT [options]',
    about: ABOUT,
    options: CLIENT_OPTIONS,
    positionals: { min: 1, max: 1 },
  },
  async ({ values, positionals }) => clientRun(values, positionals[0]),
);

async function clientRun(values: Values<typeof CLIENT_OPTIONS>, target: string): Promise<number> {
  const { host, port } = parseHostPort(target);
  let security: DtlsClientSecurity | undefined;
  try {
    security = dtlsClientSecurity(securityFlags(values, 'client'));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!security) {
    throw new UsageError(
      'give --psk, or --ca / --trust-rpk to verify the server (with --cert/--key or --rpk-key to authenticate)',
    );
  }
  const send = values.send;
  const given = durationOption(values.timeout, '--timeout', 1, 3_600_000);
  const timeout = given ?? 10_000;
  const connectionId = cidFlag(values['cid-length']);
  const base = {
    host,
    port,
    ...security,
    serverName: values['server-name'],
    handshakeTimeoutMs: given,
    ...(connectionId ? { connectionId } : {}),
    ...(values.lean ? { profile: 'lean' as const } : {}),
  };
  const rounds = values.resume ? 2 : 1;
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

const SUBS: Record<string, SubCommand> = {
  server: { summary: 'an echo server printing JSON events (like openssl s_server)', run: server },
  client: { summary: 'a client: handshake, send, print the reply (like openssl s_client)', run: client },
};

export async function run(args: string[]): Promise<number> {
  return dispatch('dtls', SUBS, args);
}

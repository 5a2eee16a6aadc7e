/**
 * `securesense coap …`: a CoAP client and the demo server.
 *
 *   coap get|post|put|delete URI [-e TEXT | -f FILE] [-t FORMAT] [-A FORMAT] [-b BLOCKSIZE]
 *        [-s SECONDS] [--non] [-v] [--psk ID:HEX] [--cert F --key F] [--rpk-key F] [--ca F …]
 *        [--trust-rpk F …] [--no-verify-name]
 *   coap get|post … [--oscore CONTEXT.json] [--proxy coap://PROXY]
 *   coap get|post … --edhoc [--edhoc-combined] [--edhoc-x5t] (--rpk-key F | --cert F --key F) (--trust-rpk F | --ca F)
 *   coap proxy [--host H] [--port P]
 *   coap serve [--oscore CONTEXT.json …] [--host H] [--port P] [--dtls-port P] [--quiet] [--psk ID:HEX …] [--cert F --key F] [--rpk-key F]
 *        [--ca F …] [--trust-rpk F …] [--client-auth none|want|need]
 *
 * Output: one JSON line per event on stdout (DESIGN.md "Tools at the command line"), errors on
 * stderr. The client exits 0 on 2.xx, 1 on 4.xx/5.xx or an unreachable server, 3 on timeout or
 * Reset, 2 on bad usage.
 */
import { readFileSync } from 'node:fs';
import { CoapClient, type CoapResponse } from '../coap/client.ts';
import { createDemoServer } from '../coap/demo.ts';
import { CoapCancelledError, CoapResetError, CoapTimeoutError, CoapUnreachableError } from '../coap/errors.ts';
import { formatOptionValue } from '../coap/message.ts';
import { type Method, optionName, parseContentFormat } from '../coap/options.ts';
import { CoapForwardProxy } from '../coap/proxy.ts';
import type { CoapsSecurity } from '../coap/transport-dtls.ts';
import { UdpTransport } from '../coap/transport-udp.ts';
import { parseCoapUri } from '../coap/uri.ts';
import { DtlsTimeoutError, DtlsUnreachableError, type PeerIdentity } from '../dtls/index.ts';
import { edhocPeerErrorOf } from '../edhoc/coap.ts';
import { EdhocError, EdhocPeerError } from '../edhoc/errors.ts';
import { edhocClientContext } from '../edhoc/oscore-binding.ts';
import { udpBackend } from '../net/batch-udp.ts';
import { OscoreError } from '../oscore/errors.ts';
import { OscoreServerContexts } from '../oscore/server.ts';
import {
  command,
  dispatch,
  durationOption,
  intOption,
  numberOption,
  type OptionTable,
  type Parsed,
  type SubCommand,
  UsageError,
} from './args.ts';
import { LIMIT_OPTIONS, readLimitFlags } from './dtls-limits.ts';
import { EDHOC_CLIENT_OPTIONS, edhocInitiatorFromFlags } from './edhoc-flags.ts';
import { portInUseHint } from './errors.ts';
import { LineBatch } from './line-batch.ts';
import { loadOscoreContext } from './oscore-flags.ts';
import {
  dtlsClientSecurity,
  dtlsServerSecurity,
  readSecurityFlags,
  SECURITY_OPTIONS,
  type SecurityFlags,
} from './security-flags.ts';

const CLIENT_OPTIONS = {
  e: { type: 'string', arg: 'TEXT', help: 'payload text' },
  f: { type: 'string', arg: 'FILE', help: "payload from a file ('-' = stdin)" },
  t: { type: 'string', arg: 'FORMAT', help: 'Content-Format (number, media type, or json/cbor/text/senml/…)' },
  A: { type: 'string', arg: 'FORMAT', help: 'Accept' },
  b: { type: 'string', arg: 'SIZE', help: 'block size 16..1024 (RFC 7959)' },
  s: { type: 'string', arg: 'SECONDS', help: 'observe for SECONDS (RFC 7641; get only)' },
  non: { type: 'boolean', help: 'Non-confirmable request' },
  v: { type: 'boolean', help: 'print the options (and the DTLS identity) too' },
  timeout: {
    type: 'string',
    arg: 'DURATION',
    help: 'give up after DURATION: 30s, 500ms, 2m, or a plain number of seconds (default 95s)',
  },
  oscore: { type: 'string', arg: 'FILE', help: 'protect the request with this OSCORE context (RFC 8613, JSON)' },
  proxy: { type: 'string', arg: 'URI', help: 'send through this coap:// forward proxy (Proxy-Uri)' },
  ...EDHOC_CLIENT_OPTIONS,
  ...SECURITY_OPTIONS,
} as const satisfies OptionTable;

const SERVE_OPTIONS = {
  host: { type: 'string', arg: 'ADDR', help: "address to bind (default '::', else 0.0.0.0)" },
  port: { type: 'string', arg: 'N', help: 'coap:// UDP port (default 5683; 0 = any free port)' },
  'dtls-port': { type: 'string', arg: 'N', help: 'coaps:// UDP port (default 5684; needs credentials)' },
  quiet: { type: 'boolean', help: 'no line per request (the listening line only), as for benchmarks' },
  oscore: { type: 'string', multiple: true, arg: 'FILE', help: 'accept OSCORE requests under this context (JSON)' },
  ...SECURITY_OPTIONS,
  ...LIMIT_OPTIONS,
  'cid-length': {
    type: 'string',
    arg: 'N',
    help: 'coaps: Connection ID (RFC 9146) length given to clients that offer one, 0..32 (default 8)',
  },
} as const satisfies OptionTable;

const CLIENT_ABOUT = `Prints one JSON line per response (and notification) on stdout. Exits 0 on 2.xx, 1 on 4.xx/5.xx
or an unreachable server (ICMP port unreachable), 3 on timeout or Reset, 2 on bad usage. --timeout
bounds the whole exchange, a coaps:// handshake included. coaps:// takes the security flags.`;

const TEXT_FORMATS = new Set([0, 40, 50, 110]);

/** What a DTLS handshake proved, for a JSON line: the PSK identity, RPK fingerprint or X.509 subject. */
function identityJson(id: PeerIdentity): Record<string, unknown> {
  if (id.mode === 'psk') return { mode: 'psk', identity: id.identity };
  if (id.mode === 'rpk') return { mode: 'rpk', fingerprint: id.fingerprint };
  return { mode: 'x509', subject: id.subject, sans: id.sans, fingerprint: id.fingerprint };
}

function render(event: string, r: CoapResponse, verbose: boolean): string {
  const out: Record<string, unknown> = { event, code: r.status };
  if (r.observe !== undefined) out.observe = r.observe;
  if (verbose) {
    out.type = r.type;
    out.options = r.options.map((o) => ({ name: optionName(o.number), number: o.number, value: formatOptionValue(o) }));
    if (r.peer.identity) out.identity = identityJson(r.peer.identity);
  }
  const text = r.payload.toString('utf8');
  const printable =
    (r.contentFormat !== undefined && TEXT_FORMATS.has(r.contentFormat)) ||
    (Buffer.from(text, 'utf8').equals(r.payload) && ![...r.payload].some((b) => b < 0x09 || (b > 0x0d && b < 0x20)));
  if (printable) out.payload = text;
  else out.payloadHex = r.payload.toString('hex');
  out.bytes = r.payload.length;
  return `${JSON.stringify(out)}\n`;
}

/** The client's coaps:// credentials from the security flags (undefined when none was given). */
function clientSecurity(values: SecurityFlags): CoapsSecurity | undefined {
  return asUsage(() => dtlsClientSecurity(readSecurityFlags(values, 'client')));
}

/** A value read from the command line: its errors are usage errors (exit 2). */
function asUsage<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError((err as Error).message);
  }
}

function clientCommand(method: Method): SubCommand {
  const name = `coap ${method.toLowerCase()}`;
  return {
    summary: `a ${method} request`,
    run: command(
      { name, usage: 'URI [options]', about: CLIENT_ABOUT, options: CLIENT_OPTIONS, positionals: { min: 1, max: 1 } },
      (p) => client(method, p),
    ),
  };
}

/** RFC 8613 §8.2's diagnostic of an unprotected 4.01: the server holds no context for our kid (it restarted). */
function contextLost(r: CoapResponse): boolean {
  return r.status === '4.01' && r.payload.toString('utf8').startsWith('Security context not found');
}

async function client(method: Method, { values, positionals }: Parsed<typeof CLIENT_OPTIONS>): Promise<number> {
  const uri = asUsage(() => parseCoapUri(positionals[0]));
  if (values.e !== undefined && values.f !== undefined) throw new UsageError('-e and -f exclude each other');
  const payload =
    values.e !== undefined
      ? Buffer.from(values.e)
      : values.f !== undefined
        ? readFileSync(values.f === '-' ? 0 : values.f)
        : undefined;
  const blockSize = intOption(values.b, '-b', 16, 1024);
  const observeFor = numberOption(values.s, '-s', 0.001, 86_400 * 365);
  if (observeFor !== undefined && method !== 'GET') throw new UsageError('-s (observe) works with get');
  const timeoutMs = durationOption(values.timeout, '--timeout', 1, 86_400_000) ?? 95_000;
  if (values['edhoc-combined'] && !values.edhoc) throw new UsageError('--edhoc-combined goes with --edhoc');
  if (values['edhoc-x5t'] && !values.edhoc) throw new UsageError('--edhoc-x5t goes with --edhoc');
  if (values.edhoc && values.oscore !== undefined) throw new UsageError('--edhoc and --oscore exclude each other');
  if (values.edhoc && uri.scheme !== 'coap') throw new UsageError('--edhoc runs over coap:// (OSCORE, not DTLS)');
  // With --edhoc the public-key flags are our EDHOC credential and trust, not DTLS's.
  const initiator = values.edhoc ? edhocInitiatorFromFlags(values) : undefined;
  const sec = initiator ? undefined : clientSecurity(values);
  if (uri.scheme === 'coaps' && !sec)
    throw new UsageError('coaps:// needs credentials: --psk ID:HEX, or --ca/--trust-rpk');
  // The handshake counts against --timeout too: a silent coaps:// server ends the attempt in time.
  const security = sec && { ...sec, handshakeTimeoutMs: timeoutMs };
  let oscore = values.oscore !== undefined ? await loadOscoreContext(values.oscore) : undefined;
  if (values.proxy !== undefined) asUsage(() => parseCoapUri(values.proxy as string));
  const c = new CoapClient({ security, blockSize, responseTimeout: timeoutMs });
  const verbose = values.v ?? false;
  const req = {
    contentFormat: values.t !== undefined ? asUsage(() => parseContentFormat(values.t as string)) : undefined,
    accept: values.A !== undefined ? asUsage(() => parseContentFormat(values.A as string)) : undefined,
    confirmable: !values.non,
    blockSize,
    proxy: values.proxy,
  };
  /** EDHOC (through --proxy too), keying the context the requests go under; one `edhoc` line each run. */
  const rekey = async (): Promise<void> => {
    if (!initiator) return;
    oscore = await edhocClientContext({
      uri: positionals[0],
      edhoc: initiator,
      proxy: values.proxy,
      combined: values['edhoc-combined'],
      client: { responseTimeout: timeoutMs },
    });
    const ids = {
      senderId: oscore.params.senderId.toString('hex'),
      recipientId: oscore.params.recipientId.toString('hex'),
    };
    process.stdout.write(
      `${JSON.stringify({ event: 'edhoc', ...ids, combined: values['edhoc-combined'] ?? false })}\n`,
    );
  };
  const deadline = setTimeout(
    () => {
      const message = `no answer within ${timeoutMs / 1000} s`;
      process.stdout.write(`${JSON.stringify({ event: 'error', error: 'timeout', message })}\n`);
      process.stderr.write(`securesense coap: ${message}\n`);
      process.exit(3);
    },
    timeoutMs + (observeFor ?? 0) * 1000,
  );
  deadline.unref();
  try {
    await rekey();
    if (observeFor !== undefined)
      return await observeLoop(c, uri, () => ({ ...req, oscore }), observeFor, verbose, initiator ? rekey : undefined);
    let r = await c.request(uri, { ...req, method, payload, oscore });
    // A server that lost our EDHOC-made context (a restart: nothing is persisted) answers 4.01: key again, once.
    if (initiator && contextLost(r)) {
      await rekey();
      r = await c.request(uri, { ...req, method, payload, oscore });
    }
    process.stdout.write(render('response', r, verbose));
    return r.ok ? 0 : 1;
  } catch (err) {
    // An `error` event on stdout for scripts, the human line on stderr.
    const fail = (error: string, e: Error, code: number, peer?: { address: string; port: number }) => {
      const where =
        peer && (peer.address.includes(':') ? `[${peer.address}]:${peer.port}` : `${peer.address}:${peer.port}`);
      process.stdout.write(
        `${JSON.stringify({ event: 'error', error, ...(where ? { peer: where } : {}), message: e.message })}\n`,
      );
      process.stderr.write(`securesense coap: ${e.message}\n`);
      return code;
    };
    if (err instanceof CoapUnreachableError || err instanceof DtlsUnreachableError)
      return fail('unreachable', err, 1, err.peer);
    if (err instanceof CoapTimeoutError || err instanceof DtlsTimeoutError) return fail('timeout', err, 3);
    if (err instanceof CoapResetError) return fail('reset', err, 3);
    if (err instanceof CoapCancelledError) return fail('cancelled', err, 3);
    // EDHOC refused (an EDHOC error message, or a server credential we do not trust), also inside a combined request.
    const peerError = edhocPeerErrorOf(err);
    if (peerError) return fail('edhoc', new Error(`EDHOC refused: ${peerError.message}`), 1);
    if (err instanceof EdhocError || err instanceof EdhocPeerError)
      return fail('edhoc', new Error(`EDHOC refused: ${err.message}`), 1);
    if (err instanceof OscoreError) return fail('oscore', err, 1);
    throw err;
  } finally {
    clearTimeout(deadline);
    await c.close();
  }
}

/**
 * `-s SECONDS`: observes, printing the first response and each notification. With --edhoc, an
 * observation the server ends with 4.01 "Security context not found" (it restarted and lost our
 * context; our re-registration told us) is registered again after a new EDHOC run.
 */
async function observeLoop(
  c: CoapClient,
  uri: ReturnType<typeof parseCoapUri>,
  opts: () => Parameters<CoapClient['observe']>[1],
  seconds: number,
  verbose: boolean,
  rekey: (() => Promise<void>) | undefined,
): Promise<number> {
  const until = Date.now() + seconds * 1000;
  let first = true;
  for (;;) {
    const o = await c.observe(uri, opts());
    process.stdout.write(render(first ? 'response' : 'reregistered', o.first!, verbose));
    if (!o.first!.ok) {
      if (!rekey || first || !contextLost(o.first!) || Date.now() >= until) return 1;
      await rekey();
      continue;
    }
    first = false;
    let ended: CoapResponse | undefined;
    o.on('notification', (r: CoapResponse) => process.stdout.write(render('notification', r, verbose)));
    o.on('error', (err: Error) => process.stderr.write(`securesense coap: ${err.message}\n`));
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.max(0, until - Date.now()));
      o.on('end', (r: CoapResponse) => {
        ended = r;
        process.stdout.write(render('end', r, verbose));
        clearTimeout(t);
        resolve();
      });
      if (!o.isActive) {
        clearTimeout(t);
        resolve();
      }
    });
    if (!ended) {
      if (o.isActive) await o.cancel();
      if (o.first!.ok || Date.now() >= until) return 0;
    }
    if (Date.now() >= until) return 0;
    if (!rekey || (ended && !contextLost(ended))) return 0;
    await rekey();
  }
}

const serve = command(
  {
    name: 'coap serve',
    usage: '[options]',
    about: `The demo server (/time, /sensors, /large, …) over coap://, and over coaps:// with credentials.
Prints a listening line, then one JSON line per request on stdout (written once per event-loop
turn), none with --quiet.`,
    options: SERVE_OPTIONS,
  },
  async (p) => {
    const ports = {
      port: intOption(p.values.port, '--port', 0, 65535) ?? 5683,
      dtls: intOption(p.values['dtls-port'], '--dtls-port', 0, 65535) ?? 5684,
    };
    try {
      return await serveRun(p, ports);
    } catch (err) {
      const hint = portInUseHint(err, { [ports.port]: '--port', [ports.dtls]: '--dtls-port' });
      if (!hint) throw err;
      process.stderr.write(`securesense coap serve: ${(err as Error).message}\n${hint}\n`);
      return 1;
    }
  },
);

async function serveRun(
  { values }: Parsed<typeof SERVE_OPTIONS>,
  ports: { port: number; dtls: number },
): Promise<number> {
  // Flags and files are checked before any socket is bound, so a bad one leaves nothing open.
  const dtlsSecurity = asUsage(() => dtlsServerSecurity(readSecurityFlags(values, 'server')));
  if (!dtlsSecurity && values['dtls-port'] !== undefined)
    throw new UsageError('--dtls-port needs credentials: --psk ID:HEX, --cert/--key or --rpk-key');
  const limits = asUsage(() => readLimitFlags(values));
  const cidLength = intOption(values['cid-length'], '--cid-length', 0, 32);
  const connectionId = cidLength === undefined ? undefined : { length: cidLength };
  if (!dtlsSecurity && connectionId)
    throw new UsageError('--cid-length needs credentials: --psk ID:HEX, --cert/--key or --rpk-key');
  if (!dtlsSecurity && Object.keys(limits).length > 0)
    throw new UsageError(
      'the DTLS limit flags (--max-sessions …) need credentials: --psk ID:HEX, --cert/--key or --rpk-key',
    );
  const host = values.host ?? '::';
  const port = ports.port;
  // One write per event-loop turn for all the request lines of that turn, or none with --quiet.
  const lines = new LineBatch();
  const oscoreFiles = values.oscore ?? [];
  const oscore =
    oscoreFiles.length > 0
      ? new OscoreServerContexts(await Promise.all(oscoreFiles.map((f) => loadOscoreContext(f))))
      : undefined;
  const demo = createDemoServer({
    oscore,
    onRequest: values.quiet
      ? undefined
      : (req) => {
          const line: Record<string, unknown> = {
            event: 'request',
            method: req.method,
            path: req.path,
            scheme: req.scheme,
            peer: `${req.peer.address}:${req.peer.port}`,
            bytes: req.payload.length,
          };
          if (req.peer.oscore) line.oscore = req.peer.oscore;
          if (req.peer.identity?.mode === 'psk') line.identity = req.peer.identity.identity;
          else if (req.peer.identity) line.identity = identityJson(req.peer.identity);
          lines.push(JSON.stringify(line));
        },
  });
  let udp: UdpTransport;
  try {
    udp = await UdpTransport.bind({ host, port });
  } catch (err) {
    if (host === '::') udp = await UdpTransport.bind({ host: '0.0.0.0', port });
    else throw err;
  }
  demo.server.listen(udp);
  const listening: Record<string, unknown> = { event: 'listening', coap: udp.address(), io: udpBackend };
  if (dtlsSecurity) {
    const { DtlsServerTransport } = await import('../coap/transport-dtls.ts');
    const dtls = await DtlsServerTransport.listen({
      host: udp.address().address,
      port: ports.dtls,
      ...dtlsSecurity,
      ...limits,
      ...(connectionId ? { connectionId } : {}),
    });
    demo.server.listen(dtls);
    listening.coaps = dtls.address();
  }
  // Listening for the signals before the `listening` line, so that a stop sent on seeing it is heard.
  const stop = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stdout.write(`${JSON.stringify(listening)}\n`);
  await stop;
  lines.flush();
  await demo.close();
  return 0;
}

const proxy = command(
  {
    name: 'coap proxy',
    usage: '[--host H] [--port P]',
    about: `A CoAP forward proxy (RFC 7252 §5.7.2): requests naming their target by Proxy-Uri, or
Proxy-Scheme with Uri-Host/Uri-Port, are sent on to that coap:// server. OSCORE requests pass
through unread. Prints a listening line, then one JSON line per forwarded request.`,
    options: {
      host: { type: 'string', arg: 'ADDR', help: "address to bind (default '0.0.0.0')" },
      port: { type: 'string', arg: 'N', help: 'UDP port (default 5683; 0 = any free port)' },
    },
  },
  async ({ values }) => {
    const port = intOption(values.port, '--port', 0, 65535) ?? 5683;
    const udp = await UdpTransport.bind({ host: values.host ?? '0.0.0.0', port });
    const p = new CoapForwardProxy({
      onForward: (f) => process.stdout.write(`${JSON.stringify({ event: 'forward', ...f })}\n`),
    });
    p.listen(udp);
    const stop = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    process.stdout.write(`${JSON.stringify({ event: 'listening', coap: udp.address() })}\n`);
    await stop;
    process.stdout.write(`${JSON.stringify({ event: 'stopped', ...p.stats })}\n`);
    await p.close();
    await udp.close();
    return 0;
  },
);

const SUBS: Record<string, SubCommand> = {
  get: clientCommand('GET'),
  post: clientCommand('POST'),
  put: clientCommand('PUT'),
  delete: clientCommand('DELETE'),
  serve: { summary: 'the demo server over coap:// and coaps://', run: serve },
  proxy: { summary: 'a CoAP forward proxy (Proxy-Uri, Proxy-Scheme)', run: proxy },
};

export async function run(args: string[]): Promise<number> {
  return dispatch('coap', SUBS, args);
}

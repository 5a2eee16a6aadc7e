/**
 * `securesense coap …`: a CoAP client and the demo server (issue 4).
 *
 *   coap get|post|put|delete URI [-e TEXT | -f FILE] [-t FORMAT] [-A FORMAT] [-b BLOCKSIZE]
 *        [-s SECONDS] [--non] [-v] [--psk ID:HEX] [--cert F --key F] [--rpk-key F] [--ca F …]
 *        [--trust-rpk F …] [--no-verify-name]
 *   coap serve [--host H] [--port P] [--dtls-port P] [--psk ID:HEX …] [--cert F --key F] [--rpk-key F]
 *        [--ca F …] [--trust-rpk F …] [--client-auth none|want|need]
 *
 * Output: one JSON line per event on stdout (DESIGN.md "Tools at the command line"), errors on
 * stderr. The client exits 0 on 2.xx, 1 on 4.xx/5.xx, 3 on timeout or Reset, 2 on bad usage.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CoapClient, type CoapResponse } from '../coap/client.ts';
import { createDemoServer } from '../coap/demo.ts';
import { CoapCancelledError, CoapResetError, CoapTimeoutError } from '../coap/errors.ts';
import { formatOptionValue } from '../coap/message.ts';
import { type Method, optionName, parseContentFormat } from '../coap/options.ts';
import type { CoapsSecurity } from '../coap/transport-dtls.ts';
import { UdpTransport } from '../coap/transport-udp.ts';
import { parseCoapUri } from '../coap/uri.ts';
import {
  dtlsClientSecurity,
  dtlsServerSecurity,
  readSecurityFlags,
  SECURITY_FLAG_SPECS,
  type SecurityFlags,
} from '../dtls/credentials/flags.ts';
import type { PeerIdentity } from '../dtls/index.ts';
import { LIMIT_FLAG_SPECS, LIMIT_FLAGS_USAGE, readLimitFlags } from './dtls-limits.ts';

export const summary = 'CoAP client (get/post/put/delete) and demo server';

const USAGE = `usage: securesense coap <get|post|put|delete> URI [options]
       securesense coap serve [--host H] [--port P] [--dtls-port P] [security]

client options:
  -e TEXT         payload text            -f FILE     payload from a file ('-' = stdin)
  -t FORMAT       Content-Format (number, media type, or json/cbor/text/senml/…)
  -A FORMAT       Accept                  -b SIZE     block size 16..1024
  -s SECONDS      observe for SECONDS     --non       Non-confirmable request
  -v              print the options too   --timeout S give up after S seconds (default 95)
security (coaps://):
  --psk ID:HEX    pre-shared key identity and key (hex); repeatable for serve
  --hint TEXT     (serve) PSK identity hint      --mtu N   largest DTLS datagram
  --cert FILE --key FILE   our X.509 certificate (chain may follow it) and key
  --rpk-key FILE  a P-256 private key whose public key is our raw public key (RFC 7250)
  --ca FILE       trust anchor (repeatable)  --trust-rpk FILE  pinned raw public keys (repeatable)
  --no-verify-name  (client) skip the server-name check   --client-auth none|want|need  (serve)
coaps:// server ${LIMIT_FLAGS_USAGE}
`;

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
  return dtlsClientSecurity(readSecurityFlags(values, 'client'));
}

async function client(method: Method, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      e: { type: 'string', short: 'e' },
      f: { type: 'string', short: 'f' },
      t: { type: 'string', short: 't' },
      A: { type: 'string', short: 'A' },
      b: { type: 'string', short: 'b' },
      s: { type: 'string', short: 's' },
      non: { type: 'boolean' },
      v: { type: 'boolean', short: 'v' },
      timeout: { type: 'string' },
      ...SECURITY_FLAG_SPECS,
    },
  });
  if (positionals.length !== 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  const uri = parseCoapUri(positionals[0]);
  if (values.e !== undefined && values.f !== undefined) throw new Error('-e and -f exclude each other');
  const payload =
    values.e !== undefined
      ? Buffer.from(values.e)
      : values.f !== undefined
        ? readFileSync(values.f === '-' ? 0 : values.f)
        : undefined;
  const blockSize = values.b !== undefined ? Number(values.b) : undefined;
  const observeFor = values.s !== undefined ? Number(values.s) : undefined;
  if (observeFor !== undefined && (!Number.isFinite(observeFor) || observeFor <= 0))
    throw new Error('-s wants a number of seconds');
  const timeoutS = values.timeout !== undefined ? Number(values.timeout) : 95;
  const sec = clientSecurity(values);
  if (uri.scheme === 'coaps' && !sec) throw new Error('coaps:// needs credentials: --psk ID:HEX, or --ca/--trust-rpk');
  const c = new CoapClient({ security: sec, blockSize, responseTimeout: timeoutS * 1000 });
  const verbose = values.v ?? false;
  const req = {
    contentFormat: values.t !== undefined ? parseContentFormat(values.t) : undefined,
    accept: values.A !== undefined ? parseContentFormat(values.A) : undefined,
    confirmable: !values.non,
    blockSize,
  };
  const deadline = setTimeout(
    () => {
      process.stderr.write(`securesense coap: no answer within ${timeoutS} s\n`);
      process.exit(3);
    },
    (timeoutS + (observeFor ?? 0)) * 1000,
  );
  deadline.unref();
  try {
    if (observeFor !== undefined) {
      if (method !== 'GET') throw new Error('-s (observe) works with get');
      const o = await c.observe(uri, req);
      process.stdout.write(render('response', o.first!, verbose));
      if (!o.first!.ok) return 1;
      let ended = false;
      o.on('notification', (r: CoapResponse) => process.stdout.write(render('notification', r, verbose)));
      o.on('error', (err: Error) => process.stderr.write(`securesense coap: ${err.message}\n`));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, observeFor * 1000);
        o.on('end', (r: CoapResponse) => {
          ended = true;
          process.stdout.write(render('end', r, verbose));
          clearTimeout(t);
          resolve();
        });
        if (!o.isActive) {
          clearTimeout(t);
          resolve();
        }
      });
      if (!ended) await o.cancel();
      return 0;
    }
    const r = await c.request(uri, { ...req, method, payload });
    process.stdout.write(render('response', r, verbose));
    return r.ok ? 0 : 1;
  } catch (err) {
    if (err instanceof CoapTimeoutError || err instanceof CoapResetError || err instanceof CoapCancelledError) {
      process.stderr.write(`securesense coap: ${err.message}\n`);
      return 3;
    }
    throw err;
  } finally {
    clearTimeout(deadline);
    await c.close();
  }
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'dtls-port': { type: 'string' },
      ...SECURITY_FLAG_SPECS,
      ...LIMIT_FLAG_SPECS,
    },
  });
  // Flags and files are checked before any socket is bound, so a bad one leaves nothing open.
  const dtlsSecurity = dtlsServerSecurity(readSecurityFlags(values, 'server'));
  if (!dtlsSecurity && values['dtls-port'] !== undefined)
    throw new Error('--dtls-port needs credentials: --psk ID:HEX, --cert/--key or --rpk-key');
  const limits = readLimitFlags(values);
  if (!dtlsSecurity && Object.keys(limits).length > 0)
    throw new Error(
      'the DTLS limit flags (--max-sessions …) need credentials: --psk ID:HEX, --cert/--key or --rpk-key',
    );
  const host = values.host ?? '::';
  const port = values.port !== undefined ? Number(values.port) : 5683;
  const demo = createDemoServer({
    onRequest: (req) => {
      const line: Record<string, unknown> = {
        event: 'request',
        method: req.method,
        path: req.path,
        scheme: req.scheme,
        peer: `${req.peer.address}:${req.peer.port}`,
        bytes: req.payload.length,
      };
      if (req.peer.identity?.mode === 'psk') line.identity = req.peer.identity.identity;
      else if (req.peer.identity) line.identity = identityJson(req.peer.identity);
      process.stdout.write(`${JSON.stringify(line)}\n`);
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
  const listening: Record<string, unknown> = { event: 'listening', coap: udp.address() };
  if (dtlsSecurity) {
    const { DtlsServerTransport } = await import('../coap/transport-dtls.ts');
    const dtls = await DtlsServerTransport.listen({
      host: udp.address().address,
      port: values['dtls-port'] !== undefined ? Number(values['dtls-port']) : 5684,
      ...dtlsSecurity,
      ...limits,
    });
    demo.server.listen(dtls);
    listening.coaps = dtls.address();
  }
  process.stdout.write(`${JSON.stringify(listening)}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await demo.close();
  return 0;
}

export async function run(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  switch (cmd) {
    case 'get':
    case 'post':
    case 'put':
    case 'delete':
      return client(cmd.toUpperCase() as Method, rest);
    case 'serve':
      return serve(rest);
    default:
      process.stderr.write(USAGE);
      return cmd === 'help' || cmd === '--help' || cmd === '-h' ? 0 : 2;
  }
}

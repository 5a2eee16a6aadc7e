/**
 * `securesense serve [--config FILE] [--db URL|PATH] [--host H] [--http-port 8080|off]
 *                    [--https-port P --cert F --key F] [--coap-port 5683|off] [--coaps-port 5684|off]
 *                    [--dtls-cert F --dtls-key F] [--rpk-key F] [--no-poller]`
 *
 * Starts the platform — HTTP(S) API, CoAP/CoAPs API and the poller — on the configured store
 * (SQLite `./data/securesense.db` by default). Prints one JSON line on stdout when listening (`{"event":"listening",...}`), logs with
 * pino on stderr, and closes cleanly on SIGINT/SIGTERM (Ctrl-C).
 */

import { randomBytes } from 'node:crypto';
import { type Logger, pino } from 'pino';
import { CidForwarder } from '../dtls/cid-forward.ts';
import { loadCredentialFiles, type PublicKeyCredentials } from '../dtls/credentials/index.ts';
import { ConfigError, type ConfigInput, loadConfig } from '../platform/config.ts';
import { createPlatform, type Platform } from '../platform/index.ts';
import { command, intOption, type OptionTable, type Parsed } from './args.ts';
import { platformPortFlags, portInUseHint } from './errors.ts';
import { connectHostForwarder, openHostForwarder } from './hosts.ts';
import { allWorkersMetrics, runPrimary, shareMetrics, workerInfo, workerReady } from './workers.ts';

const OPTIONS = {
  config: { type: 'string', arg: 'FILE', help: 'JSON config file (also SECURESENSE_CONFIG)' },
  db: { type: 'string', arg: 'URL|PATH', help: 'SQLite file or postgres:// URL (default ./data/securesense.db)' },
  host: { type: 'string', arg: 'HOST', help: 'address to bind (default ::, IPv6 and IPv4)' },
  'http-port': { type: 'string', arg: 'N|off', help: 'HTTP port (default 8080; 0 = any free port)' },
  'https-port': { type: 'string', arg: 'N', help: 'HTTPS port (needs --cert and --key)' },
  cert: { type: 'string', arg: 'FILE', help: 'PEM certificate chain for HTTPS' },
  key: { type: 'string', arg: 'FILE', help: 'PEM private key for HTTPS' },
  'coap-port': { type: 'string', arg: 'N|off', help: 'coap:// UDP port (default 5683)' },
  'coaps-port': { type: 'string', arg: 'N|off', help: 'coaps:// UDP port (default 5684)' },
  'dtls-cert': { type: 'string', arg: 'FILE', help: 'PEM certificate (chain) the coaps:// server shows X.509 devices' },
  'dtls-key': { type: 'string', arg: 'FILE', help: 'its PEM private key (P-256)' },
  'rpk-key': { type: 'string', arg: 'FILE', help: 'PEM P-256 key whose public key the server shows RPK devices' },
  'no-poller': { type: 'boolean', help: "do not pull the resources' polling URLs" },
  workers: {
    type: 'string',
    arg: 'N',
    help: 'N processes sharing the ports (SO_REUSEPORT; CIDs handed to their worker; the poller in worker 0) (default 1)',
  },
  'log-level': { type: 'string', arg: 'LEVEL', help: 'trace|debug|info|warn|error|fatal|silent (default info)' },
} as const satisfies OptionTable;

const NOTES = `Environment: SECURESENSE_DB, SECURESENSE_HTTP_PORT, SECURESENSE_HTTPS_PORT, SECURESENSE_HTTPS_CERT,
SECURESENSE_HTTPS_KEY, SECURESENSE_COAP_PORT, SECURESENSE_COAPS_PORT, SECURESENSE_COAPS_CERT,
SECURESENSE_COAPS_KEY, SECURESENSE_COAPS_RPK_KEY, SECURESENSE_POLLER (true|false),
SECURESENSE_SESSION_KEY (DTLS sessions shared by front ends), SECURESENSE_SESSION_LIFETIME,
SECURESENSE_COAPS_CID_NODE, SECURESENSE_COAPS_HANDOVER_ADDRESS|PEERS|TOKEN (several hosts),
SECURESENSE_SIGNUP (open|admin), SECURESENSE_ADMIN_TOKEN, SECURESENSE_BODY_LIMIT, …
(see docs/platform.md).`;

export const run = command(
  {
    name: 'serve',
    usage: '[options]',
    about: 'The platform: HTTP(S) API, CoAP/CoAPs API and the poller, on the configured store.',
    options: OPTIONS,
    notes: NOTES,
  },
  serve,
);

async function serve({ values }: Parsed<typeof OPTIONS>): Promise<number> {
  const overrides: ConfigInput = { http: {}, https: {}, coap: {}, poller: {} };
  const http = overrides.http as Record<string, unknown>;
  const https = overrides.https as Record<string, unknown>;
  const coap = overrides.coap as Record<string, unknown>;
  if (values.db !== undefined) overrides.db = values.db;
  if (values['log-level'] !== undefined) overrides.logLevel = values['log-level'];
  if (values.host !== undefined) {
    http.host = values.host;
    https.host = values.host;
    coap.host = values.host;
  }
  if (values['coap-port'] !== undefined) coap.port = values['coap-port'];
  if (values['coaps-port'] !== undefined) coap.coapsPort = values['coaps-port'];
  if (values['dtls-cert'] !== undefined) coap.cert = values['dtls-cert'];
  if (values['dtls-key'] !== undefined) coap.key = values['dtls-key'];
  if (values['rpk-key'] !== undefined) coap.rpkKey = values['rpk-key'];
  if (values['no-poller']) (overrides.poller as Record<string, unknown>).enabled = false;
  if (values['http-port'] !== undefined) http.port = values['http-port'];
  if (values['https-port'] !== undefined) https.port = values['https-port'];
  if (values.cert !== undefined) https.cert = values.cert;
  if (values.key !== undefined) https.key = values.key;

  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ file: values.config, overrides });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`securesense serve: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const workers = intOption(values.workers, '--workers', 1, 64) ?? 1;
  const worker = workerInfo();
  if (workers > 1 && config.coap.cidNode !== null) {
    // Both would put their number in the CID's first byte.
    process.stderr.write(
      'securesense serve: --workers and coap.cidNode (SECURESENSE_COAPS_CID_NODE) cannot be used together yet: run one process per host\n',
    );
    return 2;
  }
  if (workers > 1 && !worker) {
    // Sessions resumable on any worker go through the store, sealed with the session key: one
    // made up for this run when none is configured (a restart then forgets the sessions).
    if (!config.dtls.sessionKey) process.env.SECURESENSE_SESSION_KEY = randomBytes(32).toString('hex');
    return runPrimary({
      count: workers,
      args: process.argv.slice(2),
      onListening: (ports) => {
        const url = (scheme: string, port: number | undefined) =>
          port === undefined ? null : `${scheme}://${urlHost(config.http.host)}:${port}`;
        process.stdout.write(
          `${JSON.stringify({
            event: 'listening',
            workers,
            http: url('http', ports.http),
            https: url('https', ports.https),
            coap: url('coap', ports.coap),
            coaps: url('coaps', ports.coaps),
          })}\n`,
        );
      },
      warn: (m) => process.stderr.write(`securesense serve: ${m}\n`),
    });
  }
  if (worker?.ports) {
    // Workers after the first bind the ports it bound (a requested 0 became a real port).
    const p = worker.ports;
    if (config.http.port !== null) config.http.port = p.http ?? config.http.port;
    if (config.https.port !== null) config.https.port = p.https ?? config.https.port;
    if (config.coap.port !== null) config.coap.port = p.coap ?? config.coap.port;
    if (config.coap.coapsPort !== null) config.coap.coapsPort = p.coaps ?? config.coap.coapsPort;
  }

  let dtls: Pick<PublicKeyCredentials, 'certificate' | 'rpk'>;
  try {
    // The engine's own loader: it checks the key against the certificate and names the file at fault.
    dtls = loadCredentialFiles({
      cert: config.coap.cert ?? undefined,
      key: config.coap.key ?? undefined,
      rpkKey: config.coap.rpkKey ?? undefined,
    });
  } catch (err) {
    process.stderr.write(`securesense serve: coaps:// credentials: ${(err as Error).message}\n`);
    return 2;
  }
  const logger = pino(
    { level: config.logLevel, ...(worker ? { base: { worker: worker.node } } : {}) },
    pino.destination(2),
  );
  const useCoap = config.coap.port !== null || config.coap.coapsPort !== null;
  let forwarder: CidForwarder | undefined;
  try {
    forwarder = worker
      ? await CidForwarder.open({ node: worker.node, token: worker.token })
      : await openHostForwarder(config.coap);
  } catch (err) {
    process.stderr.write(`securesense serve: ${(err as Error).message}\n`);
    return 1;
  }
  const workerDtls = forwarder
    ? {
        reusePort: worker !== undefined,
        connectionId: { length: 8, node: forwarder.node },
        cidHandOver: (node: number, d: Buffer, from: { address: string; port: number; family: 'IPv4' | 'IPv6' }) =>
          forwarder.forward(node, d, from),
      }
    : {};
  let platform: Platform;
  try {
    platform = await createPlatform(config, {
      logger,
      coap: useCoap ? { dtls: { ...dtls, ...workerDtls } } : false,
      // One poller for all workers, or each device would be polled N times.
      poller: config.poller.enabled && (worker === undefined || worker.node === 0),
      reusePort: worker !== undefined,
    });
  } catch (err) {
    await forwarder?.close();
    const hint = portInUseHint(err, platformPortFlags(config, { https: true }));
    if (hint === undefined) throw err;
    process.stderr.write(`securesense serve: ${(err as Error).message}\n${hint ? `${hint}\n` : ''}`);
    return 1;
  }
  const where = {
    event: 'listening',
    http: platform.http.plain?.url ?? null,
    https: platform.http.secure?.url ?? null,
    coap: platform.coap?.coap?.url ?? null,
    coaps: platform.coap?.coaps?.url ?? null,
    coapsModes: ['psk', ...(dtls.rpk ? ['rpk'] : []), ...(dtls.certificate ? ['x509'] : [])],
    poller: config.poller.enabled,
    ...(config.coap.cidNode !== null ? { cidNode: config.coap.cidNode } : {}),
    db: platform.store.engine === 'sqlite' ? config.db : 'postgres',
    docs: platform.http.plain
      ? `${platform.http.plain.url}/docs`
      : platform.http.secure
        ? `${platform.http.secure.url}/docs`
        : null,
  };
  if (worker && forwarder) {
    const coaps = platform.coap?.coaps?.transport.server;
    if (coaps) {
      forwarder.receive((d, from) => coaps.receiveHandedOver(d, from));
      platform.metrics.watchWorker(worker.node, coaps, forwarder.stats);
    }
    shareMetrics(() => platform.metrics.registry.getMetricsAsJSON());
    platform.metrics.aggregateWith(() => allWorkersMetrics());
    const ports: Record<string, number> = {};
    if (platform.http.plain) ports.http = platform.http.plain.port;
    if (platform.http.secure) ports.https = platform.http.secure.port;
    if (platform.coap?.coap) ports.coap = platform.coap.coap.port;
    if (platform.coap?.coaps) ports.coaps = platform.coap.coaps.port;
    workerReady(ports, forwarder.address(), (routes) => forwarder.setRoutes(routes));
    logger.info({ ...where, worker: worker.node }, 'worker started');
  } else {
    if (forwarder) connectHostForwarder(platform, forwarder);
    process.stdout.write(`${JSON.stringify(where)}\n`);
    logger.info(where, 'platform started');
  }

  return stopOnSignal(
    logger,
    async () => {
      await platform.close();
      await forwarder?.close();
    },
    () => {
      process.stdout.write(`${JSON.stringify({ event: 'stopped' })}\n`);
    },
  );
}

/** A bound host as a URL shows it ('::' and '0.0.0.0' become the loopback address, IPv6 in brackets). */
function urlHost(host: string): string {
  if (host === '::' || host === '') return '[::1]';
  if (host === '0.0.0.0') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Waits for SIGINT or SIGTERM (Ctrl-C), then runs `close` once; resolves with the exit code: 0
 * after `stopped` has said so, 1 when closing failed (logged). `securesense start` shares it.
 */
export function stopOnSignal(logger: Logger, close: () => Promise<void>, stopped: () => void): Promise<number> {
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      close().then(
        () => {
          stopped();
          resolve(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'close failed');
          resolve(1);
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

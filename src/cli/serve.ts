/**
 * `securesense serve [--config FILE] [--db URL|PATH] [--host H] [--http-port 8080|off]
 *                    [--https-port P --cert F --key F] [--coap-port 5683|off] [--coaps-port 5684|off]
 *                    [--dtls-cert F --dtls-key F] [--rpk-key F] [--no-poller]`
 *
 * Starts the platform — HTTP(S) API, CoAP/CoAPs API and the poller — on the configured store
 * (SQLite `./data/securesense.db` by default). Prints one JSON line on stdout when listening (`{"event":"listening",...}`), logs with
 * pino on stderr, and closes cleanly on SIGINT/SIGTERM (Ctrl-C).
 */
import { type Logger, pino } from 'pino';
import { loadCredentialFiles, type PublicKeyCredentials } from '../dtls/credentials/index.ts';
import { createPlatform, type Platform } from '../platform/index.ts';
import { ConfigError, type ConfigInput, loadConfig } from '../util/config.ts';
import { command, type OptionTable, type Parsed } from './args.ts';
import { platformPortFlags, portInUseHint } from './errors.ts';

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
  'log-level': { type: 'string', arg: 'LEVEL', help: 'trace|debug|info|warn|error|fatal|silent (default info)' },
} as const satisfies OptionTable;

const NOTES = `Environment: SECURESENSE_DB, SECURESENSE_HTTP_PORT, SECURESENSE_HTTPS_PORT, SECURESENSE_HTTPS_CERT,
SECURESENSE_HTTPS_KEY, SECURESENSE_COAP_PORT, SECURESENSE_COAPS_PORT, SECURESENSE_COAPS_CERT,
SECURESENSE_COAPS_KEY, SECURESENSE_COAPS_RPK_KEY, SECURESENSE_POLLER (true|false),
SECURESENSE_SESSION_KEY (DTLS sessions shared by front ends), SECURESENSE_SESSION_LIFETIME,
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
  const logger = pino({ level: config.logLevel }, pino.destination(2));
  const useCoap = config.coap.port !== null || config.coap.coapsPort !== null;
  let platform: Platform;
  try {
    platform = await createPlatform(config, {
      logger,
      coap: useCoap ? { dtls } : false,
      poller: config.poller.enabled,
    });
  } catch (err) {
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
    db: platform.store.engine === 'sqlite' ? config.db : 'postgres',
    docs: platform.http.plain
      ? `${platform.http.plain.url}/docs`
      : platform.http.secure
        ? `${platform.http.secure.url}/docs`
        : null,
  };
  process.stdout.write(`${JSON.stringify(where)}\n`);
  logger.info(where, 'platform started');

  return stopOnSignal(
    logger,
    () => platform.close(),
    () => {
      process.stdout.write(`${JSON.stringify({ event: 'stopped' })}\n`);
    },
  );
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

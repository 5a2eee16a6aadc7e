/**
 * `securesense serve [--config FILE] [--db URL|PATH] [--host H] [--http-port 8080|off]
 *                    [--https-port P --cert F --key F]`
 *
 * Starts the platform's HTTP(S) API on the configured store (SQLite `./data/securesense.db` by
 * default). Prints one JSON line on stdout when listening (`{"event":"listening",...}`), logs with
 * pino on stderr, and closes cleanly on SIGINT/SIGTERM (Ctrl-C).
 */
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { createPlatform } from '../platform/index.ts';
import { ConfigError, type ConfigInput, loadConfig } from '../util/config.ts';

export const summary = 'the platform (HTTP/HTTPS API)';

const USAGE = `usage: securesense serve [options]

  --config FILE        JSON config file (also SECURESENSE_CONFIG)
  --db URL|PATH        SQLite file or postgres:// URL (default ./data/securesense.db)
  --host HOST          address to bind (default 0.0.0.0)
  --http-port N|off    HTTP port (default 8080; 0 = any free port)
  --https-port N       HTTPS port (needs --cert and --key)
  --cert FILE          PEM certificate chain for HTTPS
  --key FILE           PEM private key for HTTPS
  --log-level LEVEL    trace|debug|info|warn|error|fatal|silent (default info)

Environment: SECURESENSE_DB, SECURESENSE_HTTP_PORT, SECURESENSE_HTTPS_PORT, SECURESENSE_HTTPS_CERT,
SECURESENSE_HTTPS_KEY, SECURESENSE_SIGNUP (open|admin), SECURESENSE_ADMIN_TOKEN, SECURESENSE_BODY_LIMIT, …
(see docs/platform.md).
`;

export async function run(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string' },
        db: { type: 'string' },
        host: { type: 'string' },
        'http-port': { type: 'string' },
        'https-port': { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`securesense serve: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const overrides: ConfigInput = { http: {}, https: {} };
  const http = overrides.http as Record<string, unknown>;
  const https = overrides.https as Record<string, unknown>;
  if (values.db !== undefined) overrides.db = values.db;
  if (values['log-level'] !== undefined) overrides.logLevel = values['log-level'];
  if (values.host !== undefined) {
    http.host = values.host;
    https.host = values.host;
  }
  if (values['http-port'] !== undefined) http.port = values['http-port'];
  if (values['https-port'] !== undefined) https.port = values['https-port'];
  if (values.cert !== undefined) https.cert = values.cert;
  if (values.key !== undefined) https.key = values.key;

  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ file: values.config as string | undefined, overrides });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`securesense serve: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const logger = pino({ level: config.logLevel }, pino.destination(2));
  const platform = await createPlatform(config, { logger });
  const where = {
    event: 'listening',
    http: platform.http.plain?.url ?? null,
    https: platform.http.secure?.url ?? null,
    db: platform.store.engine === 'sqlite' ? config.db : 'postgres',
    docs: platform.http.plain
      ? `${platform.http.plain.url}/docs`
      : platform.http.secure
        ? `${platform.http.secure.url}/docs`
        : null,
  };
  process.stdout.write(`${JSON.stringify(where)}\n`);
  logger.info(where, 'platform started');

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      platform.close().then(
        () => {
          process.stdout.write(`${JSON.stringify({ event: 'stopped' })}\n`);
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

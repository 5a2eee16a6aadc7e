import { type Logger, pino } from 'pino';

/**
 * The project's structured logger. Library code takes a `Logger` in its options and falls back to
 * this silent-by-default one; `SECURESENSE_LOG_LEVEL` (trace|debug|info|warn|error|silent) turns it on.
 * Logs go to stderr so that the JSON event lines of the CLI tools keep stdout to themselves.
 */
export type { Logger };

let root: Logger | undefined;

export function rootLogger(): Logger {
  if (!root) {
    root = pino({ level: process.env.SECURESENSE_LOG_LEVEL ?? 'silent' }, pino.destination(2));
  }
  return root;
}

export function childLogger(name: string): Logger {
  return rootLogger().child({ module: name });
}

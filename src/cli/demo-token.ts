/**
 * The `npm start` demo user's API token, the same across restarts. The store keeps only a token's
 * SHA-256, so the token itself is kept beside the demo's other secrets, in DATA/demo-token.json
 * (mode 0600, saying what it is): an exported `SECURESENSE_TOKEN`, a signed-in dashboard and
 * scripts go on working after a restart.
 *
 * A start never rotates the user's tokens. It reuses the kept token while the platform still
 * accepts it for the demo user; when it does not (the first start, the file removed, the token
 * rotated or revoked through the API), it makes a named token of its own ({@link DEMO_TOKEN_NAME},
 * replacing an earlier one of that name) and keeps that — so an explicit rotation of the user's
 * default token is never undone by the next start.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { PlatformService } from '../platform/index.ts';

/** The name of the API token `npm start` makes when the kept one no longer works. */
export const DEMO_TOKEN_NAME = 'npm start';

interface TokenFile {
  about: string;
  username: string;
  userId: number;
  token: string;
}

const ABOUT =
  'The API token of the demo user, kept by `securesense start` (npm start) so that the same token ' +
  'works after a restart. Anyone who can read this file can act as the demo user. To change it, ' +
  'revoke or rotate the token through the API (the next start makes a new one) or delete this file.';

function readKept(file: string): TokenFile | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as Partial<TokenFile>;
    return typeof v.token === 'string' && typeof v.userId === 'number' ? (v as TokenFile) : undefined;
  } catch {
    return undefined; // unreadable: a new token replaces it
  }
}

/** Writes the token file, readable by its owner only (also when it existed with wider rights). */
export function keepDemoToken(file: string, username: string, userId: number, token: string): void {
  const body: TokenFile = { about: ABOUT, username, userId, token };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/**
 * The demo user's token for this start: the kept one when the platform still accepts it for this
 * user, else a new named token (kept for the next start). `reused` says which.
 */
export async function demoToken(
  service: PlatformService,
  file: string,
  user: { id: number; username: string },
): Promise<{ token: string; reused: boolean }> {
  const kept = readKept(file);
  if (kept && kept.userId === user.id) {
    const caller = await service.authenticate(kept.token).catch(() => undefined);
    if (caller?.kind === 'user' && caller.userId === user.id) return { token: kept.token, reused: true };
  }
  const owner = { kind: 'user' as const, userId: user.id };
  for (const t of await service.listTokens(owner, user.id))
    if (t.name === DEMO_TOKEN_NAME) await service.deleteToken(owner, user.id, t.id);
  const { secret } = await service.createToken(owner, user.id, { name: DEMO_TOKEN_NAME });
  keepDemoToken(file, user.username, user.id, secret);
  return { token: secret, reused: false };
}

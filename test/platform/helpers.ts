/** Starts a platform on a test engine and talks to it over real HTTP. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { loadConfig, type SecureSenseConfig } from '../../src/platform/config.ts';
import { createPlatform, type Platform } from '../../src/platform/index.ts';
import type { EngineTarget } from './engines.ts';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test convenience for reading JSON bodies
  json: any;
}

export async function startPlatform(
  t: TestContext,
  tg: EngineTarget,
  tweak: (c: SecureSenseConfig) => void = () => {},
): Promise<Platform & { base: string }> {
  const cfg = loadConfig({ env: {}, overrides: { db: tg.db, http: { host: '127.0.0.1', port: 0 } } });
  tweak(cfg);
  const p = await createPlatform(cfg, { pgSchema: tg.schema });
  t.after(() => p.close());
  return Object.assign(p, { base: p.http.plain?.url ?? '' });
}

/**
 * Starts a platform on a fresh SQLite file in a temporary directory (named after `tag`) with HTTP
 * and the coaps:// front end on free loopback ports; the platform and the directory go after the test.
 */
export async function startCoapsPlatform(
  t: TestContext,
  tag: string,
): Promise<Platform & { base: string; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), `ss-${tag}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = loadConfig({
    env: {},
    overrides: {
      db: join(dir, `${tag}.db`),
      http: { host: '127.0.0.1', port: 0 },
      coap: { host: '127.0.0.1', port: null, coapsPort: 0 },
    },
  });
  const p = await createPlatform(cfg, { coap: true });
  t.after(() => p.close());
  return Object.assign(p, { base: p.http.plain?.url ?? '', port: p.coap?.coaps?.port ?? 0 });
}

export interface CallOptions {
  token?: string;
  /** Sent as JSON unless `raw` is given. */
  body?: unknown;
  raw?: Buffer | string;
  headers?: Record<string, string>;
}

/** One HTTP request against `base`. */
export async function call(base: string, method: string, path: string, o: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: BodyInit | undefined;
  if (o.raw !== undefined) body = typeof o.raw === 'string' ? o.raw : new Uint8Array(o.raw);
  else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A user with a resource, ready to use. */
export async function newUser(base: string, username: string) {
  const u = await call(base, 'POST', '/users', { body: { username, password: 'a good password' } });
  if (u.status !== 201) throw new Error(`create user: ${u.status} ${u.text}`);
  return { uid: u.json.id as number, token: u.json.token as string };
}

export async function newResource(base: string, uid: number, token: string, label = 'r') {
  const r = await call(base, 'POST', `/users/${uid}/resources`, { token, body: { label } });
  if (r.status !== 201) throw new Error(`create resource: ${r.status} ${r.text}`);
  return { rid: r.json.id as number, key: r.json.key as string };
}

export async function newStream(base: string, uid: number, rid: number, token: string, body: Record<string, unknown>) {
  const s = await call(base, 'POST', `/users/${uid}/resources/${rid}/streams`, { token, body });
  if (s.status !== 201) throw new Error(`create stream: ${s.status} ${s.text}`);
  return { sid: s.json.id as number, key: s.json.key as string };
}

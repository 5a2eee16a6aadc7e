/**
 * The container image, built and run for real: `docker build` of the Dockerfile, then the
 * platform in a container on SQLite (HTTP and coap:// through published loopback ports, a clean
 * stop on `docker stop`) and, with SECURESENSE_TEST_PG_URL, on PostgreSQL in its own schema.
 *
 * Skipped, saying why, when no Docker daemon answers or the base image (node:24-bookworm-slim)
 * is not there: building it needs a registry or a local stand-in (docs/platform.md, "Running in
 * a container"). The build can take minutes the first time; later runs use Docker's cache.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const IMAGE = 'securesense:test';
const PG_URL = process.env.SECURESENSE_TEST_PG_URL;

function docker(args: string[], timeoutMs = 60_000): { code: number | null; out: string; err: string } {
  const r = spawnSync('docker', args, { encoding: 'utf8', timeout: timeoutMs, cwd: ROOT });
  return { code: r.status, out: r.stdout ?? '', err: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** Why the image cannot be built here, or undefined when it can. */
function unavailable(): string | undefined {
  if (docker(['info', '--format', '{{.ServerVersion}}'], 15_000).code !== 0) return 'no Docker daemon answers';
  if (
    docker(['image', 'inspect', 'node:24-bookworm-slim'], 15_000).code !== 0 &&
    docker(['pull', 'node:24-bookworm-slim'], 120_000).code !== 0
  )
    return 'the base image node:24-bookworm-slim is neither present nor pullable';
  return undefined;
}

async function waitHttp(url: string, ms: number): Promise<Response> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await fetch(url);
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function run(t: TestContext, args: string[]): string {
  const r = docker(['run', '-d', ...args]);
  assert.equal(r.code, 0, r.err);
  const id = r.out.trim();
  t.after(() => void docker(['rm', '-f', id]));
  return id;
}

test('the image builds, serves HTTP and coap:// on SQLite, and stops cleanly on docker stop', {
  timeout: 900_000,
}, async (t) => {
  const why = unavailable();
  if (why) return t.skip(why);
  const build = docker(['build', '--network', 'host', '-t', IMAGE, '.'], 840_000);
  assert.equal(build.code, 0, build.err.slice(-2000));

  const id = run(t, ['-p', '127.0.0.1::8080', '-p', '127.0.0.1::5683/udp', IMAGE]);
  const http = docker(['port', id, '8080/tcp']).out.trim().split('\n')[0]?.replace(/.*:/, '');
  const coap = docker(['port', id, '5683/udp']).out.trim().split('\n')[0]?.replace(/.*:/, '');
  const base = `http://127.0.0.1:${http}`;
  const health = await waitHttp(`${base}/health`, 30_000);
  assert.equal(health.status, 200);
  const user = await fetch(`${base}/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'ann', password: 'a good password' }),
  });
  assert.equal(user.status, 201);
  assert.match(((await user.json()) as { token: string }).token, /^sst_/);
  const core = await runCli(['coap', 'get', `coap://127.0.0.1:${coap}/.well-known/core`, '--timeout', '5s']);
  assert.equal(core.code, 0, core.stderr);
  assert.match(core.stdout, /"code":"2\.05".*<\/users>/);

  // PID 1 is the platform: SIGTERM from docker stop closes it cleanly, well before the 10 s kill.
  const t0 = Date.now();
  assert.equal(docker(['stop', id]).code, 0);
  assert.ok(Date.now() - t0 < 8000, `docker stop took ${Date.now() - t0} ms`);
  assert.equal(docker(['inspect', '-f', '{{.State.ExitCode}}', id]).out.trim(), '0');
  assert.match(docker(['logs', id]).out, /\{"event":"stopped"\}/);
});

test('the image on PostgreSQL: migrations, sign-up, /ready', { timeout: 120_000 }, async (t) => {
  if (!PG_URL) return t.skip('SECURESENSE_TEST_PG_URL is not set');
  const why = unavailable();
  if (why) return t.skip(why);
  if (docker(['image', 'inspect', IMAGE]).code !== 0) return t.skip(`${IMAGE} was not built (the test above)`);
  const schema = `ss_image_${process.pid}`;
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const port = 18_000 + (process.pid % 1000);
  // The host's network: the database listens on the host's loopback.
  run(t, [
    '--network',
    'host',
    '-e',
    `SECURESENSE_DB=${url}`,
    '-e',
    `SECURESENSE_HTTP_PORT=${port}`,
    '-e',
    'SECURESENSE_HTTP_HOST=127.0.0.1',
    '-e',
    'SECURESENSE_COAP_PORT=off',
    '-e',
    'SECURESENSE_COAPS_PORT=off',
    IMAGE,
  ]);
  t.after(async () => {
    const { dropPostgresSchema } = await import('../../src/platform/store/index.ts');
    await dropPostgresSchema(PG_URL, schema);
  });
  const base = `http://127.0.0.1:${port}`;
  assert.equal((await waitHttp(`${base}/ready`, 30_000)).status, 200);
  const user = await fetch(`${base}/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'ann', password: 'a good password' }),
  });
  assert.equal(user.status, 201);
});

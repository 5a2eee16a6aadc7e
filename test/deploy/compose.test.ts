/**
 * The container files without a Docker engine (none runs here): compose.yaml's services, ports,
 * volume and environment read from its lines; that environment given to the real `securesense
 * serve` through the image's entry point, and the image's HEALTHCHECK command run against it;
 * the Dockerfile's stages, user, ports and build context; and `docker compose config` (or
 * `docker-compose config`, Debian's package) resolving the file when one of them is installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../../src/platform/config.ts';
import { launchFor } from '../support/peers.ts';
import { block, interpolate, items, pairs } from './compose-lines.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COMPOSE = readFileSync(join(ROOT, 'compose.yaml'), 'utf8');
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const DOCKERIGNORE = readFileSync(join(ROOT, '.dockerignore'), 'utf8');

/** The platform service's environment as Compose would pass it, given the caller's variables. */
function platformEnv(vars: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of pairs(block(COMPOSE, ['services', 'platform', 'environment']))) env[k] = interpolate(v, vars);
  return env;
}

/** The Dockerfile with its continuation lines joined, one instruction a line. */
function instructions(): string[] {
  return DOCKERFILE.replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
}

test('compose.yaml: the platform and postgres:16, a volume, a healthy database first, the ports published', () => {
  const db = pairs(block(COMPOSE, ['services', 'db']));
  assert.equal(db.get('image'), 'postgres:16');
  assert.deepEqual(items(block(COMPOSE, ['services', 'db', 'volumes'])), ['pgdata:/var/lib/postgresql/data']);
  assert.ok(pairs(block(COMPOSE, ['volumes'])).has('pgdata'), 'the named volume is declared');
  assert.match(pairs(block(COMPOSE, ['services', 'db', 'healthcheck'])).get('test') ?? '', /pg_isready/);
  assert.throws(
    () => block(COMPOSE, ['services', 'db', 'ports']),
    /no "services\.db\.ports"/,
    'database not published',
  );

  assert.equal(pairs(block(COMPOSE, ['services', 'platform', 'depends_on', 'db'])).get('condition'), 'service_healthy');
  assert.equal(pairs(block(COMPOSE, ['services', 'platform'])).get('build'), '.');
  const ports = items(block(COMPOSE, ['services', 'platform', 'ports'])).map((p) => interpolate(p, {}));
  assert.deepEqual(ports, ['8080:8080/tcp', '5683:5683/udp', '5684:5684/udp']);
  const moved = items(block(COMPOSE, ['services', 'platform', 'ports'])).map((p) =>
    interpolate(p, { SECURESENSE_COAPS_PUBLISH: '15684' }),
  );
  assert.equal(moved[2], '15684:5684/udp', 'the host side can be moved from .env');
});

test('the compose environment is a configuration serve accepts, its database the postgres service', () => {
  const db = pairs(block(COMPOSE, ['services', 'db', 'environment']));
  for (const vars of [{}, { POSTGRES_PASSWORD: 's3cret-pw' }] as Array<Record<string, string>>) {
    const env = platformEnv(vars);
    const config = loadConfig({ env });
    const url = new URL(config.db);
    assert.equal(url.protocol, 'postgres:');
    assert.equal(url.hostname, 'db', 'the compose service name');
    assert.equal(url.port, '5432');
    assert.equal(url.username, db.get('POSTGRES_USER'));
    assert.equal(url.password, interpolate(db.get('POSTGRES_PASSWORD') ?? '', vars), 'one password for both services');
    assert.equal(url.pathname, `/${db.get('POSTGRES_DB')}`);
    assert.deepEqual([config.http.port, config.coap.port, config.coap.coapsPort], [8080, 5683, 5684]);
    assert.equal(config.api.signup, 'open');
    assert.equal(config.api.adminToken, null, 'an empty variable means no admin token');
    assert.equal(config.dtls.sessionKey, null);
  }
  // Every variable the file sets is one the configuration reads (a typo would be ignored silently).
  const known = readFileSync(join(ROOT, 'src/platform/config.ts'), 'utf8');
  for (const name of Object.keys(platformEnv())) assert.ok(known.includes(`'${name}'`), `${name} is a config variable`);

  // The public set-up from the docs: admin sign-up needs the admin token, and says so.
  const admin = loadConfig({
    env: platformEnv({ SECURESENSE_SIGNUP: 'admin', SECURESENSE_ADMIN_TOKEN: 'a-long-admin-token-1234' }),
  });
  assert.equal(admin.api.signup, 'admin');
  assert.equal(admin.api.adminToken, 'a-long-admin-token-1234');
  assert.throws(
    () => loadConfig({ env: platformEnv({ SECURESENSE_SIGNUP: 'admin' }) }),
    (err: unknown) => err instanceof ConfigError && /SECURESENSE_ADMIN_TOKEN/.test(err.message),
  );
});

test('Dockerfile: two Node 24 stages, the build inside, a non-root user, the three ports, serve with a health check', () => {
  const lines = instructions();
  const from = lines.filter((l) => l.startsWith('FROM '));
  assert.equal(from.length, 2, 'multi-stage');
  for (const f of from) assert.match(f, /^FROM node:24-bookworm-slim\b/);
  assert.ok(lines.some((l) => /^RUN npm ci\b/.test(l)));
  assert.ok(lines.some((l) => /^RUN npm run build\b.*npm prune --omit=dev/.test(l)));
  const runtime = lines.slice(lines.lastIndexOf(from[1] as string));
  const user = runtime.find((l) => l.startsWith('USER '));
  assert.ok(user && !/\broot\b|\b0\b/.test(user), `runs as a non-root user (${user})`);
  assert.equal(
    runtime.find((l) => l.startsWith('EXPOSE ')),
    'EXPOSE 8080/tcp 5683/udp 5684/udp',
  );
  assert.equal(
    runtime.find((l) => l.startsWith('ENTRYPOINT ')),
    'ENTRYPOINT ["/app/bin/securesense"]',
  );
  assert.equal(
    runtime.find((l) => l.startsWith('CMD ')),
    'CMD ["serve"]',
  );
  assert.match(runtime.find((l) => l.startsWith('HEALTHCHECK ')) ?? '', /\/health/);

  // What the stages copy from the build context exists and is not excluded by .dockerignore.
  const ignored = new Set(DOCKERIGNORE.split('\n').filter((l) => l.trim() && !l.startsWith('#')));
  for (const l of lines.filter((x) => x.startsWith('COPY ') && !x.includes('--from='))) {
    const sources = l.split(/\s+/).slice(1, -1);
    for (const s of sources) {
      assert.ok(existsSync(join(ROOT, s)), `${s} exists`);
      assert.ok(!ignored.has(s), `${s} is not in .dockerignore`);
    }
  }
  for (const heavy of ['node_modules', 'dist', 'data', '.git']) assert.ok(ignored.has(heavy), `${heavy} stays out`);
});

test("the image's entry point serves the compose environment, and its HEALTHCHECK tells up from down", async (t: TestContext) => {
  const check = instructions()
    .find((l) => l.startsWith('HEALTHCHECK '))
    ?.replace(/^HEALTHCHECK\s+(--\S+\s+)*CMD\s+/, '');
  assert.ok(check, 'a shell-form HEALTHCHECK CMD');
  const dir = mkdtempSync(join(tmpdir(), 'ss-compose-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // As compose starts it, except: the `db` host exists only on the compose network, and the fixed
  // ports may be taken on a shared machine.
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...platformEnv(),
    SECURESENSE_DB: join(dir, 'platform.db'),
    SECURESENSE_HTTP_HOST: '127.0.0.1',
    SECURESENSE_COAP_HOST: '127.0.0.1',
    SECURESENSE_HTTP_PORT: '0',
    SECURESENSE_COAP_PORT: '0',
    SECURESENSE_COAPS_PORT: '0',
    SECURESENSE_LOG_LEVEL: 'warn',
  };
  const server = launchFor(t, join(ROOT, 'bin/securesense'), ['serve'], { env, timeoutMs: 60_000 });
  const line = await server.waitFor(/\{"event":"listening"[^\n]*\}/, 20_000);
  const http = (JSON.parse(line) as { http: string }).http;
  const port = new URL(http).port;

  const probe = () =>
    spawnSync('sh', ['-c', check], { env: { ...env, SECURESENSE_HTTP_PORT: port }, timeout: 15_000 }).status;
  assert.equal(probe(), 0, 'healthy while serving');
  await server.kill();
  assert.equal(probe(), 1, 'unhealthy once stopped');
});

/** The compose command installed here: the Docker CLI plugin, or the standalone docker-compose. */
function composeTool(): string[] | undefined {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    const r = spawnSync(cmd[0] as string, [...cmd.slice(1), 'version'], { stdio: 'ignore', timeout: 15_000 });
    if (r.status === 0) return cmd;
  }
  return undefined;
}

/** The `- …` entries of a `ports:` list in `config` output, each as its `key: value` pairs. */
function portEntries(text: string): Array<Map<string, string>> {
  const out: Array<Map<string, string>> = [];
  for (const l of block(text, ['services', 'platform', 'ports'])) {
    const m = /^\s*(- )?\s*([a-z_]+):\s*(.*)$/.exec(l);
    if (!m) continue;
    if (m[1] || out.length === 0) out.push(new Map());
    (out.at(-1) as Map<string, string>).set(m[2] as string, (m[3] as string).replace(/^"(.*)"$/, '$1'));
  }
  return out;
}

test('docker compose config resolves the file: two services, the volume, the ports, one password', (t: TestContext) => {
  const tool = composeTool();
  if (!tool) {
    if (process.env.CI === 'true' || process.env.CI === '1') {
      throw new Error('neither `docker compose` nor `docker-compose` is installed: .ci/run must install one');
    }
    t.skip('no compose tool installed (docker compose plugin or docker-compose): only the line checks ran');
    return;
  }
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, POSTGRES_PASSWORD: 's3cret-pw' };
  const compose = (args: string[]) => {
    const r = spawnSync(tool[0] as string, [...tool.slice(1), '-f', join(ROOT, 'compose.yaml'), ...args], {
      env,
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `${tool.join(' ')} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  assert.deepEqual(compose(['config', '--services']).trim().split('\n').sort(), ['db', 'platform']);
  assert.deepEqual(compose(['config', '--volumes']).trim().split('\n'), ['pgdata']);
  const text = compose(['config']);
  const env2 = pairs(block(text, ['services', 'platform', 'environment']));
  assert.equal(env2.get('SECURESENSE_DB'), 'postgres://securesense:s3cret-pw@db:5432/securesense');
  assert.equal(pairs(block(text, ['services', 'db', 'environment'])).get('POSTGRES_PASSWORD'), 's3cret-pw');
  assert.equal(pairs(block(text, ['services', 'platform', 'depends_on', 'db'])).get('condition'), 'service_healthy');
  const ports = portEntries(text)
    .map((p) => `${p.get('published')}:${p.get('target')}/${p.get('protocol')}`)
    .sort();
  assert.deepEqual(ports, ['5683:5683/udp', '5684:5684/udp', '8080:8080/tcp']);
});

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, DEFAULT_CONFIG, loadConfig } from '../../src/platform/config.ts';

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ss-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('defaults apply when nothing is given', () => {
  assert.deepEqual(loadConfig({ env: {} }), DEFAULT_CONFIG);
});

test('file < environment < overrides', (t) => {
  const dir = tmp(t);
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ db: '/tmp/a.db', http: { port: 9000 }, api: { bodyLimit: 2048 } }));
  const cfg = loadConfig({
    file,
    env: {
      SECURESENSE_HTTP_PORT: '9100',
      SECURESENSE_DB: 'postgres://u:p@localhost/x',
      SECURESENSE_TEST_PG_URL: 'ignored',
    },
    overrides: { http: { port: 0 } },
  });
  assert.equal(cfg.db, 'postgres://u:p@localhost/x');
  assert.equal(cfg.http.port, 0);
  assert.equal(cfg.api.bodyLimit, 2048);
  assert.equal(loadConfig({ env: { SECURESENSE_HTTP_PORT: 'off' } }).http.port, null);
});

test('SECURESENSE_CONFIG names the file', (t) => {
  const dir = tmp(t);
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ logLevel: 'debug' }));
  assert.equal(loadConfig({ env: { SECURESENSE_CONFIG: file } }).logLevel, 'debug');
});

test('every bad value gets its own message naming its source', (t) => {
  const dir = tmp(t);
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ htp: { port: 1 }, http: { prot: 2, port: 'x' } }));
  try {
    loadConfig({
      file,
      env: {
        SECURESENSE_HTTPS_PORT: '70000',
        SECURESENSE_BODY_LIMIT: '-5',
        SECURESENSE_SIGNUP: 'closed',
        SECURESENSE_LOG_LEVEL: 'loud',
        SECURESENSE_DB: 'postgres://',
        SECURESENSE_HTTPS_CERT: join(dir, 'missing.pem'),
      },
    });
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    for (const needle of [
      'unknown key "htp"',
      'unknown key "http.prot"',
      '"http.port" must be a port',
      'SECURESENSE_HTTPS_PORT must be a port 0–65535',
      'SECURESENSE_BODY_LIMIT must be an integer',
      'SECURESENSE_SIGNUP must be one of open, admin',
      'SECURESENSE_LOG_LEVEL must be one of',
      'SECURESENSE_DB postgres URL needs a host',
      'missing.pem does not exist',
    ]) {
      assert.ok(text.includes(needle), `missing "${needle}" in:\n${text}`);
    }
  }
});

test('cross-field rules: HTTPS needs cert and key, admin signup needs a token', () => {
  assert.throws(() => loadConfig({ env: { SECURESENSE_HTTPS_PORT: '8443' } }), /https.cert and https.key/);
  assert.throws(() => loadConfig({ env: { SECURESENSE_SIGNUP: 'admin' } }), /adminToken/);
  assert.throws(
    () => loadConfig({ env: { SECURESENSE_SIGNUP: 'admin', SECURESENSE_ADMIN_TOKEN: 'short' } }),
    /at least 16 characters/,
  );
  const ok = loadConfig({ env: { SECURESENSE_SIGNUP: 'admin', SECURESENSE_ADMIN_TOKEN: 'a-long-enough-admin-token' } });
  assert.equal(ok.api.signup, 'admin');
});

test('a file that is not JSON is reported, not thrown raw', (t) => {
  const dir = tmp(t);
  const file = join(dir, 'c.json');
  writeFileSync(file, '{ nope');
  assert.throws(
    () => loadConfig({ file, env: {} }),
    (e: unknown) => e instanceof ConfigError && e.message.includes(file),
  );
});

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

test('several hosts: cidNode, hand-over address, peers and token from a file or the environment', (t) => {
  const token = '00112233445566778899aabbccddeeff';
  const env = {
    SECURESENSE_COAPS_CID_NODE: '1',
    SECURESENSE_COAPS_HANDOVER_PEERS: '0=10.1.0.2:5690, 1=[fd00::2]:5690',
    SECURESENSE_COAPS_HANDOVER_TOKEN: token.toUpperCase(),
  };
  const cfg = loadConfig({ env });
  assert.equal(cfg.coap.cidNode, 1);
  assert.deepEqual(cfg.coap.handOverPeers, {
    0: { address: '10.1.0.2', port: 5690 },
    1: { address: 'fd00::2', port: 5690 },
  });
  assert.equal(cfg.coap.handOverToken, token);
  assert.equal(cfg.coap.handOverAddress, null, "the node's own peers entry will do");

  const dir = tmp(t);
  const file = join(dir, 'c.json');
  writeFileSync(
    file,
    JSON.stringify({
      coap: {
        cidNode: 0,
        handOverAddress: '10.1.0.2:5690',
        handOverPeers: { 1: '10.2.0.2:5690' },
        handOverToken: token,
      },
    }),
  );
  const f = loadConfig({ file, env: {} });
  assert.deepEqual(f.coap.handOverAddress, { address: '10.1.0.2', port: 5690 });
  assert.deepEqual(f.coap.handOverPeers, { 1: { address: '10.2.0.2', port: 5690 } });

  const secret = 'abcd'.repeat(7);
  assert.throws(
    () => loadConfig({ env: { ...env, SECURESENSE_COAPS_HANDOVER_TOKEN: secret } }),
    (e: unknown) => e instanceof ConfigError && /32 hex digits/.test(e.message) && !e.message.includes(secret),
  );
  assert.throws(() => loadConfig({ env: { ...env, SECURESENSE_COAPS_HANDOVER_TOKEN: '' } }), /handOverToken/);
  assert.throws(() => loadConfig({ env: { ...env, SECURESENSE_COAPS_CID_NODE: '256' } }), /0–255/);
  assert.throws(
    () => loadConfig({ env: { ...env, SECURESENSE_COAPS_HANDOVER_PEERS: '0=host.example:5690' } }),
    /IP:PORT/,
  );
  assert.throws(
    () => loadConfig({ env: { ...env, SECURESENSE_COAPS_HANDOVER_PEERS: '0=10.1.0.2:5690' } }),
    /where it takes hand-overs/,
  );
  assert.throws(
    () => loadConfig({ env: { SECURESENSE_COAPS_HANDOVER_PEERS: '0=10.1.0.2:5690' } }),
    /cidNode .* is not/,
  );
});

test('a postgres URL may name a Unix socket directory instead of a host', () => {
  const db = 'postgres:///securesense?host=/var/run/postgresql&user=u&password=p';
  assert.equal(loadConfig({ env: { SECURESENSE_DB: db } }).db, db);
  assert.throws(() => loadConfig({ env: { SECURESENSE_DB: 'postgres:///securesense' } }), /needs a host/);
});

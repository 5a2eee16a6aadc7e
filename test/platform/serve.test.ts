/**
 * `securesense serve` as a real process: acknowledged points survive `kill -9`, Ctrl-C stops
 * cleanly, bad configuration is refused with a message, and HTTPS serves with a given cert+key.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { launchFor, type Peer, requireBinary } from '../support/peers.ts';
import { call, newResource, newStream, newUser } from './helpers.ts';

const BIN = new URL('../../bin/securesense.mjs', import.meta.url).pathname;

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ss-serve-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function serve(
  t: TestContext,
  args: string[],
): Promise<{ peer: Peer; http: string | null; https: string | null }> {
  const peer = launchFor(t, process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--log-level', 'warn', ...args], {
    timeoutMs: 60_000,
  });
  const line = await peer.waitFor(/\{"event":"listening"[^\n]*\}/, 20_000);
  const ev = JSON.parse(line) as { http: string | null; https: string | null };
  return { peer, http: ev.http, https: ev.https };
}

test('points acknowledged over HTTP survive kill -9 and restart', async (t) => {
  const db = join(tmp(t), 'crash.db');
  const first = await serve(t, ['--db', db, '--http-port', '0']);
  const base = first.http!;
  const { uid, token } = await newUser(base, 'ann');
  const { rid } = await newResource(base, uid, token);
  const { sid } = await newStream(base, uid, rid, token, { label: 'seq' });
  const D = `/users/${uid}/resources/${rid}/streams/${sid}/data`;

  // Four writers post points with unique times until the server dies under them.
  const acked = new Set<number>();
  let next = 1;
  let dead = false;
  const writer = async () => {
    while (!dead) {
      const time = next++;
      try {
        const r = await call(base, 'POST', D, { token, body: { value: time, time } });
        if (r.status === 200) acked.add(time);
      } catch {
        return; // connection refused or reset: the server is gone
      }
    }
  };
  const writers = Array.from({ length: 4 }, writer);
  while (acked.size < 300) await new Promise((r) => setTimeout(r, 10));
  first.peer.proc.kill('SIGKILL');
  dead = true;
  await Promise.all(writers);
  assert.equal(await first.peer.exited, null, 'killed by signal');

  const second = await serve(t, ['--db', db, '--http-port', '0']);
  const got = await call(second.http!, 'GET', `${D}?limit=100000`, { token });
  assert.equal(got.status, 200, got.text);
  const stored = new Set((got.json.points as Array<{ time: number }>).map((p) => p.time));
  const lost = [...acked].filter((x) => !stored.has(x));
  assert.deepEqual(lost, [], `${lost.length} of ${acked.size} acknowledged points lost`);
  assert.ok(acked.size >= 300);
  t.diagnostic(`${acked.size} acknowledged points, all present after kill -9 and restart`);
});

test('SIGINT stops the server cleanly', async (t) => {
  const { peer, http } = await serve(t, ['--db', join(tmp(t), 'a.db'), '--http-port', '0']);
  assert.equal((await call(http!, 'GET', '/docs/json')).status, 200);
  peer.proc.kill('SIGINT');
  assert.equal(await peer.exited, 0);
  assert.match(peer.stdout(), /"event":"stopped"/);
});

test('bad configuration is refused at start with one line per problem', () => {
  const r = spawnSync(process.execPath, [BIN, 'serve', '--http-port', '99999', '--https-port', '8443'], {
    encoding: 'utf8',
    env: { ...process.env, SECURESENSE_SIGNUP: 'maybe' },
    timeout: 20_000,
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /option http.port must be a port 0–65535/);
  assert.match(r.stderr, /SECURESENSE_SIGNUP must be one of open, admin/);
  assert.match(r.stderr, /https.port is set but https.cert and https.key/);
});

test('HTTPS with a certificate and key', async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const dir = tmp(t);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const gen = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { encoding: 'utf8' },
  );
  assert.equal(gen.status, 0, gen.stderr);
  const { https, http } = await serve(t, [
    '--db',
    join(dir, 'tls.db'),
    '--http-port',
    'off',
    '--https-port',
    '0',
    '--cert',
    cert,
    '--key',
    key,
  ]);
  assert.equal(http, null);
  assert.match(https!, /^https:\/\/127\.0\.0\.1:\d+$/);
  const body = JSON.stringify({ username: 'ann', password: 'a good password' });
  const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      `${https}/users`,
      { method: 'POST', ca: readFileSync(cert), headers: { 'content-type': 'application/json' } },
      (res) => {
        let data = '';
        res.on('data', (d) => {
          data += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  assert.equal(reply.status, 201, reply.body);
  assert.match(JSON.parse(reply.body).token, /^sst_/);
});

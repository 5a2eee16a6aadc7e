/**
 * `securesense serve` as a real process: acknowledged points survive `kill -9`, Ctrl-C stops
 * cleanly, bad configuration is refused with a message, and HTTPS serves with a given cert+key.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { CoapClient } from '../../src/coap/index.ts';
import { createCa, generateKeyPem, issueCertificate } from '../../src/pki/index.ts';
import { dropPostgresSchema, type Engine } from '../../src/platform/store/index.ts';
import { launchFor, type Peer, requireBinary } from '../support/peers.ts';
import { PG_URL } from './engines.ts';
import { call, newResource, newStream, newUser } from './helpers.ts';

const BIN = new URL('../../bin/securesense.mjs', import.meta.url).pathname;

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ss-serve-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface ListeningEvent {
  http: string | null;
  https: string | null;
  coap: string | null;
  coaps: string | null;
  coapsModes: string[];
  poller: boolean;
}

async function serve(t: TestContext, args: string[]): Promise<{ peer: Peer } & ListeningEvent> {
  // CoAP ports 0 so that tests running side by side do not fight over 5683/5684.
  const base = [BIN, 'serve', '--host', '127.0.0.1', '--log-level', 'warn', '--coap-port', '0', '--coaps-port', '0'];
  const peer = launchFor(t, process.execPath, [...base, ...args], { timeoutMs: 60_000 });
  const line = await peer.waitFor(/\{"event":"listening"[^\n]*\}/, 20_000);
  const ev = JSON.parse(line) as ListeningEvent;
  return { peer, ...ev };
}

/** Where each engine's crash test keeps its data: a SQLite file, or a fresh PostgreSQL schema. */
async function crashDb(t: TestContext, engine: Engine): Promise<string | undefined> {
  if (engine === 'sqlite') return join(tmp(t), 'crash.db');
  const url = PG_URL;
  if (!url) {
    t.skip('PostgreSQL half not run: SECURESENSE_TEST_PG_URL is not set');
    return undefined;
  }
  // `serve` takes the schema from the URL's search_path (created when missing).
  const schema = `ss_kill_${process.pid}_${Date.now().toString(36)}`;
  t.after(() => dropPostgresSchema(url, schema));
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

for (const engine of ['sqlite', 'postgres'] as const)
  test(`points acknowledged over HTTP survive kill -9 and restart [${engine}]`, async (t) => {
    const db = await crashDb(t, engine);
    if (!db) return;
    const first = await serve(t, ['--db', db, '--http-port', '0']);
    const base = first.http!;
    const { uid, token } = await newUser(base, 'ann');
    const { rid } = await newResource(base, uid, token);
    const { sid } = await newStream(base, uid, rid, token, { label: 'seq' });
    const D = `/users/${uid}/resources/${rid}/streams/${sid}/data`;
    // Raw payloads through a parser into the same stream: the group-committed ingest path.
    const parser = await call(base, 'POST', `/users/${uid}/resources/${rid}/parsers`, {
      token,
      body: { stream_id: sid, kind: 'json-path', expression: '/seq', time_format: 'unix-ms' },
    });
    assert.equal(parser.status, 201, parser.text);

    // Eight writers (half raw payloads, half points) post points with unique times until the
    // server dies under them; concurrent requests share commits.
    const acked = new Set<number>();
    let next = 1;
    let dead = false;
    let rawAcked = 0;
    const writer = async (raw: boolean) => {
      while (!dead) {
        const time = next++;
        try {
          const r = raw
            ? await call(base, 'POST', `/users/${uid}/resources/${rid}/data`, {
                token,
                body: { seq: { value: time, time } },
              })
            : await call(base, 'POST', D, { token, body: { value: time, time } });
          if (r.status === 200) {
            acked.add(time);
            if (raw) rawAcked++;
          }
        } catch {
          return; // connection refused or reset: the server is gone
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, i) => writer(i % 2 === 0));
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
    assert.ok(rawAcked > 0 && rawAcked < acked.size, `${rawAcked} of ${acked.size} through the raw path`);
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

test('serve starts the CoAP and CoAPs APIs and the poller: a PSK device added over HTTP posts over coaps:// at once', async (t) => {
  const dir = tmp(t);
  const ca = await createCa({ cn: 'Serve Test CA' });
  const server = await issueCertificate({ ca, cn: 'localhost', ip: ['127.0.0.1'], usage: 'server' });
  writeFileSync(join(dir, 'cert.pem'), server.certPem);
  writeFileSync(join(dir, 'key.pem'), server.keyPem as string);
  writeFileSync(join(dir, 'rpk.pem'), await generateKeyPem());
  const ev = await serve(t, [
    '--db',
    join(dir, 'coap.db'),
    '--http-port',
    '0',
    '--dtls-cert',
    join(dir, 'cert.pem'),
    '--dtls-key',
    join(dir, 'key.pem'),
    '--rpk-key',
    join(dir, 'rpk.pem'),
  ]);
  assert.match(ev.coap!, /^coap:\/\/127\.0\.0\.1:\d+$/);
  assert.match(ev.coaps!, /^coaps:\/\/127\.0\.0\.1:\d+$/);
  assert.deepEqual(ev.coapsModes, ['psk', 'rpk', 'x509']);
  assert.equal(ev.poller, true);

  const { uid, token } = await newUser(ev.http!, 'dora');
  const { rid } = await newResource(ev.http!, uid, token, 'kitchen');
  const key = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
  const dev = await call(ev.http!, 'POST', `/users/${uid}/resources/${rid}/devices`, {
    token,
    body: { mode: 'psk', psk_identity: 'kitchen-1', psk_key: key },
  });
  assert.equal(dev.status, 201, dev.text);

  const client = new CoapClient({ security: { psk: { identity: 'kitchen-1', key: Buffer.from(key, 'hex') } } });
  t.after(() => client.close());
  const res = await client.post(
    `${ev.coaps}/users/${uid}/resources/${rid}/data`,
    Buffer.from(JSON.stringify({ temperature: 21.5 })),
    { contentFormat: 50 },
  );
  assert.ok(res.ok, `${res.status} ${res.payload.toString()}`);
  const streams = await call(ev.http!, 'GET', `/users/${uid}/resources/${rid}/streams`, { token });
  assert.equal(streams.status, 200);
  const temp = (streams.json as Array<{ id: number; label: string }>).find((s) => s.label.includes('temperature'));
  assert.ok(temp, streams.text);
  const data = await call(ev.http!, 'GET', `/users/${uid}/resources/${rid}/streams/${temp.id}/data`, { token });
  assert.match(data.text, /"value":21\.5\b/, data.text);
  // Plain coap:// answers too (without a key: 4.01).
  const anon = await client.get(`${ev.coap}/users/${uid}/resources/${rid}`);
  assert.equal(anon.status, '4.01');
});

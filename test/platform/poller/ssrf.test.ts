/**
 * No server-side request forgery: the poller and resource validation refuse loopback, private,
 * link-local and every other special-purpose address — literal at create/update (400 naming
 * polling_url), after name resolution and on redirects at poll time (a `forbidden` poll-log entry,
 * nothing fetched) — for http, https, coap and coaps; the operator's allow-list lets a lab device
 * through. Real servers on loopback throughout, real name resolution (`localhost` from /etc/hosts).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type TestContext, test } from 'node:test';
import { CoapServer, ContentFormat, UdpTransport } from '../../../src/coap/index.ts';
import type { SecureSenseConfig } from '../../../src/platform/config.ts';
import { loadConfig } from '../../../src/platform/config.ts';
import { addressClass, ForbiddenAddressError, NetGuard } from '../../../src/platform/net-guard.ts';
import { Poller } from '../../../src/platform/poller/index.ts';
import { target } from '../engines.ts';
import { call, newUser, startPlatform } from '../helpers.ts';

/** An HTTP server on 127.0.0.1 that counts its hits; `/go?to=URL` redirects there, anything else answers JSON. */
async function httpDevice(t: TestContext): Promise<{ port: number; hits: string[] }> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to');
    if (to) {
      res.writeHead(302, { location: to }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ temp: 21.5 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const addr = server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, hits };
}

async function coapDevice(t: TestContext): Promise<{ port: number; hits: number[] }> {
  const hits: number[] = [];
  const transport = await UdpTransport.bind({ host: '127.0.0.1', port: 0 });
  const server = new CoapServer();
  server.get('/sensors', () => {
    hits.push(Date.now());
    return { payload: JSON.stringify({ temp: 19 }), contentFormat: ContentFormat['application/json'] };
  });
  server.listen(transport);
  t.after(() => server.close());
  return { port: transport.address().port, hits };
}

async function setup(t: TestContext, tweak: (c: SecureSenseConfig) => void = () => {}) {
  const tg = await target(t, 'sqlite');
  if (!tg) throw new Error('sqlite target');
  const p = await startPlatform(t, tg, tweak);
  const poller = new Poller(p.service, { startJitterMs: 60_000 });
  await poller.start();
  t.after(() => poller.stop());
  const { uid, token } = await newUser(p.base, 'ann');
  const R = `/users/${uid}/resources`;
  const create = (url: string) =>
    call(p.base, 'POST', R, { token, body: { label: 'r', polling_url: url, polling_period: 3600 } });
  return { p, poller, token, R, create };
}

test('every class of special-purpose address is recognised, IPv4-mapped and NAT64 forms by the IPv4 inside', () => {
  const table: Array<[string, string | undefined]> = [
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['fd00::7', 'private'],
    ['fc00::1', 'private'],
    ['100.64.0.1', 'shared (CGNAT)'],
    ['100.127.255.254', 'shared (CGNAT)'],
    ['224.0.1.187', 'multicast'],
    ['ff02::fd', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.10', 'documentation'],
    ['2001:db8::1', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['::127.0.0.1', 'reserved'],
    // Public unicast: fetched.
    ['8.8.8.8', undefined],
    ['172.32.0.1', undefined],
    ['100.128.0.1', undefined],
    ['2606:4700:4700::1111', undefined],
    ['::ffff:8.8.8.8', undefined],
  ];
  for (const [address, cls] of table) assert.equal(addressClass(address), cls, address);
});

test('a literal forbidden address in polling_url is a 400 naming polling_url on create and update', async (t) => {
  const s = await setup(t);
  const api = new URL(s.p.base).port;
  const refused = [
    `http://127.0.0.1:${api}/info`,
    'http://169.254.169.254/latest/meta-data',
    'http://[::1]/',
    'http://0x7f.1/', // the WHATWG parser makes this 127.0.0.1
    'http://10.0.0.1/',
    'https://192.168.0.1/',
    'https://100.64.0.1/',
    'http://0.0.0.0:80/',
    'coap://[::ffff:127.0.0.1]/x',
    'coap://224.0.1.187/.well-known/core',
    'coaps://[fe80::1]/sensors',
    'coaps://[fd00::1]:5684/sensors',
    'http://255.255.255.255/',
  ];
  for (const url of refused) {
    const r = await s.create(url);
    assert.equal(r.status, 400, `${url}: ${r.text}`);
    assert.match(r.json.message, /^polling_url: .+ is a .+ address: the platform fetches only public addresses/, url);
  }
  const meta = await s.create('http://169.254.169.254/latest/meta-data');
  assert.match(meta.json.message, /169\.254\.169\.254 is a link-local address/);

  // A public address and a name are accepted (a name is judged when it resolves).
  const ok = await s.create('https://93.184.215.14/data');
  assert.equal(ok.status, 201, ok.text);
  const named = await s.create('coaps://sensor.example/s');
  assert.equal(named.status, 201, named.text);
  const put = await call(s.p.base, 'PUT', `${s.R}/${ok.json.id}`, {
    token: s.token,
    body: { polling_url: 'http://[::ffff:169.254.169.254]/latest/meta-data' },
  });
  assert.equal(put.status, 400, put.text);
  assert.match(put.json.message, /^polling_url: .*link-local/);
  // The refused change did not land.
  const got = await call(s.p.base, 'GET', `${s.R}/${ok.json.id}`, { token: s.token });
  assert.equal(got.json.polling_url, 'https://93.184.215.14/data');
});

test('a name that resolves to loopback (localhost) is refused at poll time and logged; nothing is fetched', async (t) => {
  const dev = await httpDevice(t);
  const coap = await coapDevice(t);
  const s = await setup(t);
  const api = new URL(s.p.base).port;
  for (const url of [
    `http://localhost:${dev.port}/sensors`,
    `http://localhost:${api}/info`,
    `coap://localhost:${coap.port}/sensors`,
    `coaps://localhost:${coap.port}/sensors`,
  ]) {
    const r = await s.create(url);
    assert.equal(r.status, 201, r.text);
    const e = await s.poller.pollNow(r.json.id);
    assert.equal(e.ok, false, url);
    assert.equal(e.status, url.startsWith('coaps') ? 'credentials' : 'forbidden', `${url}: ${e.message}`);
    if (!url.startsWith('coaps'))
      assert.match(e.message ?? '', /localhost \((127\.0\.0\.1|::1)\) is a loopback address/);
    const log = await call(s.p.base, 'GET', `${s.R}/${r.json.id}/log`, { token: s.token });
    assert.equal(log.json[0].status, e.status);
  }
  assert.deepEqual(dev.hits, [], 'the device behind localhost was never reached');
  assert.deepEqual(coap.hits, []);
  assert.ok(s.p.service.netGuard.refused >= 3);
});

test('a coaps:// name that resolves to loopback is refused before any handshake', async (t) => {
  const coap = await coapDevice(t);
  const s = await setup(t);
  const r = await s.create(`coaps://localhost:${coap.port}/sensors`);
  const bind = await call(s.p.base, 'POST', `${s.R}/${r.json.id}/devices`, {
    token: s.token,
    body: { mode: 'psk', psk_identity: 'dev', psk_key: '00112233445566778899aabbccddeeff' },
  });
  assert.equal(bind.status, 201, bind.text);
  const e = await s.poller.pollNow(r.json.id);
  assert.equal(e.status, 'forbidden', e.message ?? '');
  assert.match(e.message ?? '', /loopback/);
  assert.equal(e.newSession, false);
});

test('a redirect to a forbidden address is refused, each hop checked; an allowed hop is followed', async (t) => {
  const dev = await httpDevice(t);
  // The lab device itself is allowed (address and port), nothing else on loopback.
  const s = await setup(t, (c) => {
    c.poller.allow = [`127.0.0.1:${dev.port}`];
  });
  const base = `http://127.0.0.1:${dev.port}`;
  for (const to of [
    'http://169.254.169.254/latest/meta-data',
    `http://[::1]:${dev.port}/sensors`,
    `http://localhost:${new URL(s.p.base).port}/info`,
    `http://127.0.0.2:${dev.port}/sensors`,
  ]) {
    const r = await s.create(`${base}/go?to=${encodeURIComponent(to)}`);
    assert.equal(r.status, 201, r.text);
    const e = await s.poller.pollNow(r.json.id);
    assert.equal(e.status, 'forbidden', `${to}: ${e.message}`);
  }
  // Only the first hops reached the device; no redirect target was fetched.
  assert.ok(
    dev.hits.every((h) => h.startsWith('/go?')),
    dev.hits.join(' '),
  );

  const follow = await s.create(`${base}/go?to=${encodeURIComponent(`${base}/sensors`)}`);
  const e = await s.poller.pollNow(follow.json.id);
  assert.equal(e.ok, true, e.message ?? '');
  assert.equal(e.points, 1);
  assert.equal(dev.hits.at(-1), '/sensors');
});

test('the allow-list lets lab devices through: an address with its port, a CIDR block, a host name', async (t) => {
  const dev = await httpDevice(t);
  const coap = await coapDevice(t);
  const s = await setup(t, (c) => {
    c.poller.allow = [`127.0.0.1:${dev.port}`, '127.0.0.0/30', `localhost:${coap.port}`];
  });
  for (const url of [
    `http://127.0.0.1:${dev.port}/sensors`,
    `coap://127.0.0.1:${coap.port}/sensors`,
    `coap://localhost:${coap.port}/sensors`,
  ]) {
    const r = await s.create(url);
    assert.equal(r.status, 201, `${url}: ${r.text}`);
    const e = await s.poller.pollNow(r.json.id);
    assert.equal(e.ok, true, `${url}: ${e.status} ${e.message}`);
    assert.equal(e.points, 1, url);
  }
  assert.equal(coap.hits.length, 2);
  // Outside the entries: another loopback address, another family.
  assert.equal((await s.create('http://127.0.0.9/')).status, 400);
  assert.equal((await s.create(`http://[::1]:${dev.port}/sensors`)).status, 400);
});

test('the guard connects to the address it checked: a second resolution (DNS rebinding) is never made', async (t) => {
  const dev = await httpDevice(t);
  // A lab name the operator allowed, whose resolver answers once and would answer the cloud
  // metadata address the next time: the fetch must go to the first, checked answer.
  const answers = ['127.0.0.1', '169.254.169.254'];
  const lookups: string[] = [];
  const guard = new NetGuard({
    allow: ['127.0.0.1'],
    resolve: async (host) => {
      lookups.push(host);
      return [{ address: answers[Math.min(lookups.length - 1, 1)], family: 4 }];
    },
  });
  const s = await setup(t);
  const poller = new Poller(s.p.service, { startJitterMs: 60_000, guard });
  t.after(() => poller.stop());
  const r = await s.create(`http://rebind.test:${dev.port}/sensors`);
  const first = await poller.pollNow(r.json.id);
  assert.equal(first.ok, true, first.message ?? '');
  assert.equal(lookups.length, 1, 'one lookup per poll: Node resolved nothing itself');
  const second = await poller.pollNow(r.json.id);
  assert.equal(second.status, 'forbidden');
  assert.match(second.message ?? '', /rebind\.test \(169\.254\.169\.254\) is a link-local address/);
  assert.equal(dev.hits.length, 1);

  // A name with several addresses is refused when any of them is forbidden.
  const mixed = new NetGuard({
    resolve: async () => [
      { address: '93.184.215.14', family: 4 },
      { address: '10.0.0.5', family: 4 },
    ],
  });
  await assert.rejects(mixed.resolve('two.test', 80), ForbiddenAddressError);
});

test('the allow-list config: SECURESENSE_POLLER_ALLOW entries are checked at start', () => {
  const c = loadConfig({ env: { SECURESENSE_POLLER_ALLOW: '10.0.0.0/8, [fd00::7]:5684 sensor.lab:8080' } });
  assert.deepEqual(c.poller.allow, ['10.0.0.0/8', '[fd00::7]:5684', 'sensor.lab:8080']);
  assert.throws(
    () => loadConfig({ env: { SECURESENSE_POLLER_ALLOW: '10.0.0.0/33' } }),
    /SECURESENSE_POLLER_ALLOW allow entry "10.0.0.0\/33": prefix must be 0–32/,
  );
  assert.throws(
    () => loadConfig({ env: { SECURESENSE_POLLER_ALLOW: 'exa$mple' } }),
    /SECURESENSE_POLLER_ALLOW allow entry/,
  );
});

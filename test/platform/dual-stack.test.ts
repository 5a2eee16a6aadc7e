/**
 * Dual-stack by default: a platform started with the default hosts (`::`) serves HTTP, coap:// and
 * coaps:// to clients over IPv6 (`::1`) and over IPv4 (`127.0.0.1`, reaching the same sockets as
 * IPv4-mapped addresses); a PSK device stores a point over coaps:// from each family. A port in
 * use fails the start with the option that moves it.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { CoapClient } from '../../src/coap/index.ts';
import { DEFAULT_CONFIG, loadConfig } from '../../src/platform/config.ts';
import { createPlatform } from '../../src/platform/index.ts';
import { bindPsk } from './coap/helpers.ts';
import { target } from './engines.ts';
import { call, newResource, newStream, newUser } from './helpers.ts';

test('the default hosts are dual-stack: HTTP, coap:// and coaps:// answer over ::1 and 127.0.0.1', async (t) => {
  assert.equal(DEFAULT_CONFIG.http.host, '::');
  assert.equal(DEFAULT_CONFIG.coap.host, '::');
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  // Only the ports are overridden: the hosts are the defaults.
  const cfg = loadConfig({ env: {}, overrides: { db: tg.db, http: { port: 0 }, coap: { port: 0, coapsPort: 0 } } });
  const p = await createPlatform(cfg, { coap: true });
  t.after(() => p.close());
  const port = p.http.plain?.port;
  assert.match(p.http.plain?.url ?? '', /^http:\/\/\[::\]:\d+$/);

  const v4 = `http://127.0.0.1:${port}`;
  const v6 = `http://[::1]:${port}`;
  for (const base of [v4, v6]) {
    const info = await call(base, 'GET', '/info');
    assert.equal(info.status, 200, `${base}: ${info.text}`);
  }
  const { uid, token } = await newUser(v6, 'dual');
  const { rid } = await newResource(v4, uid, token, 'both families');
  const { sid } = await newStream(v6, uid, rid, token, { label: 't', unit: 'C' });
  const psk = await bindPsk(v4, token, uid, rid, 'dual-device');

  const plain = new CoapClient({ params: { ackTimeout: 1000 } });
  const secure = new CoapClient({
    params: { ackTimeout: 1000 },
    security: { psk: { identity: 'dual-device', key: psk } },
  });
  t.after(async () => {
    await plain.close();
    await secure.close();
  });
  const path = `/users/${uid}/resources/${rid}/streams/${sid}`;
  let value = 0;
  for (const host of ['127.0.0.1', '[::1]']) {
    const r = await plain.request(`coap://${host}:${p.coap?.coap?.port}${path}?key=${token}`);
    assert.equal(r.status, '2.05', `coap://${host}: ${r.payload}`);
    const w = await secure.request(`coaps://${host}:${p.coap?.coaps?.port}${path}/data`, {
      method: 'POST',
      payload: JSON.stringify({ value: ++value }),
      contentFormat: 50,
    });
    assert.equal(w.status, '2.04', `coaps://${host}: ${w.payload}`);
  }
  const data = await call(v4, 'GET', `${path}/data`, { token });
  assert.equal(data.status, 200, data.text);
  assert.deepEqual(
    (data.json.points as Array<{ value: number }>).map((x) => x.value).sort(),
    [1, 2],
    'one point from each family',
  );
});

test('a port in use fails the start with the listener and the option that moves it', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '::', () => r()));
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const cfg = loadConfig({ env: {}, overrides: { db: tg.db, http: { port } } });
  await assert.rejects(createPlatform(cfg), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'EADDRINUSE');
    assert.match(err.message, new RegExp(`the http port ${port} on :: is already in use`));
    assert.match(err.message, /--http-port \(http\.port\) — 0 takes any free port/);
    return true;
  });
});

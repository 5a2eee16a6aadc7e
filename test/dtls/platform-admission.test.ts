/**
 * The half-open attack through the platform's coaps:// port: 2 000 clients pass the cookie
 * exchange and go silent; a device already connected keeps posting, and a newly bound device gets
 * in within a second. Also: the coaps:// limits are read from the platform config.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:dgram';
import { test } from 'node:test';
import { ContentFormat } from '../../src/coap/index.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { bindPsk, client, startCoapPlatform } from '../platform/coap/helpers.ts';
import { target } from '../platform/engines.ts';
import { newResource, newUser } from '../platform/helpers.ts';
import { bindSocket, halfOpen } from './admission-attacks.ts';

const JSON_CF = { contentFormat: ContentFormat['application/json'] };

test('2 000 half-open handshakes on the platform’s coaps:// port: devices keep working', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startCoapPlatform(t, tg, { maxHandshakes: 1000 });
  const { uid, token } = await newUser(p.base, 'ann');
  const a = await newResource(p.base, uid, token, 'A');
  const url = `${p.coapsBase}/users/${uid}/resources/${a.rid}/data`;
  const keyOld = await bindPsk(p.base, token, uid, a.rid, 'old-device');
  const keyNew = await bindPsk(p.base, token, uid, a.rid, 'new-device');
  const old = client(t, { security: { psk: { identity: 'old-device', key: keyOld } } });
  assert.equal((await old.post(url, '{"t":1}', JSON_CF)).status, '2.04');

  const port = p.coapApi.coaps?.port ?? 0;
  const attackers: Socket[] = [];
  t.after(() => Promise.all(attackers.map((s) => new Promise<void>((r) => s.close(() => r())))));
  for (let i = 0; i < 2000; i++) attackers.push(await bindSocket(`127.0.3.${1 + (i % 20)}`));
  let next = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (next < attackers.length) await halfOpen(attackers[next++], port);
    }),
  );
  const stats = p.coapApi.coaps?.transport.server.stats;
  assert.equal(stats?.handshakes, 1000);
  assert.equal(stats?.evictions.handshakeCapacity, 1000);

  // The established device is untouched by the attack.
  assert.equal((await old.post(url, '{"t":2}', JSON_CF)).status, '2.04');
  // A new device handshakes and posts within a second.
  const start = performance.now();
  const dev = client(t, { security: { psk: { identity: 'new-device', key: keyNew } } });
  assert.equal((await dev.post(url, '{"t":3}', JSON_CF)).status, '2.04');
  const ms = performance.now() - start;
  assert.ok(ms < 1000, `new device took ${ms.toFixed(0)} ms`);
  assert.equal(stats?.sessions, 2);
});

test('the coaps:// limits come from the platform config (file keys and SECURESENSE_COAPS_*)', () => {
  const cfg = loadConfig({
    env: {
      SECURESENSE_COAPS_MAX_SESSIONS: '150000',
      SECURESENSE_COAPS_MAX_HANDSHAKES: '200',
      SECURESENSE_COAPS_HANDSHAKE_TIMEOUT: '5000',
      SECURESENSE_COAPS_IDLE_TIMEOUT: '0',
      SECURESENSE_COAPS_RECV_BUFFER: '8388608',
      SECURESENSE_COAPS_SESSION_CACHE: '20480',
    },
  });
  assert.equal(cfg.dtls.sessionCache, 20_480);
  assert.equal(loadConfig({ env: {} }).dtls.sessionCache, 100_000);
  assert.throws(
    () => loadConfig({ env: { SECURESENSE_COAPS_SESSION_CACHE: 'all' } }),
    /SECURESENSE_COAPS_SESSION_CACHE/,
  );
  assert.equal(cfg.dtls.maxSessions, 150_000);
  assert.equal(cfg.dtls.maxHandshakes, 200);
  assert.equal(cfg.dtls.handshakeTimeout, 5000);
  assert.equal(cfg.dtls.idleTimeout, 0);
  assert.equal(cfg.dtls.recvBuffer, 8_388_608);
  assert.throws(() => loadConfig({ env: { SECURESENSE_COAPS_MAX_SESSIONS: '0' } }), /SECURESENSE_COAPS_MAX_SESSIONS/);
});

test('the platform keeps as many resumable coaps:// sessions as it is told; one past the bound is counted', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startCoapPlatform(t, tg, { maxCachedSessions: 1 });
  const { uid, token } = await newUser(p.base, 'bo');
  const a = await newResource(p.base, uid, token, 'A');
  const url = `${p.coapsBase}/users/${uid}/resources/${a.rid}/data`;
  for (const identity of ['dev-1', 'dev-2', 'dev-3']) {
    const key = await bindPsk(p.base, token, uid, a.rid, identity);
    const dev = client(t, { security: { psk: { identity, key } } });
    assert.equal((await dev.post(url, '{"t":1}', JSON_CF)).status, '2.04');
  }
  // Three full handshakes into a cache of one: two sessions dropped at the bound.
  assert.equal(p.coapApi.coaps?.transport.server.stats.evictions.sessionCache, 2);
});

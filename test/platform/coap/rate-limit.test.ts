/**
 * The CoAP API's rate limits: password guessing on `POST /login` gets 4.29 Too Many Requests with
 * Max-Age (RFC 8516) after ten tries, the right password included; bogus `?key=`s are limited by
 * address; the buckets are shared with the HTTP API of the same process.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ContentFormat } from '../../../src/coap/index.ts';
import { loadConfig } from '../../../src/platform/config.ts';
import { createPlatform } from '../../../src/platform/index.ts';
import { target } from '../engines.ts';
import { call, newUser } from '../helpers.ts';
import { client } from './helpers.ts';

const JSON_CF = { contentFormat: ContentFormat['application/json'] };

async function platform(t: import('node:test').TestContext) {
  const tg = await target(t, 'sqlite');
  if (!tg) return undefined;
  const cfg = loadConfig({
    env: {},
    overrides: {
      db: tg.db,
      http: { host: '127.0.0.1', port: 0 },
      coap: { host: '127.0.0.1', port: 0, coapsPort: null },
    },
  });
  const p = await createPlatform(cfg, { coap: true });
  t.after(() => p.close());
  return { p, base: p.http.plain?.url ?? '', coap: `coap://127.0.0.1:${p.coap?.coap?.port}` };
}

test('CoAP login guessing gets 4.29 with Max-Age after ten tries; the right password waits too; another user does not', async (t) => {
  const s = await platform(t);
  if (!s) return;
  await newUser(s.base, 'alice');
  await newUser(s.base, 'bob');
  const c = client(t);
  const codes: string[] = [];
  let maxAge: number | undefined;
  let diagnostic = '';
  for (let i = 0; i < 40; i++) {
    const r = await c.post(
      `${s.coap}/login`,
      JSON.stringify({ username: 'alice', password: `wrong password ${i}` }),
      JSON_CF,
    );
    codes.push(r.status);
    if (r.status === '4.29') {
      maxAge = r.maxAge;
      diagnostic = r.payload.toString('utf8');
    }
  }
  assert.deepEqual(codes.slice(0, 10), Array(10).fill('4.01'));
  // Then one every 6 s: a loaded machine (an scrypt per wrong password) may see a refill or two.
  assert.ok(codes.filter((c) => c === '4.01').length <= 13, codes.join(' '));
  assert.ok(codes.filter((c) => c === '4.29').length >= 27, codes.join(' '));
  assert.equal(codes.at(-1), '4.29');
  assert.ok(maxAge !== undefined && maxAge >= 1, `Max-Age ${maxAge}`);
  assert.match(diagnostic, /too many sign-in attempts: retry after \d+ s/);
  const right = await c.post(
    `${s.coap}/login`,
    JSON.stringify({ username: 'alice', password: 'a good password' }),
    JSON_CF,
  );
  assert.equal(right.status, '4.29', 'even the right password waits: the guesser cannot tell');
  const bob = await c.post(
    `${s.coap}/login`,
    JSON.stringify({ username: 'bob', password: 'a good password' }),
    JSON_CF,
  );
  assert.equal(bob.status, '2.04', bob.payload.toString());
});

test('bogus ?key= over CoAP: 4.29 after the failure bucket, shared with HTTP of the same address', async (t) => {
  const s = await platform(t);
  if (!s) return;
  const a = await newUser(s.base, 'alice');
  const c = client(t);
  const seen = new Map<string, number>();
  const t0 = Date.now();
  for (let i = 0; i < 100; i++) {
    const r = await c.get(`${s.coap}/users/${a.uid}?key=sst_bogus${i}`);
    seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
  }
  // The failure bucket (60) and one refill a second while they ran.
  const refills = Math.ceil((Date.now() - t0) / 1000);
  assert.ok((seen.get('4.01') ?? 0) <= 60 + refills, `${JSON.stringify([...seen])} in ${refills} s`);
  assert.ok((seen.get('4.29') ?? 0) >= 40 - refills, JSON.stringify([...seen]));
  // The same address over HTTP is refused before its token is checked.
  const http = await call(s.base, 'GET', '/users/me', { token: a.token });
  assert.equal(http.status, 429);
  assert.ok(Number(http.headers.get('retry-after')) >= 1);
});

/** The per-credential token bucket on the HTTP API, through real HTTP (sqlite; the limiter is engine-free). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimiter } from '../../src/platform/http/rate-limit.ts';
import { ClientLimits } from '../../src/platform/limits.ts';
import { clientKey } from '../../src/util/ip.ts';
import { target } from './engines.ts';
import { call, newUser, startPlatform } from './helpers.ts';

test('a burst over the limit gets 429 + Retry-After; another credential is not affected; after the wait it passes', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startPlatform(t, tg, (c) => {
    c.api.rateLimit = 1;
    c.api.rateBurst = 3;
  });
  const a = await newUser(p.base, 'alice'); // anonymous POST: one token of 127.0.0.1's bucket
  const statuses: number[] = [];
  let last = await call(p.base, 'GET', '/users/me', { token: a.token });
  statuses.push(last.status);
  for (let i = 0; i < 3; i++) {
    last = await call(p.base, 'GET', '/users/me', { token: a.token });
    statuses.push(last.status);
  }
  assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
  assert.equal(last.status, 429);
  assert.equal(last.json.error, 'Too Many Requests');
  assert.match(last.json.message, /retry after/);
  const wait = Number(last.headers.get('retry-after'));
  assert.ok(Number.isInteger(wait) && wait >= 1, `Retry-After ${last.headers.get('retry-after')}`);

  // Another credential (the ?key= form of a second user's token) has its own bucket.
  const b = await newUser(p.base, 'bob');
  const other = await call(p.base, 'GET', `/users/me?key=${b.token}`);
  assert.equal(other.status, 200);
  assert.equal(other.json.username, 'bob');

  await new Promise((r) => setTimeout(r, wait * 1000 + 50));
  const again = await call(p.base, 'GET', '/users/me', { token: a.token });
  assert.equal(again.status, 200);
  assert.equal(again.json.username, 'alice');
});

test('rateLimit 0 turns the limit off', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startPlatform(t, tg, (c) => {
    c.api.rateLimit = 0;
    c.api.rateBurst = 1;
  });
  const a = await newUser(p.base, 'alice');
  for (let i = 0; i < 5; i++) assert.equal((await call(p.base, 'GET', '/users/me', { token: a.token })).status, 200);
});

test('password guessing on /login gets 429 per IP and username; the right password of another user still works', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startPlatform(t, tg);
  await newUser(p.base, 'alice');
  await newUser(p.base, 'bob');
  const seen: number[] = [];
  // Ten at once, then one every 6 s: each wrong password costs an scrypt, so on a loaded machine
  // the bucket may refill once or twice during the ten; a 429 must come within a few more tries.
  for (let i = 0; i < 14 && seen.at(-1) !== 429; i++) {
    const r = await call(p.base, 'POST', '/login', { body: { username: 'alice', password: `wrong password ${i}` } });
    seen.push(r.status);
    if (r.status === 429) {
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      assert.equal(r.json.error, 'Too Many Requests');
    }
  }
  assert.deepEqual(seen.slice(0, 10), Array(10).fill(401));
  assert.equal(seen.at(-1), 429, seen.join(' '));
  // Even the right password waits now: the guesser cannot tell.
  const right = await call(p.base, 'POST', '/login', { body: { username: 'alice', password: 'a good password' } });
  assert.equal(right.status, 429);
  const bob = await call(p.base, 'POST', '/login', { body: { username: 'bob', password: 'a good password' } });
  assert.equal(bob.status, 200);
});

test('the limiter keeps a bounded number of buckets and drops idle ones first', () => {
  let now = 0;
  const l = new RateLimiter({ rate: 10, burst: 2, maxKeys: 4, now: () => now });
  for (let i = 0; i < 4; i++) assert.equal(l.take(`k${i}`), 0);
  assert.equal(l.take('k0'), 0);
  assert.ok(l.take('k0') >= 1, 'k0 is empty');
  now += 1000; // every bucket refills: all idle
  assert.equal(l.take('new'), 0);
  assert.ok(l.size <= 4);
  for (let i = 0; i < 100; i++) l.take(`x${i}`);
  assert.ok(l.size <= 4, `size ${l.size}`);
});

test('a flood of bogus tokens is limited by client address: 429s, not 2 000 × 401; the address recovers', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startPlatform(t, tg); // the defaults: 60 failed authentications per minute per address
  const a = await newUser(p.base, 'alice');
  const seen = new Map<number, number>();
  let retryAfter: string | null = null;
  // 2 000 requests, each with its own bogus token, 20 at a time.
  const t0 = Date.now();
  for (let i = 0; i < 2000; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: 20 }, (_, j) => call(p.base, 'GET', '/users/me', { token: `sst_bogus${i + j}` })),
    );
    for (const r of batch) {
      seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
  }
  const unauthorized = seen.get(401) ?? 0;
  const limited = seen.get(429) ?? 0;
  t.diagnostic(`401: ${unauthorized}, 429: ${limited}`);
  assert.equal(unauthorized + limited, 2000, JSON.stringify([...seen]));
  // The failure bucket (60), one batch in flight, and one refill a second while the flood ran.
  const refills = Math.ceil((Date.now() - t0) / 1000);
  assert.ok(unauthorized <= 60 + 20 + refills, `${unauthorized} × 401 in ${refills} s`);
  assert.ok(limited >= 1900, `${limited} × 429`);
  assert.ok(Number(retryAfter) >= 1, `Retry-After ${retryAfter}`);

  // Keyed by address before authentication: the address is refused whatever it presents… (right
  // after a bogus token's 429; tried thrice, as the bucket refills one failure a second)
  let valid = 0;
  for (let i = 0; i < 3 && valid !== 429; i++) {
    while ((await call(p.base, 'GET', '/users/me', { token: 'sst_bogus' })).status !== 429);
    valid = (await call(p.base, 'GET', '/users/me', { token: a.token })).status;
  }
  assert.equal(valid, 429);
  // …until its failure bucket refills (one per second at 60 a minute).
  await new Promise((r) => setTimeout(r, Number(retryAfter) * 1000 + 100));
  const back = await call(p.base, 'GET', '/users/me', { token: a.token });
  assert.equal(back.status, 200, back.text);
  assert.equal(back.json.username, 'alice');
});

test('authenticated requests are charged to the principal, not the address: one user over its limit does not stop another at the same address', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startPlatform(t, tg, (c) => {
    c.api.rateLimit = 1;
    c.api.rateBurst = 5;
  });
  const a = await newUser(p.base, 'alice');
  const b = await newUser(p.base, 'bob');
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await call(p.base, 'GET', '/users/me', { token: a.token })).status);
  assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
  assert.ok(statuses.slice(5).includes(429), statuses.join(' '));
  // Bob, at the same address: his own bucket; the address's was given back for every authenticated request.
  for (let i = 0; i < 4; i++) assert.equal((await call(p.base, 'GET', '/users/me', { token: b.token })).status, 200);
});

test('an address is one client whichever socket it reached, and an IPv6 client is its /64', () => {
  assert.equal(clientKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(clientKey('192.0.2.7'), '192.0.2.7');
  assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64');
  assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  // So failures from an IPv6 client's many addresses, and from both socket kinds, share one bucket.
  const l = new ClientLimits({ rate: 100, burst: 100, loginPerMinute: 10, failuresPerMinute: 3, now: () => 0 });
  l.failed('2001:db8:1:2::a');
  l.failed('2001:db8:1:2::b');
  l.failed('2001:db8:1:2::c');
  assert.ok(l.admit('2001:db8:1:2::d') >= 1);
  assert.equal(l.admit('2001:db8:1:3::d'), 0);
  l.failed('::ffff:198.51.100.1');
  l.failed('198.51.100.1');
  l.failed('::ffff:198.51.100.1');
  assert.ok(l.admit('198.51.100.1') >= 1);
  assert.deepEqual(l.refused, { address: 0, principal: 0, failures: 2, login: 0 });
});

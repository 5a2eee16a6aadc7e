/**
 * Sign-in sessions, named API tokens and GET /info, through real HTTP on both engines.
 * A sign-in (`POST /login`) must never break the API token scripts and devices use.
 */
import assert from 'node:assert/strict';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../../src/platform/config.ts';
import { createPlatform } from '../../src/platform/index.ts';
import { hashSecret, PlatformService } from '../../src/platform/service.ts';
import { openStore } from '../../src/platform/store/index.ts';
import { SchemaPostgresDialect } from '../../src/platform/store/pg-introspector.ts';
import { type Database, migrations } from '../../src/platform/store/schema.ts';
import { bothEngines } from './engines.ts';
import { call, newResource, newUser, startPlatform } from './helpers.ts';

const PASSWORD = 'a good password';
const login = (base: string, username: string, password = PASSWORD) =>
  call(base, 'POST', '/login', { body: { username, password } });

bothEngines('a sign-in leaves the API token working; logout revokes only the session', async (t, tg) => {
  const { base, store } = await startPlatform(t, tg);
  const { uid, token } = await newUser(base, 'ann');
  const { rid } = await newResource(base, uid, token, 'before');

  const s1 = await login(base, 'ann');
  assert.equal(s1.status, 200, s1.text);
  assert.match(s1.json.token, /^ssn_/);
  assert.equal(s1.json.id, uid);
  assert.ok(s1.json.expires_at > Date.now() + 11 * 3600_000, 'default lifetime is 12 h');
  const s2 = await login(base, 'ann');
  assert.notEqual(s2.json.token, s1.json.token);

  // The API token from POST /users still works after two sign-ins, by header and by ?key=.
  assert.equal((await call(base, 'GET', `/users/${uid}/resources/${rid}`, { token })).status, 200);
  assert.equal((await call(base, 'GET', `/users/${uid}?key=${token}`)).status, 200);
  // Each session works wherever a user token does: it makes a resource.
  for (const s of [s1, s2]) {
    const who = await call(base, 'GET', '/users/me', { token: s.json.token });
    assert.equal(who.json.id, uid);
    assert.equal((await call(base, 'GET', `/users/${uid}/resources?key=${s.json.token}`)).status, 200);
  }
  const made = await call(base, 'POST', `/users/${uid}/resources`, { token: s1.json.token, body: { label: 'x' } });
  assert.equal(made.status, 201);

  // Only the session's hash is stored.
  const row = await store.getUserSessionByHash(hashSecret(s1.json.token));
  assert.equal(row?.userId, uid);

  // Logout revokes that session only.
  assert.equal((await call(base, 'POST', '/logout', { token: s1.json.token })).status, 204);
  const after = await call(base, 'GET', '/users/me', { token: s1.json.token });
  assert.equal(after.status, 401);
  assert.equal(await store.getUserSessionByHash(hashSecret(s1.json.token)), undefined);
  assert.equal((await call(base, 'GET', '/users/me', { token: s2.json.token })).status, 200);
  assert.equal((await call(base, 'GET', '/users/me', { token })).status, 200);
  // Logging out twice, without a token or with an API token: refused, nothing revoked.
  assert.equal((await call(base, 'POST', '/logout', { token: s1.json.token })).status, 401);
  assert.equal((await call(base, 'POST', '/logout')).status, 401);
  assert.equal((await call(base, 'POST', '/logout', { token })).status, 400);
  assert.equal((await call(base, 'GET', '/users/me', { token })).status, 200);

  // Wrong password: no session.
  assert.equal((await login(base, 'ann', 'not the password')).status, 401);

  // A new password ends every session (s2 and s3), not the API token.
  const s3 = await login(base, 'ann');
  const pw = await call(base, 'PUT', `/users/${uid}`, { token: s3.json.token, body: { password: 'a newer password' } });
  assert.equal(pw.status, 200);
  for (const s of [s2, s3]) assert.equal((await call(base, 'GET', '/users/me', { token: s.json.token })).status, 401);
  assert.equal((await call(base, 'GET', '/users/me', { token })).status, 200);
});

bothEngines('an expired session is refused with "session expired" and its row deleted', async (t, tg) => {
  const { base, store } = await startPlatform(t, tg, (c) => {
    c.api.sessionLifetime = 1;
  });
  const { uid, token } = await newUser(base, 'ann');
  const s = await login(base, 'ann');
  assert.equal(s.status, 200);
  assert.equal((await call(base, 'GET', `/users/${uid}`, { token: s.json.token })).status, 200);
  await new Promise((r) => setTimeout(r, 1200));
  const old = await call(base, 'GET', `/users/${uid}`, { token: s.json.token });
  assert.equal(old.status, 401);
  assert.equal(old.json.message, 'session expired');
  assert.equal(await store.getUserSessionByHash(hashSecret(s.json.token)), undefined);
  // Then it is simply unknown; the API token is unaffected.
  assert.equal(
    (await call(base, 'GET', `/users/${uid}`, { token: s.json.token })).json.message,
    'invalid token or key',
  );
  assert.equal((await call(base, 'GET', `/users/${uid}`, { token })).status, 200);

  // A session nobody presents again is swept by the next sign-in.
  const lost = await login(base, 'ann');
  await new Promise((r) => setTimeout(r, 1200));
  await login(base, 'ann');
  assert.equal(await store.getUserSessionByHash(hashSecret(lost.json.token)), undefined);
});

bothEngines('named API tokens: each works, a revoked one gets 401, secrets never listed', async (t, tg) => {
  const { base, store } = await startPlatform(t, tg);
  const { uid, token } = await newUser(base, 'ann');
  const T = `/users/${uid}/tokens`;

  const first = await call(base, 'GET', T, { token });
  assert.equal(first.status, 200);
  assert.equal(first.json.length, 1);
  assert.equal(first.json[0].name, 'default');
  // The token POST /users returned authenticated that very request: last_used_at is set.
  assert.equal(typeof first.json[0].last_used_at, 'number');

  const ci = await call(base, 'POST', T, { token, body: { name: 'ci' } });
  assert.equal(ci.status, 201, ci.text);
  assert.match(ci.json.token, /^sst_/);
  assert.equal(ci.json.name, 'ci');
  assert.equal(ci.json.last_used_at, null);
  const gw = await call(base, 'POST', T, { token: ci.json.token, body: { name: 'gateway' } });
  assert.equal(gw.status, 201, 'a named token may make another');
  assert.equal((await call(base, 'POST', T, { token, body: { name: 'ci' } })).status, 409);
  assert.equal((await call(base, 'POST', T, { token, body: { name: '' } })).status, 400);
  assert.equal((await call(base, 'POST', T, { token, body: {} })).status, 400);

  // Each token works.
  for (const k of [token, ci.json.token, gw.json.token]) {
    assert.equal((await call(base, 'GET', `/users/${uid}`, { token: k })).status, 200);
  }
  // Stored as hashes only; listed without any secret.
  assert.equal((await store.getApiTokenByHash(hashSecret(gw.json.token)))?.name, 'gateway');
  const list = await call(base, 'GET', T, { token });
  assert.deepEqual(
    list.json.map((x: { name: string }) => x.name),
    ['default', 'ci', 'gateway'],
  );
  for (const x of list.json) {
    assert.deepEqual(Object.keys(x).sort(), ['created_at', 'id', 'last_used_at', 'name', 'user_id']);
  }
  for (const secret of [token, ci.json.token, gw.json.token]) {
    assert.ok(!list.text.includes(secret));
    assert.ok(!list.text.includes(hashSecret(secret)));
  }

  // Revoking one: it gets 401, the others keep working.
  assert.equal((await call(base, 'DELETE', `${T}/${ci.json.id}`, { token })).status, 204);
  assert.equal((await call(base, 'GET', `/users/${uid}`, { token: ci.json.token })).status, 401);
  assert.equal((await call(base, 'GET', `/users/${uid}`, { token: gw.json.token })).status, 200);
  assert.equal((await call(base, 'GET', `/users/${uid}`, { token })).status, 200);
  assert.equal((await call(base, 'DELETE', `${T}/${ci.json.id}`, { token })).status, 404);

  // rotate_token rotates "default" only: the gateway token survives it.
  const rot = await call(base, 'PUT', `/users/${uid}`, { token: gw.json.token, body: { rotate_token: true } });
  assert.equal(rot.status, 200);
  assert.equal((await call(base, 'GET', `/users/${uid}`, { token })).status, 401);
  assert.equal((await call(base, 'GET', `/users/${uid}`, { token: rot.json.token })).status, 200);
  assert.equal((await call(base, 'GET', `/users/${uid}`, { token: gw.json.token })).status, 200);
  const names = (await call(base, 'GET', T, { token: rot.json.token })).json.map((x: { name: string }) => x.name);
  assert.deepEqual(names, ['default', 'gateway']);

  // A session may manage tokens too (the dashboard does).
  const s = await login(base, 'ann');
  const viaSession = await call(base, 'POST', T, { token: s.json.token, body: { name: 'from the page' } });
  assert.equal(viaSession.status, 201);

  // Revoking "default" and rotating makes it again.
  const def = (await call(base, 'GET', T, { token: s.json.token })).json.find(
    (x: { name: string }) => x.name === 'default',
  );
  assert.equal((await call(base, 'DELETE', `${T}/${def.id}`, { token: s.json.token })).status, 204);
  assert.equal((await call(base, 'GET', `/users/${uid}`, { token: rot.json.token })).status, 401);
  const again = await call(base, 'PUT', `/users/${uid}`, { token: s.json.token, body: { rotate_token: true } });
  assert.equal((await call(base, 'GET', `/users/${uid}`, { token: again.json.token })).status, 200);
});

bothEngines('a second user cannot list, make or revoke my tokens (403); keys cannot either', async (t, tg) => {
  const { base } = await startPlatform(t, tg);
  const ann = await newUser(base, 'ann');
  const bob = await newUser(base, 'bob');
  const { key } = await newResource(base, ann.uid, ann.token);
  const T = `/users/${ann.uid}/tokens`;
  const mine = await call(base, 'POST', T, { token: ann.token, body: { name: 'mine' } });
  const bobSession = (await login(base, 'bob')).json.token;

  for (const other of [bob.token, bobSession]) {
    assert.equal((await call(base, 'GET', T, { token: other })).status, 403);
    assert.equal((await call(base, 'POST', T, { token: other, body: { name: 'evil' } })).status, 403);
    assert.equal((await call(base, 'DELETE', `${T}/${mine.json.id}`, { token: other })).status, 403);
  }
  assert.equal((await call(base, 'GET', T, { token: key })).status, 403);
  assert.equal((await call(base, 'GET', T)).status, 401);
  // Bob's own path with Ann's token id: not his token.
  assert.equal(
    (await call(base, 'DELETE', `/users/${bob.uid}/tokens/${mine.json.id}`, { token: bob.token })).status,
    404,
  );
  // Ann's token still works and is still listed.
  assert.equal((await call(base, 'GET', `/users/${ann.uid}`, { token: mine.json.token })).status, 200);
  assert.equal((await call(base, 'GET', T, { token: ann.token })).json.length, 2);
});

bothEngines('GET /info: no auth; the real coaps port when the platform runs with coap', async (t, tg) => {
  const plain = await startPlatform(t, tg);
  const i0 = await call(plain.base, 'GET', '/info');
  assert.equal(i0.status, 200);
  assert.deepEqual(i0.json, { version: '0.1.0', coap: null, coaps: null, modes: ['psk'] });

  const cfg = loadConfig({
    env: {},
    overrides: {
      db: tg.db,
      http: { host: '127.0.0.1', port: 0 },
      coap: { host: '127.0.0.1', port: 0, coapsPort: 0 },
    },
  });
  const p = await createPlatform(cfg, { pgSchema: tg.schema, coap: true });
  t.after(() => p.close());
  const coapsPort = p.coap?.coaps?.port;
  assert.ok(coapsPort && coapsPort !== 5684, 'a free port, not the default');
  const info = await call(p.http.plain?.url ?? '', 'GET', '/info');
  assert.equal(info.status, 200);
  assert.deepEqual(info.json.coaps, { port: coapsPort });
  assert.deepEqual(info.json.coap, { port: p.coap?.coap?.port });
  assert.deepEqual(info.json.modes, ['psk']);
  // It is in the OpenAPI document with the token routes.
  const doc = (await call(p.http.plain?.url ?? '', 'GET', '/docs/json')).json;
  for (const path of ['/info', '/logout', '/users/{uid}/tokens', '/users/{uid}/tokens/{tid}']) {
    assert.ok(doc.paths[path], `${path} in the OpenAPI document`);
  }
});

bothEngines('migration 0005: a user made before it keeps its token, now named "default"', async (t, tg) => {
  // Open (all migrations), step back to 0004 with Kysely's migrator, add a user the old way.
  await (await openStore({ db: tg.db, schema: tg.schema })).close();
  const db =
    tg.engine === 'sqlite'
      ? new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(tg.db) }) })
      : new Kysely<Database>({
          dialect: new SchemaPostgresDialect(
            { pool: new pg.Pool({ connectionString: `${tg.db}?options=-c%20search_path%3D${tg.schema}`, max: 1 }) },
            tg.schema ?? 'public',
          ),
        });
  try {
    const migrator = new Migrator({
      db,
      provider: { getMigrations: async () => migrations(tg.engine) },
      ...(tg.engine === 'postgres' ? { migrationTableSchema: tg.schema } : {}),
    });
    const down = await migrator.migrateTo('0004_dtls_sessions');
    assert.equal(down.error, undefined);
    // Every later migration is undone first, then 0005 itself, last.
    const undone = down.results?.map((r) => [r.migrationName, r.direction]) ?? [];
    assert.deepEqual(undone.at(-1), ['0005_api_tokens_and_sessions', 'Down']);
    assert.ok(undone.every(([, d]) => d === 'Down'));
    await db
      .insertInto('users')
      .values({ username: 'old', password_hash: 'x', token_hash: hashSecret('sst_old-token'), created_at: 1 })
      .execute();
  } finally {
    await db.destroy();
  }
  const store = await openStore({ db: tg.db, schema: tg.schema });
  t.after(() => store.close());
  const service = new PlatformService({ store });
  const caller = await service.authenticate('sst_old-token');
  assert.equal(caller.kind, 'user');
  const uid = caller.kind === 'user' ? caller.userId : 0;
  const tokens = await service.listTokens(caller, uid);
  assert.deepEqual(
    tokens.map((x) => [x.name, x.createdAt]),
    [['default', 1]],
  );
});

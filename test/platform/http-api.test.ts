/**
 * The HTTP API through real HTTP on both engines: every route, the auth rules, CSV, errors.
 * (Parsers through POST …/data are in http-ingest.test.ts.)
 */
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/platform/config.ts';
import { createPlatform } from '../../src/platform/index.ts';
import { bothEngines } from './engines.ts';
import { call, newResource, newStream, newUser, startPlatform } from './helpers.ts';

const isError = (r: { json: unknown }, status?: number) => {
  const j = r.json as { error?: unknown; message?: unknown };
  assert.equal(typeof j?.error, 'string', `error body: ${JSON.stringify(r.json)}`);
  assert.equal(typeof j?.message, 'string');
  if (status !== undefined) assert.equal((r as unknown as { status: number }).status, status, JSON.stringify(r.json));
};

bothEngines('users: create, login, read, rotate token, change password, delete', async (t, tg) => {
  const { base } = await startPlatform(t, tg);
  const created = await call(base, 'POST', '/users', { body: { username: 'ann', password: 'a good password' } });
  assert.equal(created.status, 201);
  assert.match(created.json.token, /^sst_/);
  const uid = created.json.id;
  let token = created.json.token;

  const dup = await call(base, 'POST', '/users', { body: { username: 'ann', password: 'another password' } });
  isError(dup, 409);
  isError(await call(base, 'POST', '/users', { body: { username: 'bad name!', password: 'a good password' } }), 400);
  isError(await call(base, 'POST', '/users', { body: { username: 'bob', password: 'short' } }), 400);

  const me = await call(base, 'GET', `/users/${uid}`, { token });
  assert.equal(me.status, 200);
  assert.deepEqual(Object.keys(me.json).sort(), ['created_at', 'id', 'username']);

  // ?key= works like the header.
  assert.equal((await call(base, 'GET', `/users/${uid}?key=${token}`)).status, 200);

  // A token alone finds its user; a resource key or no credentials do not name a user.
  const who = await call(base, 'GET', '/users/me', { token });
  assert.equal(who.status, 200);
  assert.deepEqual(who.json, me.json);
  isError(await call(base, 'GET', '/users/me'), 401);
  const { key: resourceKey } = await newResource(base, uid, token, 'for-whoami');
  isError(await call(base, 'GET', `/users/me?key=${resourceKey}`), 403);

  const rotated = await call(base, 'PUT', `/users/${uid}`, { token, body: { rotate_token: true } });
  assert.equal(rotated.status, 200);
  assert.notEqual(rotated.json.token, token);
  isError(await call(base, 'GET', `/users/${uid}`, { token }), 401);
  token = rotated.json.token;

  const pw = await call(base, 'PUT', `/users/${uid}`, { token, body: { password: 'a newer password' } });
  assert.equal(pw.status, 200);
  assert.equal(pw.json.token, undefined);
  isError(await call(base, 'POST', '/login', { body: { username: 'ann', password: 'a good password' } }), 401);
  isError(await call(base, 'POST', '/login', { body: { username: 'nobody', password: 'a good password' } }), 401);
  const login = await call(base, 'POST', '/login', { body: { username: 'ann', password: 'a newer password' } });
  assert.equal(login.status, 200);
  // A sign-in is a session of its own: the API token keeps working (tokens-sessions.test.ts).
  assert.match(login.json.token, /^ssn_/);
  assert.equal((await call(base, 'GET', `/users/${uid}`, { token })).status, 200);
  token = login.json.token;
  assert.equal((await call(base, 'GET', `/users/${uid}`, { token })).status, 200);

  assert.equal((await call(base, 'DELETE', `/users/${uid}`, { token })).status, 204);
  isError(await call(base, 'GET', `/users/${uid}`, { token }), 401);
});

bothEngines('resources, parsers and streams: create, list, read, change, delete', async (t, tg) => {
  const { base } = await startPlatform(t, tg);
  const { uid, token } = await newUser(base, 'ann');
  const R = `/users/${uid}/resources`;

  const r = await call(base, 'POST', R, {
    token,
    body: { label: 'lab', polling_url: 'coaps://sensor.example:5684/sensors', polling_period: 30 },
  });
  assert.equal(r.status, 201);
  assert.match(r.json.key, /^ssr_/);
  assert.equal(r.json.polling_url, 'coaps://sensor.example:5684/sensors');
  const rid = r.json.id;
  isError(
    await call(base, 'POST', R, { token, body: { label: 'x', polling_url: 'ftp://a/b', polling_period: 5 } }),
    400,
  );
  isError(await call(base, 'POST', R, { token, body: { label: 'x', polling_url: 'http://a/b' } }), 400);
  isError(await call(base, 'POST', R, { token, body: { label: 'x', colour: 'red' } }), 400);

  const list = await call(base, 'GET', R, { token });
  assert.deepEqual(
    list.json.map((x: { label: string }) => x.label),
    ['lab'],
  );
  assert.equal(list.json[0].key, undefined, 'keys are never listed');

  const put = await call(base, 'PUT', `${R}/${rid}`, {
    token,
    body: { label: 'lab2', polling_url: null, rotate_key: true },
  });
  assert.equal(put.status, 200);
  assert.equal(put.json.label, 'lab2');
  assert.equal(put.json.polling_url, null);
  assert.notEqual(put.json.key, r.json.key);
  isError(await call(base, 'GET', `${R}/${rid}?key=${r.json.key}`), 401);
  assert.equal((await call(base, 'GET', `${R}/${rid}?key=${put.json.key}`)).status, 200);

  const S = `${R}/${rid}/streams`;
  const s = await call(base, 'POST', S, { token, body: { label: 'temp', unit: 'Cel', retention_max_points: 100 } });
  assert.equal(s.status, 201);
  assert.equal(s.json.type, 'numeric');
  assert.equal(s.json.public, false);
  assert.match(s.json.key, /^sss_/);
  const sid = s.json.id;
  const s2 = await call(base, 'PUT', `${S}/${sid}`, { token, body: { public: true, unit: 'K' } });
  assert.equal(s2.json.public, true);
  assert.equal(s2.json.unit, 'K');
  assert.equal((await call(base, 'GET', `${S}/${sid}`, { token })).json.retention_max_points, 100);
  assert.equal((await call(base, 'GET', S, { token })).json.length, 1);
  isError(await call(base, 'POST', S, { token, body: { label: 'x', type: 'blob' } }), 400);

  const P = `${R}/${rid}/parsers`;
  const p = await call(base, 'POST', P, {
    token,
    body: { stream_id: sid, kind: 'json-path', expression: '/t', time_format: 'unix-s' },
  });
  assert.equal(p.status, 201);
  const pid = p.json.id;
  isError(await call(base, 'POST', P, { token, body: { stream_id: sid, kind: 'regex', expression: '(' } }), 400);
  isError(await call(base, 'POST', P, { token, body: { stream_id: 9999, kind: 'json-path', expression: '/t' } }), 400);
  assert.equal((await call(base, 'PUT', `${P}/${pid}`, { token, body: { expression: '/u' } })).json.expression, '/u');
  assert.equal((await call(base, 'GET', `${P}/${pid}`, { token })).json.time_format, 'unix-s');
  assert.equal((await call(base, 'GET', P, { token })).json.length, 1);
  assert.equal((await call(base, 'DELETE', `${P}/${pid}`, { token })).status, 204);
  isError(await call(base, 'GET', `${P}/${pid}`, { token }), 404);

  assert.equal((await call(base, 'DELETE', `${S}/${sid}`, { token })).status, 204);
  isError(await call(base, 'GET', `${S}/${sid}`, { token }), 404);
  assert.equal((await call(base, 'DELETE', `${R}/${rid}`, { token })).status, 204);
  isError(await call(base, 'GET', `${R}/${rid}`, { token }), 404);
});

bothEngines('stream data: post, ranged reads, newest N, CSV, delete', async (t, tg) => {
  const { base } = await startPlatform(t, tg);
  const { uid, token } = await newUser(base, 'ann');
  const { rid } = await newResource(base, uid, token);
  const { sid } = await newStream(base, uid, rid, token, { label: 'temp' });
  const { sid: tid } = await newStream(base, uid, rid, token, { label: 'note', type: 'text' });
  const D = `/users/${uid}/resources/${rid}/streams/${sid}/data`;

  assert.deepEqual((await call(base, 'POST', D, { token, body: { value: 1, time: 1000 } })).json, { stored: 1 });
  assert.deepEqual(
    (
      await call(base, 'POST', D, {
        token,
        body: [
          { value: 2, time: 2000 },
          { value: '3', time: '1970-01-01T00:00:03Z' },
        ],
      })
    ).json,
    {
      stored: 2,
    },
  );
  assert.deepEqual((await call(base, 'POST', D, { token, body: { points: [{ value: 4, time: 4000 }] } })).json, {
    stored: 1,
  });
  // (stream, time) is unique: the same time again replaces the value.
  await call(base, 'POST', D, { token, body: { value: 22, time: 2000 } });
  isError(await call(base, 'POST', D, { token, body: { value: 'warm', time: 5000 } }), 400);
  isError(await call(base, 'POST', D, { token, body: [] }), 400);
  isError(await call(base, 'POST', D, { token, body: { value: 1, time: 'not a time' } }), 400);

  const all = await call(base, 'GET', D, { token });
  assert.equal(all.status, 200);
  assert.deepEqual(all.json.points, [
    { time: 1000, value: 1 },
    { time: 2000, value: 22 },
    { time: 3000, value: 3 },
    { time: 4000, value: 4 },
  ]);
  assert.deepEqual(
    (await call(base, 'GET', `${D}?from=2000&until=3000`, { token })).json.points.map((p: { time: number }) => p.time),
    [2000, 3000],
  );
  assert.deepEqual((await call(base, 'GET', `${D}?from=1970-01-01T00:00:02Z&limit=1`, { token })).json.points, [
    { time: 4000, value: 4 },
  ]);
  isError(await call(base, 'GET', `${D}?limit=0`, { token }), 400);
  isError(await call(base, 'GET', `${D}?from=5000&until=1000`, { token }), 400);
  isError(await call(base, 'GET', `${D}?format=xml`, { token }), 400);

  const csv = await call(base, 'GET', `${D}?format=csv&limit=2`, { token });
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
  assert.equal(csv.text, 'time,value\r\n3000,3\r\n4000,4\r\n');

  const TD = `/users/${uid}/resources/${rid}/streams/${tid}/data`;
  await call(base, 'POST', TD, { token, body: { value: 'say "hi", ok', time: 1 } });
  assert.equal((await call(base, 'GET', `${TD}?format=csv`, { token })).text, 'time,value\r\n1,"say ""hi"", ok"\r\n');

  assert.deepEqual((await call(base, 'DELETE', `${D}?until=2000`, { token })).json, { deleted: 2 });
  assert.equal(
    (await call(base, 'GET', `/users/${uid}/resources/${rid}/streams/${sid}`, { token })).json.last_time,
    4000,
  );
  assert.deepEqual((await call(base, 'DELETE', D, { token })).json, { deleted: 2 });
  assert.deepEqual((await call(base, 'GET', D, { token })).json.points, []);
});

bothEngines(
  'auth: other users get 403, strangers 401, keys reach only their object, public streams are open',
  async (t, tg) => {
    const { base } = await startPlatform(t, tg);
    const ann = await newUser(base, 'ann');
    const bob = await newUser(base, 'bob');
    const { rid, key: rkey } = await newResource(base, ann.uid, ann.token);
    const { rid: rid2 } = await newResource(base, ann.uid, ann.token, 'other');
    const priv = await newStream(base, ann.uid, rid, ann.token, { label: 'private' });
    const pub = await newStream(base, ann.uid, rid, ann.token, { label: 'public', public: true });
    const R = `/users/${ann.uid}/resources/${rid}`;
    await call(base, 'POST', `${R}/streams/${priv.sid}/data`, { token: ann.token, body: { value: 1, time: 1 } });
    await call(base, 'POST', `${R}/streams/${pub.sid}/data`, { token: ann.token, body: { value: 2, time: 1 } });

    // Bob: 403 on everything of Ann's, whatever the route and method.
    for (const [m, path, body] of [
      ['GET', `/users/${ann.uid}`],
      ['PUT', `/users/${ann.uid}`, { rotate_token: true }],
      ['DELETE', `/users/${ann.uid}`],
      ['GET', `/users/${ann.uid}/resources`],
      ['POST', `/users/${ann.uid}/resources`, { label: 'x' }],
      ['GET', R],
      ['PUT', R, { label: 'x' }],
      ['DELETE', R],
      ['GET', `${R}/parsers`],
      ['POST', `${R}/parsers`, { stream_id: priv.sid, kind: 'json-path', expression: '/x' }],
      ['GET', `${R}/streams`],
      ['POST', `${R}/streams`, { label: 'x' }],
      ['GET', `${R}/streams/${priv.sid}`],
      ['PUT', `${R}/streams/${priv.sid}`, { label: 'x' }],
      ['DELETE', `${R}/streams/${priv.sid}`],
      ['GET', `${R}/streams/${priv.sid}/data`],
      ['POST', `${R}/streams/${priv.sid}/data`, { value: 1 }],
      ['DELETE', `${R}/streams/${priv.sid}/data`],
      ['POST', `${R}/streams/${pub.sid}/data`, { value: 1 }],
      ['PUT', `${R}/streams/${pub.sid}`, { label: 'x' }],
      ['DELETE', `${R}/streams/${pub.sid}/data`],
    ] as Array<[string, string, unknown?]>) {
      const r = await call(base, m, path, { token: bob.token, body });
      assert.equal(r.status, 403, `${m} ${path} → ${r.status} ${r.text}`);
      isError(r);
    }
    const bobRaw = await call(base, 'POST', `${R}/data`, {
      token: bob.token,
      raw: '{"x":1}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(bobRaw.status, 403);
    // Bob's own tree does not hold Ann's resource: 404.
    isError(await call(base, 'GET', `/users/${bob.uid}/resources/${rid}`, { token: bob.token }), 404);

    // No credentials: 401; a wrong one: 401.
    isError(await call(base, 'GET', `${R}/streams/${priv.sid}/data`), 401);
    isError(await call(base, 'GET', `${R}/streams/${priv.sid}/data?key=sst_nothing`), 401);
    isError(await call(base, 'GET', `/users/${ann.uid}`, { headers: { authorization: 'Basic YTpi' } }), 401);

    // Public stream: anyone reads it and its data, nobody else writes it.
    const anon = await call(base, 'GET', `${R}/streams/${pub.sid}/data`);
    assert.equal(anon.status, 200);
    assert.deepEqual(anon.json.points, [{ time: 1, value: 2 }]);
    assert.equal((await call(base, 'GET', `${R}/streams/${pub.sid}`, { token: bob.token })).status, 200);
    isError(await call(base, 'POST', `${R}/streams/${pub.sid}/data`, { body: { value: 1 } }), 401);

    // Resource key: reads and pushes data for its resource only; cannot change definitions.
    assert.equal((await call(base, 'GET', `${R}?key=${rkey}`)).status, 200);
    assert.equal((await call(base, 'GET', `${R}/streams/${priv.sid}/data?key=${rkey}`)).status, 200);
    assert.equal(
      (await call(base, 'POST', `${R}/streams/${priv.sid}/data?key=${rkey}`, { body: { value: 5, time: 5 } })).status,
      200,
    );
    isError(await call(base, 'POST', `${R}/streams?key=${rkey}`, { body: { label: 'x' } }), 403);
    isError(await call(base, 'DELETE', `${R}/streams/${priv.sid}/data?key=${rkey}`), 403);
    isError(await call(base, 'GET', `/users/${ann.uid}/resources/${rid2}?key=${rkey}`), 403);
    isError(await call(base, 'GET', `/users/${ann.uid}?key=${rkey}`), 403);

    // Stream key: its stream only.
    assert.equal((await call(base, 'GET', `${R}/streams/${priv.sid}/data?key=${priv.key}`)).status, 200);
    assert.equal(
      (await call(base, 'POST', `${R}/streams/${priv.sid}/data?key=${priv.key}`, { body: { value: 6, time: 6 } }))
        .status,
      200,
    );
    isError(await call(base, 'GET', `${R}?key=${priv.key}`), 403);
    isError(await call(base, 'PUT', `${R}/streams/${priv.sid}?key=${priv.key}`, { body: { label: 'y' } }), 403);
    assert.deepEqual(
      (await call(base, 'GET', `${R}/streams/${priv.sid}/data`, { token: ann.token })).json.points.map(
        (p: { value: number }) => p.value,
      ),
      [1, 5, 6],
    );

    // A stream addressed through the wrong resource is not found.
    isError(
      await call(base, 'GET', `/users/${ann.uid}/resources/${rid2}/streams/${priv.sid}`, { token: ann.token }),
      404,
    );
    isError(await call(base, 'GET', `/users/${ann.uid}/resources/${rid2}/streams/${pub.sid}/data`), 401);
  },
);

bothEngines('admin-gated signup', async (t, tg) => {
  const admin = 'an-admin-token-of-some-length';
  const { base } = await startPlatform(t, tg, (c) => {
    c.api.signup = 'admin';
    c.api.adminToken = admin;
  });
  isError(await call(base, 'POST', '/users', { body: { username: 'ann', password: 'a good password' } }), 401);
  assert.equal(
    (await call(base, 'POST', '/users', { token: admin, body: { username: 'ann', password: 'a good password' } }))
      .status,
    201,
  );
  const ann = await call(base, 'POST', '/login', { body: { username: 'ann', password: 'a good password' } });
  isError(
    await call(base, 'POST', '/users', {
      token: ann.json.token,
      body: { username: 'bob', password: 'a good password' },
    }),
    403,
  );
  isError(await call(base, 'GET', `/users/${ann.json.id}`, { token: admin }), 403);
});

bothEngines('errors are JSON: unknown route, bad JSON, wrong media type, body too large, bad ids', async (t, tg) => {
  const { base } = await startPlatform(t, tg, (c) => {
    c.api.bodyLimit = 4096;
  });
  const { uid, token } = await newUser(base, 'ann');
  const { rid } = await newResource(base, uid, token);
  isError(await call(base, 'GET', '/nowhere'), 404);
  isError(
    await call(base, 'POST', '/users', { raw: '{"username":', headers: { 'content-type': 'application/json' } }),
    400,
  );
  isError(
    await call(base, 'POST', '/users', {
      raw: 'username=ann',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }),
    415,
  );
  isError(await call(base, 'POST', `/users/${uid}/resources`, { token, body: { label: 'x'.repeat(5000) } }), 413);
  isError(
    await call(base, 'POST', `/users/${uid}/resources/${rid}/data`, {
      token,
      raw: Buffer.alloc(5000, 0x20),
      headers: { 'content-type': 'text/plain' },
    }),
    413,
  );
  isError(await call(base, 'GET', '/users/abc', { token }), 400);
  isError(await call(base, 'GET', '/users/0', { token }), 400);
  isError(await call(base, 'GET', `/users/${uid}/resources/99999999999`, { token }), 400);
  isError(await call(base, 'GET', `/users/${uid}/resources/${rid + 1000}`, { token }), 404);
});

bothEngines('OpenAPI document at /docs/json and the reference at /docs', async (t, tg) => {
  const { base } = await startPlatform(t, tg);
  const doc = await call(base, 'GET', '/docs/json');
  assert.equal(doc.status, 200);
  assert.match(doc.json.openapi, /^3\./);
  for (const p of [
    '/users',
    '/users/{uid}',
    '/users/{uid}/resources',
    '/users/{uid}/resources/{rid}',
    '/users/{uid}/resources/{rid}/parsers',
    '/users/{uid}/resources/{rid}/parsers/{pid}',
    '/users/{uid}/resources/{rid}/data',
    '/users/{uid}/resources/{rid}/streams',
    '/users/{uid}/resources/{rid}/streams/{sid}',
    '/users/{uid}/resources/{rid}/streams/{sid}/data',
  ]) {
    assert.ok(doc.json.paths[p], `OpenAPI lacks ${p}`);
  }
  assert.ok(doc.json.paths['/users/{uid}/resources/{rid}/streams/{sid}/data'].delete);
  const page = await call(base, 'GET', '/');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.match(page.text, /\/web\/app\.js/);
  const js = await call(base, 'GET', '/web/app.js');
  assert.match(js.headers.get('content-type') ?? '', /javascript/);
  assert.match(js.text, /textContent/);
  assert.equal(doc.json.paths['/'], undefined, 'the dashboard is not part of the API document');
  const ui = await fetch(`${base}/docs/`, { redirect: 'follow' });
  assert.equal(ui.status, 200);
  assert.match(await ui.text(), /swagger/i);
});

bothEngines('the same API through inject(), without a socket', async (t, tg) => {
  const cfg = loadConfig({ env: {}, overrides: { db: tg.db } });
  const p = await createPlatform(cfg, { pgSchema: tg.schema, listen: false });
  t.after(() => p.close());
  const app = p.http.plain!.app;
  const u = await app.inject({
    method: 'POST',
    url: '/users',
    payload: { username: 'ann', password: 'a good password' },
  });
  assert.equal(u.statusCode, 201);
  const { id, token } = u.json();
  const headers = { authorization: `Bearer ${token}` };
  const r = await app.inject({ method: 'POST', url: `/users/${id}/resources`, headers, payload: { label: 'r' } });
  const rid = r.json().id;
  const d = await app.inject({
    method: 'POST',
    url: `/users/${id}/resources/${rid}/data`,
    headers: { ...headers, 'content-type': 'application/json' },
    payload: '{"temp": {"value": 21.5, "time": 1700000000000}}',
  });
  assert.equal(d.statusCode, 200, d.body);
  const sid = d.json().created[0].id;
  const csv = await app.inject({
    method: 'GET',
    url: `/users/${id}/resources/${rid}/streams/${sid}/data?format=csv`,
    headers,
  });
  assert.equal(csv.body, 'time,value\r\n1700000000000,21.5\r\n');
  const other = await app.inject({ method: 'GET', url: `/users/${id + 1}/resources`, headers });
  assert.equal(other.statusCode, 403);
  assert.deepEqual(Object.keys(other.json()).sort(), ['error', 'message']);
});

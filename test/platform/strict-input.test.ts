/**
 * Strict input on both protocols: one table of bad bodies, sent over HTTP and over coap://, each
 * refused (400 / 4.00) with a message naming the field, and nothing stored. Nothing is coerced:
 * null, true, "0x7fffffff", [] or 42-as-a-label never become data.
 */
import assert from 'node:assert/strict';
import type { CoapClient } from '../../src/coap/index.ts';
import { ContentFormat } from '../../src/coap/index.ts';
import { client, startCoapPlatform } from './coap/helpers.ts';
import { bothEngines } from './engines.ts';
import { call, newResource, newStream, newUser } from './helpers.ts';

const JSON_CF = { contentFormat: ContentFormat['application/json'] };

/** [what is posted, where, the field the refusal must name]. */
type Case = [body: unknown, target: 'points' | 'text-points' | 'resources' | 'streams', field: RegExp];

const CASES: Case[] = [
  // points to a numeric stream
  [{ value: null }, 'points', /^value must be a number or a string$/],
  [{ value: true }, 'points', /^value must be a number or a string$/],
  [{ value: false }, 'points', /^value must be/],
  [{ value: [1] }, 'points', /^value must be/],
  [{ value: { v: 1 } }, 'points', /^value must be/],
  [{ value: '0x7fffffff' }, 'points', /^points\[0\]\.value: "0x7fffffff" is not a number/],
  [{ value: 'Infinity' }, 'points', /^points\[0\]\.value: .* is not a number/],
  [{ value: '' }, 'points', /^points\[0\]\.value/],
  [{ value: 1, time: '0x7fffffff' }, 'points', /^points\[0\]\.time: "0x7fffffff" is not ISO 8601/],
  [{ value: 1, time: null }, 'points', /^time must be an integer or a string$/],
  [{ value: 1, time: true }, 'points', /^time must be an integer or a string$/],
  [{ value: 1, time: 1.5 }, 'points', /^time must be an integer or a string$/],
  [{ value: 1, time: -5 }, 'points', /^time must be ≥ 0$/],
  [{ value: 1, time: 9_000_000_000_000_000 }, 'points', /^points\[0\]\.time: .* out of range/],
  [{}, 'points', /^value is required$/],
  [{ time: 5 }, 'points', /^value is required$/],
  [{ value: 1, colour: 'red' }, 'points', /^unknown field colour$/],
  [[], 'points', /^body must not be empty$/],
  [[{ value: 1 }, { value: null }], 'points', /^body\[1\]\.value must be a number or a string$/],
  [{ points: [] }, 'points', /^points must not be empty$/],
  [{ points: [{ value: 1 }, { value: 'x' }] }, 'points', /^points\[1\]\.value: "x" is not a number/],
  [{ points: 5 }, 'points', /^points must be an array$/],
  ['21', 'points', /^body must be/],
  [null, 'points', /^a JSON body is required$|^body must be/],
  // points to a text stream
  [{ value: 'x'.repeat(5000) }, 'text-points', /^value must be at most 4096 characters$/],
  [{ value: null }, 'text-points', /^value must be a number or a string$/],
  // resources
  [{ label: 42 }, 'resources', /^label must be a string$/],
  [{ label: null }, 'resources', /^label must be a string$/],
  [{ label: '' }, 'resources', /^label must not be empty$/],
  [{ label: 'x'.repeat(201) }, 'resources', /^label must be at most 200 characters$/],
  [{}, 'resources', /^label is required$/],
  [[], 'resources', /^body must be a JSON object$/],
  [{ label: 'r', polling_period: '60' }, 'resources', /^polling_period must be an integer or null$/],
  [{ label: 'r', polling_period: 0 }, 'resources', /^polling_period must be ≥ 1$/],
  [{ label: 'r', polling_timeout_ms: 60_001 }, 'resources', /^polling_timeout_ms must be ≤ 60000$/],
  [{ label: 'r', polling_url: 5 }, 'resources', /^polling_url must be a string or null$/],
  [{ label: 'r', owner_id: 1 }, 'resources', /^unknown field owner_id$/],
  // streams
  [{ label: 's', type: 'number' }, 'streams', /^type must be one of "numeric", "text"$/],
  [{ label: 's', public: 'yes' }, 'streams', /^public must be a boolean$/],
  [{ label: 's', public: 1 }, 'streams', /^public must be a boolean$/],
  [{ label: 's', retention_max_points: 1.5 }, 'streams', /^retention_max_points must be an integer or null$/],
];

bothEngines('one table of bad inputs: HTTP 400 and CoAP 4.00, naming the field, storing nothing', async (t, tg) => {
  const p = await startCoapPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'ann');
  const { rid } = await newResource(p.base, uid, token, 'lab');
  const { sid } = await newStream(p.base, uid, rid, token, { label: 'temp' });
  const { sid: tid } = await newStream(p.base, uid, rid, token, { label: 'note', type: 'text' });
  const R = `/users/${uid}/resources`;
  const paths = {
    points: `${R}/${rid}/streams/${sid}/data`,
    'text-points': `${R}/${rid}/streams/${tid}/data`,
    resources: R,
    streams: `${R}/${rid}/streams`,
  };
  const coap: CoapClient = client(t);

  for (const [body, target, field] of CASES) {
    const what = `${target} ${JSON.stringify(body)?.slice(0, 60)}`;
    const h = await call(p.base, 'POST', paths[target], {
      token,
      raw: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(h.status, 400, `HTTP ${what}: ${h.text}`);
    assert.match(h.json.message, field, `HTTP ${what}`);
    assert.equal(h.json.error, 'Bad Request');

    const c = await coap.post(`${p.coapBase}${paths[target]}?key=${token}`, JSON.stringify(body), JSON_CF);
    assert.equal(c.status, '4.00', `CoAP ${what}: ${c.payload.toString()}`);
    assert.match(c.payload.toString(), field, `CoAP ${what}`);
  }

  // Nothing was stored or made: no point in either stream, no resource or stream beyond the first.
  assert.deepEqual(await p.store.queryPoints(sid, { limit: 100 }), []);
  assert.deepEqual(await p.store.queryPoints(tid, { limit: 100 }), []);
  assert.deepEqual(
    (await call(p.base, 'GET', R, { token })).json.map((r: { id: number }) => r.id),
    [rid],
  );
  assert.deepEqual(
    (await call(p.base, 'GET', paths.streams, { token })).json.map((s: { id: number }) => s.id),
    [sid, tid],
  );

  // The same table's good neighbours pass on both, so the refusals above are not blanket ones.
  const good = {
    points: [
      { value: '21.5', time: 1000 },
      { value: -3, time: '2000' },
      { value: 7e-3, time: 3000 },
    ],
  };
  assert.equal((await call(p.base, 'POST', paths.points, { token, body: good })).status, 200);
  const c = await coap.post(
    `${p.coapBase}${paths.points}?key=${token}`,
    JSON.stringify({ value: 4, time: 4000 }),
    JSON_CF,
  );
  assert.equal(c.status, '2.04', c.payload.toString());
  assert.deepEqual(await p.store.queryPoints(sid, { limit: 100 }), [
    { time: 1000, value: 21.5 },
    { time: 2000, value: -3 },
    { time: 3000, value: 0.007 },
    { time: 4000, value: 4 },
  ]);
});

bothEngines('a body without a JSON content type gets 415 / 4.15 with a hint; [] gets one short line', async (t, tg) => {
  const p = await startCoapPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'bea');
  const R = `/users/${uid}/resources`;

  // curl -d '…' without -H: no Content-Type at all, and curl's own default.
  const bare = await fetch(p.base + R, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: new Uint8Array(Buffer.from('{"label":"x"}')),
  });
  assert.equal(bare.status, 415);
  assert.match((await bare.json()).message, /Content-Type: application\/json/);
  const form = await call(p.base, 'POST', R, {
    token,
    raw: '{"label":"x"}',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  assert.equal(form.status, 415);
  assert.match(form.json.message, /send Content-Type: application\/json \(got application\/x-www-form-urlencoded\)/);

  const arr = await call(p.base, 'POST', '/users', { body: [] });
  assert.equal(arr.status, 400);
  assert.equal(arr.json.message, 'body must be a JSON object');
  const empty = await call(p.base, 'PUT', `/users/${uid}`, { token, headers: { 'content-type': 'application/json' } });
  assert.equal(empty.status, 400, empty.text);

  const coap = client(t);
  const c = await coap.post(`${p.coapBase}${R}?key=${token}`, '{"label":"x"}', { contentFormat: 0 });
  assert.equal(c.status, '4.15');
  assert.match(c.payload.toString(), /Content-Format 50/);
  assert.equal(
    (await coap.post(`${p.coapBase}/users`, '[]', JSON_CF)).payload.toString(),
    'body must be a JSON object',
  );
  assert.deepEqual((await call(p.base, 'GET', R, { token })).json, []);
});

bothEngines('query strings are still read as numbers where declared numeric, and only from decimal', async (t, tg) => {
  const p = await startCoapPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'cy');
  const { rid } = await newResource(p.base, uid, token);
  const { sid } = await newStream(p.base, uid, rid, token, { label: 't' });
  const D = `/users/${uid}/resources/${rid}/streams/${sid}/data`;
  await call(p.base, 'POST', D, {
    token,
    body: [
      { value: 1, time: 1 },
      { value: 2, time: 2 },
    ],
  });
  assert.deepEqual((await call(p.base, 'GET', `${D}?limit=1`, { token })).json.points, [{ time: 2, value: 2 }]);
  for (const q of ['limit=0x1', 'limit=1e0', 'limit=%201', 'limit=1.0']) {
    const r = await call(p.base, 'GET', `${D}?${q}`, { token });
    assert.equal(r.status, 400, q);
    assert.match(r.json.message, /^query\.limit must be an integer$|^limit must be an integer$/, q);
  }
  const c = await client(t).get(`${p.coapBase}${D}?key=${token}&limit=0x1`);
  assert.equal(c.status, '4.00');
  assert.match(c.payload.toString(), /limit must be an integer/);
  assert.equal((await call(p.base, 'GET', `/users/${uid}/resources/0x1`, { token })).status, 400);
});

/**
 * Raw payloads through POST …/resources/:rid/data on both engines: JSON path, regex, SenML JSON
 * and CBOR parsers, streams auto-created from a first payload, and all-or-nothing batches.
 */
import assert from 'node:assert/strict';
import { type CborValue, encode } from '../../src/util/cbor.ts';
import { bothEngines } from './engines.ts';
import { call, newResource, newStream, newUser, startPlatform } from './helpers.ts';

async function setup(
  t: Parameters<Parameters<typeof bothEngines>[1]>[0],
  tg: Parameters<Parameters<typeof bothEngines>[1]>[1],
) {
  const p = await startPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'ann');
  const { rid, key } = await newResource(p.base, uid, token);
  const R = `/users/${uid}/resources/${rid}`;
  const post = (raw: string | Buffer, contentType: string, auth = token) =>
    call(p.base, 'POST', `${R}/data`, { token: auth, raw, headers: { 'content-type': contentType } });
  const points = async (sid: number) =>
    (await call(p.base, 'GET', `${R}/streams/${sid}/data`, { token })).json.points as Array<{
      time: number;
      value: number | string;
    }>;
  const parser = async (body: Record<string, unknown>) => {
    const r = await call(p.base, 'POST', `${R}/parsers`, { token, body });
    assert.equal(r.status, 201, r.text);
  };
  return { ...p, uid, token, rid, key, R, post, points, parser };
}

bothEngines('json-path and regex parsers split one payload into streams', async (t, tg) => {
  const s = await setup(t, tg);
  const temp = await newStream(s.base, s.uid, s.rid, s.token, { label: 'temp' });
  const hum = await newStream(s.base, s.uid, s.rid, s.token, { label: 'hum' });
  const door = await newStream(s.base, s.uid, s.rid, s.token, { label: 'door', type: 'text' });
  await s.parser({ stream_id: temp.sid, kind: 'json-path', expression: '/room1/sensors/temp' });
  await s.parser({ stream_id: hum.sid, kind: 'json-path', expression: '/room1/sensors/hum', time_format: 'unix-s' });
  await s.parser({ stream_id: door.sid, kind: 'json-path', expression: '/room1/door' });

  const r = await s.post(
    JSON.stringify({ room1: { sensors: { temp: 21.5, hum: { value: 40, time: 1_700_000_000 } }, door: 'open' } }),
    'application/json',
  );
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.stored, 3);
  assert.deepEqual(
    (await s.points(temp.sid)).map((p) => p.value),
    [21.5],
  );
  assert.deepEqual(await s.points(hum.sid), [{ time: 1_700_000_000_000, value: 40 }]);
  assert.deepEqual(
    (await s.points(door.sid)).map((p) => p.value),
    ['open'],
  );

  // The resource key may push raw data too (a device's credential).
  const viaKey = await s.post(JSON.stringify({ room1: { sensors: { temp: 22 } } }), 'application/json', s.key);
  assert.equal(viaKey.json.stored, 1);

  // A regex parser on a text payload.
  const line = await newStream(s.base, s.uid, s.rid, s.token, { label: 'line' });
  const r2 = await call(s.base, 'POST', `/users/${s.uid}/resources`, { token: s.token, body: { label: 'serial' } });
  const R2 = `/users/${s.uid}/resources/${r2.json.id}`;
  const volts = await newStream(s.base, s.uid, r2.json.id, s.token, { label: 'volts' });
  assert.equal(
    (
      await call(s.base, 'POST', `${R2}/parsers`, {
        token: s.token,
        body: {
          stream_id: volts.sid,
          kind: 'regex',
          expression: 'V=(?<value>[\\d.]+);T=(?<time>\\d+)',
          time_format: 'unix-s',
        },
      })
    ).status,
    201,
  );
  const r3 = await call(s.base, 'POST', `${R2}/data`, {
    token: s.token,
    raw: 'V=3.31;T=1700000000\nV=3.29;T=1700000060\n',
    headers: { 'content-type': 'text/plain' },
  });
  assert.equal(r3.json.stored, 2, r3.text);
  assert.deepEqual((await call(s.base, 'GET', `${R2}/streams/${volts.sid}/data`, { token: s.token })).json.points, [
    { time: 1_700_000_000_000, value: 3.31 },
    { time: 1_700_000_060_000, value: 3.29 },
  ]);
  // A stream of another resource cannot be a parser's target.
  const bad = await call(s.base, 'POST', `${R2}/parsers`, {
    token: s.token,
    body: { stream_id: line.sid, kind: 'regex', expression: '(\\d)' },
  });
  assert.equal(bad.status, 400);
});

bothEngines('SenML JSON and SenML CBOR payloads go to streams by name', async (t, tg) => {
  const s = await setup(t, tg);
  const v = await newStream(s.base, s.uid, s.rid, s.token, { label: 'voltage' });
  const c = await newStream(s.base, s.uid, s.rid, s.token, { label: 'current' });
  await s.parser({ stream_id: v.sid, kind: 'senml', expression: 'urn:dev:ow:10e2073a01080063:voltage' });
  await s.parser({ stream_id: c.sid, kind: 'senml', expression: 'urn:dev:ow:10e2073a01080063:current' });

  const json = [
    { bn: 'urn:dev:ow:10e2073a01080063:', bt: 1.276020076001e9, n: 'voltage', u: 'V', v: 120.1 },
    { n: 'current', t: -5, v: 1.2 },
    { n: 'current', t: -4, v: 1.3 },
  ];
  const r = await s.post(JSON.stringify(json), 'application/senml+json');
  assert.equal(r.json.stored, 3, r.text);

  const cbor = encode([
    new Map<CborValue, CborValue>([
      [-2, 'urn:dev:ow:10e2073a01080063:'],
      [-3, 1276020100],
      [0, 'voltage'],
      [2, 119.5],
    ]),
    new Map<CborValue, CborValue>([
      [0, 'current'],
      [2, 1.5],
    ]),
  ]);
  const r2 = await s.post(cbor, 'application/senml+cbor');
  assert.equal(r2.json.stored, 2, r2.text);

  assert.deepEqual(await s.points(v.sid), [
    { time: 1_276_020_076_001, value: 120.1 },
    { time: 1_276_020_100_000, value: 119.5 },
  ]);
  assert.deepEqual(await s.points(c.sid), [
    { time: 1_276_020_071_001, value: 1.2 },
    { time: 1_276_020_072_001, value: 1.3 },
    { time: 1_276_020_100_000, value: 1.5 },
  ]);
  const broken = await s.post(Buffer.from([0x82, 0xa1, 0x00]), 'application/senml+cbor');
  assert.equal(broken.status, 400);
  assert.match(broken.json.message, /CBOR/);
});

bothEngines('the first JSON payload creates a stream and parser per leaf; later payloads use them', async (t, tg) => {
  const s = await setup(t, tg);
  const first = await s.post(
    JSON.stringify({ room1: { sensors: { temp: 21.5, hum: 40 } }, status: 'ok' }),
    'application/json',
  );
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.stored, 3);
  assert.deepEqual(
    first.json.created.map((x: { label: string; type: string }) => [x.label, x.type]),
    [
      ['room1/sensors/temp', 'numeric'],
      ['room1/sensors/hum', 'numeric'],
      ['status', 'text'],
    ],
  );
  const parsers = (await call(s.base, 'GET', `${s.R}/parsers`, { token: s.token })).json;
  assert.deepEqual(
    parsers.map((p: { kind: string; expression: string }) => [p.kind, p.expression]),
    [
      ['json-path', '/room1/sensors/temp'],
      ['json-path', '/room1/sensors/hum'],
      ['json-path', '/status'],
    ],
  );
  const second = await s.post(
    JSON.stringify({ room1: { sensors: { temp: 22, hum: 41 } }, status: 'ok', extra: 5 }),
    'application/json',
  );
  assert.equal(second.json.stored, 3);
  assert.deepEqual(second.json.created, []);
  assert.ok(first.json.created.every((c: { last_time: number | null }) => typeof c.last_time === 'number'));
  const tempId = first.json.created[0].id;
  assert.deepEqual(
    (await s.points(tempId)).map((p) => p.value),
    [21.5, 22],
  );

  // A first SenML payload makes senml parsers by name, on another resource.
  const { rid } = await newResource(s.base, s.uid, s.token, 'senml');
  const r = await call(s.base, 'POST', `/users/${s.uid}/resources/${rid}/data`, {
    token: s.token,
    raw: JSON.stringify([
      { bn: 'dev7/', n: 'temp', u: 'Cel', v: 20 },
      { n: 'temp', t: 1, v: 21 },
    ]),
    headers: { 'content-type': 'application/senml+json' },
  });
  assert.equal(r.json.stored, 2, r.text);
  assert.deepEqual(
    r.json.created.map((x: { label: string; unit: string }) => [x.label, x.unit]),
    [['dev7/temp', 'Cel']],
  );
});

bothEngines('concurrent first payloads create the streams once', async (t, tg) => {
  const s = await setup(t, tg);
  const replies = await Promise.all(
    Array.from({ length: 6 }, (_, i) => s.post(JSON.stringify({ a: i, b: { c: i } }), 'application/json')),
  );
  for (const r of replies) assert.equal(r.status, 200, r.text);
  assert.equal(replies.filter((r) => r.json.created.length > 0).length, 1);
  const streams = (await call(s.base, 'GET', `${s.R}/streams`, { token: s.token })).json;
  assert.deepEqual(
    streams.map((x: { label: string }) => x.label),
    ['a', 'b/c'],
  );
});

bothEngines('a bad payload or a value a parser rejects stores nothing of the batch', async (t, tg) => {
  const s = await setup(t, tg);
  const a = await newStream(s.base, s.uid, s.rid, s.token, { label: 'a' });
  const b = await newStream(s.base, s.uid, s.rid, s.token, { label: 'b' });
  await s.parser({ stream_id: a.sid, kind: 'json-path', expression: '/a' });
  await s.parser({ stream_id: b.sid, kind: 'json-path', expression: '/b' });

  // /a is fine, /b is text for a numeric stream: neither is stored.
  const r = await s.post(JSON.stringify({ a: 1, b: 'warm' }), 'application/json');
  assert.equal(r.status, 400);
  assert.match(r.json.message, /not a number/);
  const r2 = await s.post('{"a": 1, "b": ', 'application/json');
  assert.equal(r2.status, 400);
  const r3 = await s.post(JSON.stringify({ a: 1, b: { value: 2, time: 'soon' } }), 'application/json');
  assert.equal(r3.status, 400);
  assert.deepEqual(await s.points(a.sid), []);
  assert.deepEqual(await s.points(b.sid), []);

  // A first payload that fails creates no streams either.
  const { rid } = await newResource(s.base, s.uid, s.token, 'empty');
  const bad = await call(s.base, 'POST', `/users/${s.uid}/resources/${rid}/data`, {
    token: s.token,
    raw: 'temperature is 21',
    headers: { 'content-type': 'text/plain' },
  });
  assert.equal(bad.status, 400);
  assert.deepEqual(
    (await call(s.base, 'GET', `/users/${s.uid}/resources/${rid}/streams`, { token: s.token })).json,
    [],
  );
  const empty = await call(s.base, 'POST', `/users/${s.uid}/resources/${rid}/data`, {
    token: s.token,
    raw: '',
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(empty.status, 400);
});

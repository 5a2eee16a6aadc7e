/**
 * The CoAP API end to end: devices push over coaps:// with our own CoAP client and the
 * points appear through the HTTP API; a device is refused on a resource it is not bound to; an
 * unknown PSK identity fails the handshake; coap:// needs ?key=; an observation over coaps://
 * hears points posted over HTTP; a large read goes block-wise.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CoapResponse, ContentFormat } from '../../../src/coap/index.ts';
import { DtlsAlertError } from '../../../src/dtls/index.ts';
import { bothEngines, target } from '../engines.ts';
import { call, newResource, newStream, newUser } from '../helpers.ts';
import { bindPsk, client, startCoapPlatform } from './helpers.ts';

const JSON_CF = { contentFormat: ContentFormat['application/json'] };
const body = (r: CoapResponse) => JSON.parse(r.payload.toString('utf8'));

bothEngines(
  'a PSK device posts over coaps:// and the points appear over HTTP; refused on another resource',
  async (t, tg) => {
    const p = await startCoapPlatform(t, tg);
    const { uid, token } = await newUser(p.base, 'ann');
    const a = await newResource(p.base, uid, token, 'A');
    const b = await newResource(p.base, uid, token, 'B');
    // Bound through the HTTP API while the DTLS server runs: usable at once.
    const key = await bindPsk(p.base, token, uid, a.rid, 'sensor-a');
    const dev = client(t, { security: { psk: { identity: 'sensor-a', key } } });

    const first = await dev.post(
      `${p.coapsBase}/users/${uid}/resources/${a.rid}/data`,
      JSON.stringify({ temp: 21.5, hum: 40 }),
      JSON_CF,
    );
    assert.equal(first.status, '2.04', first.payload.toString());
    assert.equal(body(first).stored, 2);
    assert.equal(body(first).created.length, 2);
    const second = await dev.post(
      `${p.coapsBase}/users/${uid}/resources/${a.rid}/data`,
      JSON.stringify({ temp: 22, hum: 41 }),
      JSON_CF,
    );
    assert.equal(second.status, '2.04');

    const streams = await call(p.base, 'GET', `/users/${uid}/resources/${a.rid}/streams`, { token });
    const temp = streams.json.find((s: { label: string }) => s.label.includes('temp'));
    assert.ok(temp, streams.text);
    const data = await call(p.base, 'GET', `/users/${uid}/resources/${a.rid}/streams/${temp.id}/data`, { token });
    assert.deepEqual(
      data.json.points.map((x: { value: number }) => x.value),
      [21.5, 22],
    );

    // The device may read what it is bound to…
    const own = await dev.get(`${p.coapsBase}/users/${uid}/resources/${a.rid}/streams`);
    assert.equal(own.status, '2.05');
    assert.equal(body(own).length, 2);
    // …and nothing else: resource B, the user, or definitions of A.
    const other = await dev.post(`${p.coapsBase}/users/${uid}/resources/${b.rid}/data`, '{"x":1}', JSON_CF);
    assert.equal(other.status, '4.03', other.payload.toString());
    assert.equal((await dev.get(`${p.coapsBase}/users/${uid}/resources/${b.rid}/streams`)).status, '4.03');
    assert.equal((await dev.get(`${p.coapsBase}/users/${uid}`)).status, '4.03');
    assert.equal((await dev.delete(`${p.coapsBase}/users/${uid}/resources/${a.rid}`)).status, '4.03');
    // A ?key= over coaps:// changes nothing: the DTLS identity decides.
    assert.equal(
      (await dev.post(`${p.coapsBase}/users/${uid}/resources/${b.rid}/data?key=${b.key}`, '{"x":1}', JSON_CF)).status,
      '4.03',
    );
    const nothing = await call(p.base, 'GET', `/users/${uid}/resources/${b.rid}/streams`, { token });
    assert.deepEqual(nothing.json, []);

    // Unbinding takes effect on the next request of the established session: 4.01.
    const creds = await call(p.base, 'GET', `/users/${uid}/resources/${a.rid}/devices`, { token });
    await call(p.base, 'DELETE', `/users/${uid}/resources/${a.rid}/devices/${creds.json[0].id}`, { token });
    const after = await dev.post(`${p.coapsBase}/users/${uid}/resources/${a.rid}/data`, '{"temp":1}', JSON_CF);
    assert.equal(after.status, '4.01', after.payload.toString());
  },
);

test('an unknown PSK identity and a wrong key fail the handshake', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startCoapPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'ann');
  const a = await newResource(p.base, uid, token, 'A');
  await bindPsk(p.base, token, uid, a.rid, 'known');
  const url = `${p.coapsBase}/users/${uid}/resources/${a.rid}/data`;
  const stranger = client(t, {
    security: { psk: { identity: 'stranger', key: Buffer.alloc(16, 7) }, maxRetransmits: 1, retransmitInitialMs: 200 },
  });
  await assert.rejects(stranger.post(url, '{"x":1}', JSON_CF), (err: Error) => {
    assert.ok(err instanceof DtlsAlertError, `${err.name}: ${err.message}`);
    assert.match(err.message, /unknown_psk_identity/);
    return true;
  });
  const wrongKey = client(t, {
    security: { psk: { identity: 'known', key: Buffer.alloc(16, 7) }, maxRetransmits: 1, retransmitInitialMs: 200 },
  });
  await assert.rejects(wrongKey.post(url, '{"x":1}', JSON_CF), (err: Error) => {
    assert.ok(err instanceof DtlsAlertError, `${err.name}: ${err.message}`);
    return true;
  });
  const streams = await call(p.base, 'GET', `/users/${uid}/resources/${a.rid}/streams`, { token });
  assert.deepEqual(streams.json, []);
});

test('coap:// works with ?key= as in HTTP: users, resources, streams, data; errors map to 4.xx', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startCoapPlatform(t, tg);
  const c = client(t);
  const B = p.coapBase;

  const u = await c.post(`${B}/users`, JSON.stringify({ username: 'cora', password: 'a good password' }), JSON_CF);
  assert.equal(u.status, '2.01', u.payload.toString());
  const { id: uid, token } = body(u);
  assert.deepEqual(u.locationPath, ['users', String(uid)]);
  assert.equal((await c.get(`${B}/users/${uid}`)).status, '4.01');
  assert.equal((await c.get(`${B}/users/${uid}?key=nonsense`)).status, '4.01');
  assert.equal(body(await c.get(`${B}/users/${uid}?key=${token}`)).username, 'cora');

  const r = await c.post(`${B}/users/${uid}/resources?key=${token}`, JSON.stringify({ label: 'lab' }), JSON_CF);
  assert.equal(r.status, '2.01');
  const rid = body(r).id;
  const rkey = body(r).key;
  assert.equal((await c.post(`${B}/users/${uid}/resources?key=${token}`, '{"label": 5}', JSON_CF)).status, '4.00');
  assert.equal((await c.post(`${B}/users/${uid}/resources?key=${token}`, '{nope', JSON_CF)).status, '4.00');
  assert.equal((await c.post(`${B}/users/${uid}/resources?key=${token}`, 'x', { contentFormat: 0 })).status, '4.15');
  assert.equal((await c.get(`${B}/users/${uid}/resources/999999?key=${token}`)).status, '4.04');
  const put = await c.put(
    `${B}/users/${uid}/resources/${rid}?key=${token}`,
    JSON.stringify({ label: 'lab2', polling_url: 'coap://sensor.example/x', polling_period: 60 }),
    JSON_CF,
  );
  assert.equal(put.status, '2.04', put.payload.toString());
  assert.equal(body(put).label, 'lab2');

  const s = await c.post(
    `${B}/users/${uid}/resources/${rid}/streams?key=${token}`,
    JSON.stringify({ label: 'temp', unit: 'C' }),
    JSON_CF,
  );
  assert.equal(s.status, '2.01');
  const sid = body(s).id;
  // Points with the resource key, then read them back with the user token.
  const pts = await c.post(
    `${B}/users/${uid}/resources/${rid}/streams/${sid}/data?key=${rkey}`,
    JSON.stringify([
      { value: 1, time: 1000 },
      { value: 2, time: 2000 },
    ]),
    JSON_CF,
  );
  assert.equal(pts.status, '2.04', pts.payload.toString());
  assert.equal(body(pts).stored, 2);
  const read = await c.get(`${B}/users/${uid}/resources/${rid}/streams/${sid}/data?key=${token}`);
  assert.deepEqual(body(read).points, [
    { time: 1000, value: 1 },
    { time: 2000, value: 2 },
  ]);
  const csv = await c.get(`${B}/users/${uid}/resources/${rid}/streams/${sid}/data?key=${token}&format=csv`);
  assert.equal(csv.payload.toString(), 'time,value\r\n1000,1\r\n2000,2\r\n');
  // A resource key cannot change definitions; the stream belongs to its resource only.
  assert.equal((await c.delete(`${B}/users/${uid}/resources/${rid}/streams/${sid}?key=${rkey}`)).status, '4.03');
  const del = await c.delete(`${B}/users/${uid}/resources/${rid}/streams/${sid}/data?key=${token}&until=1500`);
  assert.equal(del.status, '2.02');
  assert.equal(body(del).deleted, 1);
  assert.equal((await c.delete(`${B}/users/${uid}/resources/${rid}/streams/${sid}?key=${token}`)).status, '2.02');
  assert.equal((await c.delete(`${B}/users/${uid}/resources/${rid}?key=${token}`)).status, '2.02');
  assert.equal((await c.get(`${B}/users/${uid}/resources?key=${token}`)).payload.toString(), '[]');
});

test('a large read goes block-wise (Block2) and arrives whole', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startCoapPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'ann');
  const a = await newResource(p.base, uid, token, 'A');
  const s = await newStream(p.base, uid, a.rid, token, { label: 'n' });
  const points = Array.from({ length: 800 }, (_, i) => ({ time: 1_700_000_000_000 + i * 1000, value: i + 0.25 }));
  const posted = await call(p.base, 'POST', `/users/${uid}/resources/${a.rid}/streams/${s.sid}/data`, {
    token,
    body: points,
  });
  assert.equal(posted.status, 200, posted.text);
  const c = client(t, { blockSize: 256 });
  const r = await c.get(`${p.coapBase}/users/${uid}/resources/${a.rid}/streams/${s.sid}/data?key=${token}&limit=800`);
  assert.equal(r.status, '2.05');
  assert.ok(r.payload.length > 20_000, `${r.payload.length} bytes`);
  assert.deepEqual(body(r).points, points);
});

test('an observation of a stream over coaps:// receives the points posted over HTTP', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startCoapPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'ann');
  const a = await newResource(p.base, uid, token, 'A');
  const s = await newStream(p.base, uid, a.rid, token, { label: 'temp' });
  const key = await bindPsk(p.base, token, uid, a.rid, 'watcher');
  const dev = client(t, { security: { psk: { identity: 'watcher', key } } });
  const obs = await dev.observe(`${p.coapsBase}/users/${uid}/resources/${a.rid}/streams/${s.sid}/data`);
  t.after(() => obs.cancel());
  assert.equal(obs.first?.status, '2.05');
  assert.deepEqual(body(obs.first as CoapResponse).points, []);

  const heard: Array<{ time: number; value: number }> = [];
  const want = 12;
  const done = new Promise<void>((resolve) => {
    obs.on('notification', (r: CoapResponse) => {
      heard.push(...body(r).points);
      if (heard.length >= want) resolve();
    });
  });
  for (let i = 0; i < want; i++) {
    const r = await call(p.base, 'POST', `/users/${uid}/resources/${a.rid}/streams/${s.sid}/data`, {
      token,
      body: { time: 5000 + i, value: i },
    });
    assert.equal(r.status, 200);
    // One batch at a time, so that each becomes its own notification.
    await new Promise((res) => setTimeout(res, 30));
  }
  await Promise.race([
    done,
    new Promise((_, rej) => setTimeout(() => rej(new Error(`heard ${heard.length}`)), 10_000)),
  ]);
  assert.deepEqual(
    heard.map((x) => x.value),
    Array.from({ length: want }, (_, i) => i),
  );
});

import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { CoapClient, type CoapResponse } from '../../src/coap/client.ts';
import { CoapTimeoutError } from '../../src/coap/errors.ts';
import { decodeMessage, encodeMessage } from '../../src/coap/message.ts';
import { isFresher } from '../../src/coap/observe.ts';
import { Code, encodeUint, OptionNumber } from '../../src/coap/options.ts';
import { CoapServer } from '../../src/coap/server.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import { parseCoapUri } from '../../src/coap/uri.ts';

async function start(server: CoapServer) {
  const t = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(t);
  return t.address().port;
}

const body = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 8)) & 0xff));

test('Block2 downloads and Block1 uploads at every block size, whole bodies both ways', async (t) => {
  const server = new CoapServer({ blockSize: 512 });
  server.get('/b/:n', (req) => ({ payload: body(Number(req.params.n)) }));
  server.put('/echo', (req) => ({ payload: req.payload }));
  const port = await start(server);
  t.after(() => server.close());
  const c = new CoapClient();
  t.after(() => c.close());
  for (const n of [0, 1, 511, 512, 513, 3000]) {
    const r = await c.get(`coap://127.0.0.1:${port}/b/${n}`);
    assert.ok(r.payload.equals(body(n)), `GET ${n}`);
  }
  for (const size of [16, 64, 1024]) {
    const r = await c.get(`coap://127.0.0.1:${port}/b/2000`, { blockSize: size });
    assert.ok(r.payload.equals(body(2000)), `GET with ${size}-byte blocks`);
    const e = await c.put(`coap://127.0.0.1:${port}/echo`, body(2500), { blockSize: size });
    assert.equal(e.status, '2.04');
    assert.ok(e.payload.equals(body(2500)), `PUT+echo with ${size}-byte blocks`);
  }
});

test('observe: first response, ordered notifications, Block2 notifications, proactive and Reset deregistration', async (t) => {
  const server = new CoapServer({ blockSize: 64 });
  let v = 0;
  server.get('/v', () => ({ payload: `value ${v} `.repeat(v === 3 ? 20 : 1) }), { observable: true });
  server.get('/plain', () => ({ payload: 'no' }));
  const port = await start(server);
  t.after(() => server.close());
  const c = new CoapClient();
  t.after(() => c.close());
  const o = await c.observe(`coap://127.0.0.1:${port}/v`);
  assert.equal(o.first?.payload.toString(), 'value 0 ');
  const got: CoapResponse[] = [];
  o.on('notification', (r: CoapResponse) => got.push(r));
  for (let i = 1; i <= 4; i++) {
    v = i;
    await server.notify('/v');
    await new Promise((r) => setTimeout(r, 60));
  }
  assert.deepEqual(
    got.map((r) => r.payload.toString()),
    ['value 1 ', 'value 2 ', 'value 3 '.repeat(20), 'value 4 '],
  );
  assert.ok(got.every((r, i) => i === 0 || r.observe! > got[i - 1].observe!));
  assert.equal(server.observerCount('/v'), 1);
  await o.cancel();
  assert.equal(server.observerCount('/v'), 0);

  // Forgetting without telling the server: the next notification is answered with Reset, which removes us.
  const o2 = await c.observe(`coap://127.0.0.1:${port}/v`);
  assert.equal(server.observerCount('/v'), 1);
  await o2.cancel(false);
  await server.notify('/v');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(server.observerCount('/v'), 0);

  // Not observable: the response carries no Observe and the observation is inactive.
  const o3 = await c.observe(`coap://127.0.0.1:${port}/plain`);
  assert.equal(o3.isActive, false);
  assert.equal(o3.first?.observe, undefined);
});

test('a CON notification nobody ACKs removes the observer (RFC 7641 §4.5)', async (t) => {
  const server = new CoapServer({ params: { ackTimeout: 50, maxRetransmit: 1 }, observe: { conEvery: 1 } });
  server.get('/v', () => ({ payload: 'x' }), { observable: true });
  const port = await start(server);
  t.after(() => server.close());
  const c = new CoapClient();
  const o = await c.observe(`coap://127.0.0.1:${port}/v`);
  assert.ok(o.isActive);
  await c.close(); // The client vanishes without a word.
  await server.notify('/v');
  assert.equal(server.observerCount('/v'), 0);
});

test('RFC 7641 §3.4 freshness with wrap-around', () => {
  assert.equal(isFresher(2, 0, 1, 0), true);
  assert.equal(isFresher(1, 0, 2, 0), false);
  assert.equal(isFresher(5, 0, (1 << 24) - 3, 0), true);
  assert.equal(isFresher((1 << 24) - 3, 0, 5, 0), false);
  assert.equal(isFresher(1, 200_000, 2, 0), true);
});

test('a CON to a silent peer times out after MAX_RETRANSMIT retransmissions', async (t) => {
  const sink = createSocket('udp4');
  let seen = 0;
  sink.on('message', () => seen++);
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
  t.after(() => sink.close());
  const c = new CoapClient({ params: { ackTimeout: 40, maxRetransmit: 3 } });
  t.after(() => c.close());
  await assert.rejects(c.get(`coap://127.0.0.1:${sink.address().port}/x`), CoapTimeoutError);
  assert.equal(seen, 4);
});

test('NON requests get NON responses; ping answers', async (t) => {
  const server = new CoapServer();
  server.get('/x', () => ({ payload: 'non' }));
  const port = await start(server);
  t.after(() => server.close());
  const c = new CoapClient();
  t.after(() => c.close());
  const r = await c.get(`coap://127.0.0.1:${port}/x`, { confirmable: false });
  assert.equal(r.type, 'NON');
  assert.equal(r.payload.toString(), 'non');
  assert.equal(await c.ping(`coap://127.0.0.1:${port}`), true);
});

test('IPv6 literal URIs work end to end', async (t) => {
  const server = new CoapServer();
  server.get('/six', (req) => ({ payload: req.peer.address }));
  let tr: UdpTransport;
  try {
    tr = await UdpTransport.bind({ host: '::1' });
  } catch {
    t.skip('no IPv6 loopback here');
    return;
  }
  server.listen(tr);
  t.after(() => server.close());
  const c = new CoapClient();
  t.after(() => c.close());
  const r = await c.get(`coap://[::1]:${tr.address().port}/six`);
  assert.equal(r.payload.toString(), '::1');
  assert.equal(parseCoapUri('coaps://[fe80::1]/a%20b/c?x=1&y').path[0], 'a b');
});

test('the client drops a notification older than the last one (RFC 7641 §3.4 reordering)', async (t) => {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const serverPort = sock.address().port;
  await new Promise<void>((r) => sock.close(() => r()));
  const c = new CoapClient();
  t.after(() => c.close());
  // A hand-driven server on a raw socket: it answers the registration, then sends 12, 11 (stale), 13.
  const raw = createSocket('udp4');
  await new Promise<void>((r) => raw.bind(serverPort, '127.0.0.1', () => r()));
  t.after(() => raw.close());
  const got: string[] = [];
  const registered = new Promise<{ port: number; token: Buffer; mid: number }>((resolve) => {
    raw.once('message', (d, rinfo) => {
      const r = decodeMessage(d);
      if (r.ok) resolve({ port: rinfo.port, token: r.message.token, mid: r.message.messageId });
    });
  });
  const obsP = c.observe(`coap://127.0.0.1:${serverPort}/v`);
  const reg = await registered;
  const send = (type: 'ACK' | 'NON', mid: number, seq: number, payload: string) =>
    raw.send(
      encodeMessage({
        type,
        code: Code.Content,
        messageId: mid,
        token: reg.token,
        options: [{ number: OptionNumber.Observe, value: encodeUint(seq) }],
        payload: Buffer.from(payload),
      }),
      reg.port,
      '127.0.0.1',
    );
  send('ACK', reg.mid, 10, 'a');
  const o = await obsP;
  o.on('notification', (r: CoapResponse) => got.push(r.payload.toString()));
  send('NON', 501, 12, 'c');
  await new Promise((r) => setTimeout(r, 30));
  send('NON', 502, 11, 'b');
  await new Promise((r) => setTimeout(r, 30));
  send('NON', 503, 13, 'd');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(o.first?.payload.toString(), 'a');
  assert.deepEqual(got, ['c', 'd']);
  await o.cancel(false);
});

test("a device serves and requests from one UDP port (client on the server's message layer)", async (t) => {
  const cloud = new CoapServer();
  let seenPort = 0;
  cloud.post('/data', (req) => {
    seenPort = req.peer.port;
    return { payload: 'stored' };
  });
  const cloudPort = await start(cloud);
  t.after(() => cloud.close());
  const device = new CoapServer();
  device.get('/sensor', () => ({ payload: '21.5' }));
  const deviceTransport = await UdpTransport.bind({ host: '127.0.0.1' });
  const layer = device.listen(deviceTransport);
  t.after(() => device.close());
  const push = new CoapClient({ layer });
  t.after(() => push.close());
  assert.equal((await push.post(`coap://127.0.0.1:${cloudPort}/data`, '1')).payload.toString(), 'stored');
  assert.equal(seenPort, deviceTransport.address().port, "the push came from the device's server port");
  // The cloud pulls from the same port.
  const pull = new CoapClient();
  t.after(() => pull.close());
  assert.equal((await pull.get(`coap://127.0.0.1:${seenPort}/sensor`)).payload.toString(), '21.5');
});

test('an observer re-registers when Max-Age lapses without a notification (a rebooted server)', async (t) => {
  const first = new CoapServer();
  first.get('/v', () => ({ payload: 'before', maxAge: 1 }), { observable: true });
  const tr = await UdpTransport.bind({ host: '127.0.0.1' });
  const port = tr.address().port;
  first.listen(tr);
  const c = new CoapClient();
  t.after(() => c.close());
  const o = await c.observe(`coap://127.0.0.1:${port}/v`);
  assert.equal(o.first?.payload.toString(), 'before');
  const got: string[] = [];
  o.on('notification', (r: CoapResponse) => got.push(r.payload.toString()));
  // The server "reboots": a new one on the same port that knows nothing of the observation.
  await first.close();
  const second = new CoapServer();
  let n = 0;
  second.get('/v', () => ({ payload: `after ${n}`, maxAge: 1 }), { observable: true });
  second.listen(await UdpTransport.bind({ host: '127.0.0.1', port }));
  t.after(() => second.close());
  // Max-Age 1 s + 2 s slack: the client registers again, then gets the new server's notifications.
  const deadline = Date.now() + 6000;
  while (second.observerCount('/v') === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(second.observerCount('/v'), 1);
  n = 1;
  await second.notify('/v');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(got, ['after 0', 'after 1']);
  await o.cancel();
});

test('two concurrent Block1 uploads to one resource stay apart (Request-Tag, RFC 9175)', async (t) => {
  const server = new CoapServer();
  server.put('/up', (req) => ({ payload: req.payload }));
  const port = await start(server);
  t.after(() => server.close());
  const c = new CoapClient({ blockSize: 64, params: { nstart: 4 } });
  t.after(() => c.close());
  const a = Buffer.alloc(1000, 0x61);
  const b = Buffer.alloc(900, 0x62);
  const [ra, rb] = await Promise.all([
    c.put(`coap://127.0.0.1:${port}/up`, a),
    c.put(`coap://127.0.0.1:${port}/up`, b),
  ]);
  assert.ok(ra.payload.equals(a));
  assert.ok(rb.payload.equals(b));
});

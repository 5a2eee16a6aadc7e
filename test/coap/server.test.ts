import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoapClient } from '../../src/coap/client.ts';
import { CoapError } from '../../src/coap/errors.ts';
import { parseLinks } from '../../src/coap/linkformat.ts';
import { getOption, getUintOption } from '../../src/coap/message.ts';
import { Code, codeString, encodeBlock, encodeUint, OptionNumber } from '../../src/coap/options.ts';
import { CoapServer, matchPattern } from '../../src/coap/server.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import { rawPeer } from './helpers.ts';

async function start(server: CoapServer) {
  const t = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(t);
  return t.address().port;
}

const hdr = (type: number, tkl: number, code: number, mid: number) =>
  Buffer.from([0x40 | (type << 4) | tkl, code, mid >> 8, mid & 0xff]);

test('malformed requests get Reset (CON) or silence (NON), bad options 4.02/4.00, and the server keeps serving', async (t) => {
  const server = new CoapServer();
  let calls = 0;
  server.get('/x', () => {
    calls++;
    return { payload: 'ok' };
  });
  const port = await start(server);
  t.after(() => server.close());
  const p = await rawPeer(port);
  t.after(() => p.close());

  // Token length 9..15: message format error → RST for CON.
  for (const tkl of [9, 12, 15]) {
    p.send(Buffer.concat([hdr(0, tkl, 1, 100 + tkl), Buffer.alloc(tkl)]));
    const r = await p.next();
    assert.equal(r?.type, 'RST', `TKL ${tkl}`);
    assert.equal(r?.messageId, 100 + tkl);
  }
  // Truncated option, nibble 15, payload marker without payload → RST.
  for (const [mid, tail] of [
    [201, 'b474'],
    [202, 'f1'],
    [203, '1f'],
    [204, 'b1' + '78' + 'ff'],
  ] as const) {
    p.send(Buffer.concat([hdr(0, 0, 1, mid), Buffer.from(tail, 'hex')]));
    const r = await p.next();
    assert.equal(r?.type, 'RST', `tail ${tail}`);
    assert.equal(r?.messageId, mid);
  }
  // The same faults in a NON are silently ignored.
  p.send(Buffer.concat([hdr(1, 9, 1, 301), Buffer.alloc(9)]));
  p.send(Buffer.concat([hdr(1, 0, 1, 302), Buffer.from('ff', 'hex')]));
  assert.equal(await p.next(300), undefined);
  // Unknown critical option in a CON request → piggybacked 4.02.
  p.send({
    type: 'CON',
    code: Code.GET,
    messageId: 401,
    token: Buffer.from('t1'),
    options: [
      { number: OptionNumber.UriPath, value: Buffer.from('x') },
      { number: 2049, value: Buffer.from('?') },
    ],
    payload: Buffer.alloc(0),
  });
  let r = await p.next();
  assert.equal(r?.type, 'ACK');
  assert.equal(codeString(r!.code), '4.02');
  assert.equal(r?.token.toString(), 't1');
  // Unknown elective option: ignored, the request is served.
  p.send({
    type: 'CON',
    code: Code.GET,
    messageId: 402,
    token: Buffer.from('t2'),
    options: [
      { number: OptionNumber.UriPath, value: Buffer.from('x') },
      { number: 2048, value: Buffer.from('?') },
    ],
    payload: Buffer.alloc(0),
  });
  r = await p.next();
  assert.equal(codeString(r!.code), '2.05');
  assert.equal(r?.payload.toString(), 'ok');
  // Block2 with the reserved SZX 7 → 4.00 (RFC 7959 §2.2).
  p.send({
    type: 'CON',
    code: Code.GET,
    messageId: 403,
    token: Buffer.from('t3'),
    options: [
      { number: OptionNumber.UriPath, value: Buffer.from('x') },
      { number: OptionNumber.Block2, value: Buffer.from([0x07]) },
    ],
    payload: Buffer.alloc(0),
  });
  r = await p.next();
  assert.equal(codeString(r!.code), '4.00');
  // An unknown method code → 4.05; class-1 code → RST.
  p.send({ type: 'CON', code: 20, messageId: 404, token: Buffer.from('t4'), options: [], payload: Buffer.alloc(0) });
  r = await p.next();
  assert.equal(codeString(r!.code), '4.05');
  // Proxy-Uri: we are no proxy → 5.05.
  p.send({
    type: 'CON',
    code: Code.GET,
    messageId: 406,
    token: Buffer.from('t6'),
    options: [{ number: OptionNumber.ProxyUri, value: Buffer.from('coap://elsewhere/x') }],
    payload: Buffer.alloc(0),
  });
  r = await p.next();
  assert.equal(codeString(r!.code), '5.05');
  // Ping: Empty CON → RST.
  p.send(hdr(0, 0, 0, 405));
  r = await p.next();
  assert.equal(r?.type, 'RST');
  assert.equal(r?.messageId, 405);
  // Still serving.
  const c = new CoapClient();
  t.after(() => c.close());
  const ok = await c.get(`coap://127.0.0.1:${port}/x`);
  assert.equal(ok.payload.toString(), 'ok');
  assert.equal(calls, 2);
});

test('a duplicate CON gets the cached reply and the handler runs once', async (t) => {
  const server = new CoapServer();
  let calls = 0;
  server.post('/n', () => ({ payload: String(++calls) }));
  const port = await start(server);
  t.after(() => server.close());
  const p = await rawPeer(port);
  t.after(() => p.close());
  const req = {
    type: 'CON' as const,
    code: Code.POST,
    messageId: 777,
    token: Buffer.from('dd'),
    options: [{ number: OptionNumber.UriPath, value: Buffer.from('n') }],
    payload: Buffer.from('x'),
  };
  p.send(req);
  const a = await p.next();
  p.send(req);
  p.send(req);
  const b = await p.next();
  const c = await p.next();
  assert.equal(a?.payload.toString(), '1');
  assert.deepEqual(b, a);
  assert.deepEqual(c, a);
  assert.equal(calls, 1);
  // A new message ID is a new request.
  p.send({ ...req, messageId: 778 });
  assert.equal((await p.next())?.payload.toString(), '2');
});

test('a slow handler gets an Empty ACK, then a separate CON response the client ACKs', async (t) => {
  const server = new CoapServer({ params: { ackTimeout: 200 } });
  server.get('/slow', async () => {
    await new Promise((r) => setTimeout(r, 300));
    return { payload: 'late' };
  });
  const port = await start(server);
  t.after(() => server.close());
  const p = await rawPeer(port);
  t.after(() => p.close());
  p.send({
    type: 'CON',
    code: Code.GET,
    messageId: 9,
    token: Buffer.from('s1'),
    options: [{ number: OptionNumber.UriPath, value: Buffer.from('slow') }],
    payload: Buffer.alloc(0),
  });
  const ack = await p.next();
  assert.equal(ack?.type, 'ACK');
  assert.equal(ack?.code, Code.Empty);
  const res = await p.next(1000);
  assert.equal(res?.type, 'CON');
  assert.equal(res?.token.toString(), 's1');
  assert.equal(res?.payload.toString(), 'late');
  p.send({
    type: 'ACK',
    code: 0,
    messageId: res!.messageId,
    token: Buffer.alloc(0),
    options: [],
    payload: Buffer.alloc(0),
  });
  // Acknowledged: no retransmission follows.
  assert.equal(await p.next(600), undefined);
  // And our client copes with a separate response too.
  const c = new CoapClient({ params: { ackTimeout: 200 } });
  t.after(() => c.close());
  assert.equal((await c.get(`coap://127.0.0.1:${port}/slow`)).payload.toString(), 'late');
});

test('router: params, query, 4.04, 4.05, 4.06, CoapError codes, 5.00, Location-Path, 2.03 Valid', async (t) => {
  const server = new CoapServer();
  server.get(
    '/users/:uid/resources',
    (req) => ({ payload: JSON.stringify({ uid: req.params.uid, q: req.query }), contentFormat: 50 }),
    { produces: [50] },
  );
  server.post('/users/:uid/resources', () => ({ locationPath: ['users', '1', 'resources', '9'] }));
  server.get('/forbidden', () => {
    throw new CoapError(Code.Forbidden, 'not you');
  });
  server.get('/bug', () => {
    throw new Error('boom');
  });
  server.get('/tagged', () => ({ payload: 'v1', etag: Buffer.from('e1') }));
  const port = await start(server);
  t.after(() => server.close());
  const c = new CoapClient();
  t.after(() => c.close());
  const base = `coap://127.0.0.1:${port}`;
  let r = await c.get(`${base}/users/42/resources?limit=5&x`);
  assert.deepEqual(JSON.parse(r.payload.toString()), { uid: '42', q: { limit: '5', x: '' } });
  assert.equal(r.contentFormat, 50);
  r = await c.post(`${base}/users/42/resources`, 'x');
  assert.equal(r.status, '2.01');
  assert.deepEqual(r.locationPath, ['users', '1', 'resources', '9']);
  assert.equal((await c.get(`${base}/nothing`)).status, '4.04');
  assert.equal((await c.delete(`${base}/users/1/resources`)).status, '4.05');
  assert.equal((await c.get(`${base}/users/1/resources`, { accept: 60 })).status, '4.06');
  r = await c.get(`${base}/forbidden`);
  assert.equal(r.status, '4.03');
  assert.equal(r.payload.toString(), 'not you');
  assert.equal((await c.get(`${base}/bug`)).status, '5.00');
  r = await c.get(`${base}/tagged`, { options: [{ number: OptionNumber.ETag, value: Buffer.from('e1') }] });
  assert.equal(r.status, '2.03');
  assert.equal(r.payload.length, 0);
  r = await c.get(`${base}/.well-known/core`);
  assert.equal(r.contentFormat, 40);
  assert.deepEqual(
    parseLinks(r.payload.toString())
      .map((l) => l.href)
      .sort(),
    ['/bug', '/forbidden', '/tagged'],
  );
  r = await c.get(`${base}/.well-known/core?href=/t*`);
  assert.deepEqual(
    parseLinks(r.payload.toString()).map((l) => l.href),
    ['/tagged'],
  );
});

test('matchPattern', () => {
  assert.deepEqual(matchPattern(['users', ':uid'], ['users', '7']), { uid: '7' });
  assert.equal(matchPattern(['users', ':uid'], ['users']), undefined);
  assert.equal(matchPattern(['users', ':uid'], ['users', '7', 'x']), undefined);
  assert.deepEqual(matchPattern(['files', '*'], ['files', 'a', 'b']), { '*': 'a/b' });
  assert.deepEqual(matchPattern([], []), {});
});

test('Block1 beyond the body bound → 4.13 with Size1; out-of-order block → 4.08; Size1 up front → 4.13', async (t) => {
  const server = new CoapServer({ maxBodySize: 1000 });
  server.post('/up', (req) => ({ payload: String(req.payload.length) }));
  const port = await start(server);
  t.after(() => server.close());
  const c = new CoapClient({ blockSize: 256 });
  t.after(() => c.close());
  let r = await c.post(`coap://127.0.0.1:${port}/up`, Buffer.alloc(900));
  assert.equal(r.payload.toString(), '900');
  r = await c.post(`coap://127.0.0.1:${port}/up`, Buffer.alloc(1200));
  assert.equal(r.status, '4.13');
  const p = await rawPeer(port);
  t.after(() => p.close());
  const up = (mid: number, num: number, more: boolean, extra: { number: number; value: Buffer }[] = []) => ({
    type: 'CON' as const,
    code: Code.POST,
    messageId: mid,
    token: Buffer.from([mid]),
    payload: Buffer.alloc(more ? 64 : 10),
    options: [
      { number: OptionNumber.UriPath, value: Buffer.from('up') },
      { number: OptionNumber.Block1, value: encodeBlock({ num, more, szx: 2 }) },
      ...extra,
    ],
  });
  p.send(up(1, 3, true));
  let m = await p.next();
  assert.equal(codeString(m!.code), '4.08');
  p.send(up(2, 0, true, [{ number: OptionNumber.Size1, value: encodeUint(5000) }]));
  m = await p.next();
  assert.equal(codeString(m!.code), '4.13');
  assert.equal(getUintOption(m!, OptionNumber.Size1), 1000);
  p.send(up(3, 0, true));
  m = await p.next();
  assert.equal(codeString(m!.code), '2.31');
  assert.ok(getOption(m!, OptionNumber.Block1));
  p.send(up(4, 1, false));
  m = await p.next();
  assert.equal(codeString(m!.code), '2.04');
  assert.equal(m!.payload.toString(), '74');
});

test('router: exact paths by lookup keep the order of addition against patterns; a segment holding "/" is not two segments', async (t) => {
  const server = new CoapServer({ wellKnownCore: false });
  server.get('/users/:uid', (req) => ({ payload: `pattern ${req.params.uid}` }));
  server.get('/users/me', () => ({ payload: 'exact me' }));
  server.get('/items/all', () => ({ payload: 'exact all' }));
  server.get('/items/:id', (req) => ({ payload: `pattern ${req.params.id}` }));
  server.post('/a/b', () => ({ payload: 'post a/b' }));
  server.get('/', () => ({ payload: 'root' }));
  server.get('/q', (req) => ({ payload: JSON.stringify(req.query) }));
  const port = await start(server);
  t.after(() => server.close());
  const c = new CoapClient();
  t.after(() => c.close());
  const get = async (path: string) => {
    const r = await c.get(`coap://127.0.0.1:${port}${path}`);
    return `${r.status} ${r.payload.toString()}`;
  };
  // The pattern was added first, so it wins over the later exact route (as a linear router does).
  assert.equal(await get('/users/me'), '2.05 pattern me');
  assert.equal(await get('/items/all'), '2.05 exact all');
  assert.equal(await get('/items/7'), '2.05 pattern 7');
  assert.equal(await get('/a/b'), '4.05 GET not allowed on /a/b');
  // One Uri-Path "a/b" names another resource than the two segments "a", "b".
  assert.equal(await get('/a%2Fb'), '4.04 no resource /a/b');
  assert.equal(await get('/'), '2.05 root');
  assert.equal(await get('/q?x=1&flag&x=2&__proto__=p'), '2.05 {"x":"2","flag":"","__proto__":"p"}');
});

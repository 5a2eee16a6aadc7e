import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { CoapClient } from '../../src/coap/client.ts';
import { CoapTimeoutError } from '../../src/coap/errors.ts';
import { CoapServer } from '../../src/coap/server.ts';
import { DtlsClientTransport, DtlsServerTransport } from '../../src/coap/transport-dtls.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import { connect, type DtlsConnection } from '../../src/dtls/index.ts';

const keys = new Map([
  ['dev-a', Buffer.from('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'hex')],
  ['dev-b', Buffer.from('bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'hex')],
]);

test('coaps://: each request carries the PSK identity; one DTLS session per (server, credentials), reused', async (t) => {
  const server = new CoapServer();
  server.get('/whoami', (req) => ({
    payload: `${req.scheme} ${req.peer.identity?.mode === 'psk' ? req.peer.identity.identity : 'anonymous'}`,
  }));
  const dtls = await DtlsServerTransport.listen({ host: '127.0.0.1', port: 0, psk: (id) => keys.get(id) });
  const udp = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(dtls);
  server.listen(udp);
  t.after(() => server.close());
  const handshakes: DtlsConnection[] = [];
  dtls.server.on('connection', (c: DtlsConnection) => handshakes.push(c));
  const s = `coaps://127.0.0.1:${dtls.address().port}/whoami`;

  const a = new CoapClient({ security: { psk: { identity: 'dev-a', key: keys.get('dev-a')! } } });
  t.after(() => a.close());
  for (let i = 0; i < 5; i++) assert.equal((await a.get(s)).payload.toString(), 'coaps dev-a');
  assert.equal(handshakes.length, 1, 'five requests, one DTLS session');
  const r = await a.get(s);
  assert.deepEqual(r.peer.identity, { mode: 'psk', identity: 'dev-a' });

  // Other credentials: another session, another identity.
  const b = new CoapClient({ security: { psk: { identity: 'dev-b', key: keys.get('dev-b')! } } });
  t.after(() => b.close());
  assert.equal((await b.get(s)).payload.toString(), 'coaps dev-b');
  assert.equal(handshakes.length, 2);

  // Plain UDP on the same server: no identity.
  const plain = new CoapClient();
  t.after(() => plain.close());
  assert.equal((await plain.get(`coap://127.0.0.1:${udp.address().port}/whoami`)).payload.toString(), 'coap anonymous');

  // A wrong key never reaches CoAP: the handshake fails and the request rejects.
  const bad = new CoapClient({
    security: { psk: { identity: 'dev-a', key: Buffer.alloc(16, 1) }, maxRetransmits: 1, retransmitInitialMs: 100 },
  });
  t.after(() => bad.close());
  await assert.rejects(bad.get(s));
});

/**
 * A UDP relay between a client and a server that can go mute (drop everything both ways), as a
 * path that loses every datagram for a while: what the server sends meanwhile never arrives.
 */
async function relay(target: number): Promise<{ port: number; mute: boolean; close(): void }> {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  await Promise.all([front, back].map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
  let client: { address: string; port: number } | undefined;
  const r = {
    port: front.address().port,
    mute: false,
    close: () => {
      front.close();
      back.close();
    },
  };
  front.on('message', (m, from) => {
    client = { address: from.address, port: from.port };
    if (!r.mute) back.send(m, target, '127.0.0.1');
  });
  back.on('message', (m) => {
    if (!r.mute && client) front.send(m, client.port, client.address);
  });
  return r;
}

test('coaps://: when the server silently drops the association, a timeout makes the next request handshake again', async (t) => {
  const server = new CoapServer();
  server.get('/x', () => ({ payload: 'ok' }));
  const dtls = await DtlsServerTransport.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => keys.get(id),
    idleTimeoutMs: 300,
  });
  server.listen(dtls);
  t.after(() => server.close());
  const path = await relay(dtls.address().port);
  t.after(() => path.close());
  let handshakes = 0;
  dtls.server.on('connection', () => handshakes++);
  const c = new CoapClient({
    security: { psk: { identity: 'dev-a', key: keys.get('dev-a')! } },
    params: { ackTimeout: 100, maxRetransmit: 2 },
  });
  t.after(() => c.close());
  const uri = `coaps://127.0.0.1:${path.port}/x`;
  assert.equal((await c.get(uri)).payload.toString(), 'ok');
  // The server forgets the idle association; its close_notify is lost on the mute path.
  path.mute = true;
  await new Promise((r) => setTimeout(r, 1200));
  path.mute = false;
  await assert.rejects(c.get(uri), CoapTimeoutError);
  assert.equal((await c.get(uri)).payload.toString(), 'ok');
  assert.equal(handshakes, 2);
});

test('coaps:// through a transport provider: the caller makes and keeps the DTLS connection, the URI stays coaps://', async (t) => {
  const server = new CoapServer();
  server.get('/whoami', (req) => ({
    payload: `${req.scheme} ${req.peer.identity?.mode === 'psk' ? req.peer.identity.identity : 'anonymous'}`,
  }));
  const dtls = await DtlsServerTransport.listen({ host: '127.0.0.1', port: 0, psk: (id) => keys.get(id) });
  server.listen(dtls);
  t.after(() => server.close());
  const port = dtls.address().port;
  // The caller's own connection, as the device agent makes it (session persistence, its own events).
  const connection = await connect({ host: '127.0.0.1', port, psk: { identity: 'dev-b', key: keys.get('dev-b')! } });
  const mine = new DtlsClientTransport(connection);
  t.after(() => mine.close());
  const opened: string[] = [];
  const client = new CoapClient({
    transports: {
      coaps: {
        key: (target) => `${target.address}|${target.port}`,
        open: async (target) => {
          opened.push(`${target.host}:${target.port}`);
          return { transport: mine, identity: connection.identity, owned: false };
        },
      },
    },
  });
  const r1 = await client.get(`coaps://127.0.0.1:${port}/whoami`);
  const r2 = await client.get(`coaps://127.0.0.1:${port}/whoami`);
  assert.equal(r1.payload.toString(), 'coaps dev-b');
  assert.equal(r2.payload.toString(), 'coaps dev-b');
  assert.deepEqual(r2.peer.identity, { mode: 'psk', identity: 'dev-b' });
  assert.deepEqual(opened, [`127.0.0.1:${port}`], 'the provider opened one transport for both requests');
  // The client does not close a transport it does not own.
  await client.close();
  const again = new CoapClient({
    transports: { coaps: { key: () => 'x', open: async () => ({ transport: mine, owned: false }) } },
  });
  t.after(() => again.close());
  assert.equal((await again.get(`coaps://127.0.0.1:${port}/whoami`)).payload.toString(), 'coaps dev-b');
});

/** Our client against our server: the API, IPv6, limits, alerts, close_notify, idle timeout. */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import {
  connect,
  DtlsAlertError,
  DtlsClientEndpoint,
  type DtlsConnection,
  type DtlsMeter,
  DtlsServer,
  DtlsTimeoutError,
} from '../../src/dtls/index.ts';
import { opensslDtlsClient } from '../support/dtls-peers.ts';
import { requireBinary } from '../support/peers.ts';
import { sleep } from '../support/ports.ts';
import { echoServer, IDENTITY, KEY, KEY_HEX, nextData } from './helpers.ts';

const psk = { identity: IDENTITY, key: KEY };

test('PSK handshake, echo, identity hint, resumption keeps the identity', async (t) => {
  const srv = await echoServer({ pskIdentityHint: 'hint-for-devices' });
  t.after(() => srv.server.close());
  const c = await connect({ host: '127.0.0.1', port: srv.port, psk });
  assert.equal(c.cipherSuite, 'TLS_PSK_WITH_AES_128_CCM_8');
  assert.equal(c.resumed, false);
  const echo = nextData(c);
  c.send(Buffer.from('hello'));
  assert.equal((await echo).toString(), 'hello');
  const closed = once(srv.connections[0], 'close');
  const session = c.session;
  await c.close();
  await closed; // the server saw close_notify
  const serverSide = once(srv.server, 'connection');
  const c2 = await connect({ host: '127.0.0.1', port: srv.port, psk, session });
  assert.equal(c2.resumed, true);
  // In an abbreviated handshake the server finishes last (on the client's Finished).
  await serverSide;
  assert.equal(srv.connections[1].resumed, true);
  assert.deepEqual(srv.connections[1].identity, { mode: 'psk', identity: IDENTITY });
  const e2 = nextData(c2);
  c2.send(Buffer.from('again'));
  assert.equal((await e2).toString(), 'again');
  await c2.close();
});

test('the full handshakes of one PSK identity share one frozen identity (one per key and identity)', async (t) => {
  const srv = await echoServer();
  t.after(() => srv.server.close());
  for (let i = 0; i < 2; i++) {
    const c = await connect({ host: '127.0.0.1', port: srv.port, psk });
    assert.equal(c.resumed, false);
    const echo = nextData(c);
    c.send(Buffer.from('x'));
    await echo;
    await c.close();
  }
  const [a, b] = srv.connections.map((c) => c.identity);
  assert.deepEqual(a, { mode: 'psk', identity: IDENTITY });
  assert.equal(b, a, 'the second session holds the same object, not a copy');
  assert.ok(Object.isFrozen(a));
});

test('async PSK lookup; unknown identity → unknown_psk_identity; wrong key → bad_record_mac', async (t) => {
  const srv = await echoServer({
    psk: async (id) => {
      await sleep(5);
      return id === IDENTITY ? KEY : undefined;
    },
  });
  t.after(() => srv.server.close());
  const c = await connect({ host: '127.0.0.1', port: srv.port, psk });
  await c.close();
  await assert.rejects(
    connect({ host: '127.0.0.1', port: srv.port, psk: { identity: 'nobody', key: KEY } }),
    (e: unknown) => e instanceof DtlsAlertError && e.description === 115 && e.sent === false,
  );
  await assert.rejects(
    connect({ host: '127.0.0.1', port: srv.port, psk: { identity: IDENTITY, key: Buffer.alloc(16) } }),
    (e: unknown) => e instanceof DtlsAlertError && /bad_record_mac|decrypt_error/.test(e.message),
  );
  assert.equal(srv.errors.length, 2);
  // Failed handshakes leave nothing behind.
  await sleep(50);
  assert.deepEqual(srv.server.counts(), { handshakes: 0, sessions: 0 });
});

test('IPv6 (::1) with a server_name that is an IP literal (ignored)', async (t) => {
  const srv = await echoServer({ host: '::1' });
  t.after(() => srv.server.close());
  assert.equal(srv.server.address().family, 'IPv6');
  const c = await connect({ host: '::1', port: srv.port, psk, serverName: '::1' });
  assert.equal(c.remote.family, 'IPv6');
  const echo = nextData(c);
  c.send(Buffer.from('v6'));
  assert.equal((await echo).toString(), 'v6');
  await c.close();
});

test('one client endpoint shares its socket among connections to two servers', async (t) => {
  const a = await echoServer();
  const b = await echoServer();
  const ep = await DtlsClientEndpoint.bind();
  t.after(async () => {
    await ep.close();
    await a.server.close();
    await b.server.close();
  });
  const [ca, cb] = await Promise.all([
    ep.connect({ host: '127.0.0.1', port: a.port, psk }),
    ep.connect({ host: '127.0.0.1', port: b.port, psk }),
  ]);
  assert.equal(a.connections[0].remote.port, b.connections[0].remote.port);
  const ea = nextData(ca);
  const eb = nextData(cb);
  ca.send(Buffer.from('to-a'));
  cb.send(Buffer.from('to-b'));
  assert.equal((await ea).toString(), 'to-a');
  assert.equal((await eb).toString(), 'to-b');
});

test('a silent server times out with DtlsTimeoutError after the bounded retransmissions', async (t) => {
  // Bound and mute: a closed port would answer ICMP port-unreachable (DtlsUnreachableError at once).
  const sink = createSocket('udp4');
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
  t.after(() => sink.close());
  const port = sink.address().port;
  const start = Date.now();
  await assert.rejects(
    connect({ host: '127.0.0.1', port, psk, retransmitInitialMs: 20, maxRetransmits: 3 }),
    DtlsTimeoutError,
  );
  assert.ok(Date.now() - start >= 20 + 40 + 80 + 160 - 10);
});

test('limits: at the session cap the idlest session makes room; idle sessions time out', async (t) => {
  const srv = await echoServer({ maxSessions: 2, idleTimeoutMs: 300 });
  t.after(() => srv.server.close());
  const c1 = await connect({ host: '127.0.0.1', port: srv.port, psk });
  const c2 = await connect({ host: '127.0.0.1', port: srv.port, psk });
  assert.equal(srv.server.counts().sessions, 2);
  const c1Closed = new Promise<void>((r) => c1.once('close', r));
  // c2 talks, so c1 is the one idle longest: it is evicted (with close_notify) and c3 gets in.
  const e2 = nextData(c2);
  c2.send(Buffer.from('busy'));
  await e2;
  const c3 = await connect({ host: '127.0.0.1', port: srv.port, psk });
  await c1Closed;
  assert.equal(srv.server.counts().sessions, 2);
  assert.equal(srv.server.stats.evictions.sessionCapacity, 1);
  // Idle sessions are dropped by the server.
  await sleep(800);
  assert.equal(srv.server.counts().sessions, 0);
  assert.equal(srv.server.stats.evictions.sessionIdle, 2);
  const c4 = await connect({ host: '127.0.0.1', port: srv.port, psk });
  const echo = nextData(c4);
  c4.send(Buffer.from('room again'));
  assert.equal((await echo).toString(), 'room again');
  for (const c of [c2, c3, c4]) await c.close();
});

test('limits: a new verified ClientHello takes the slot of the oldest half-open handshake', async (t) => {
  // The server waits on its PSK lookup, so handshakes stay in progress.
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const srv = await echoServer({
    maxHandshakes: 1,
    psk: async () => {
      await gate;
      return KEY;
    },
  });
  t.after(() => srv.server.close());
  // The first client gives up soon after it is pushed out (it would otherwise retransmit and push back).
  const first = connect({ host: '127.0.0.1', port: srv.port, psk, retransmitInitialMs: 400, maxRetransmits: 0 });
  await sleep(100);
  assert.equal(srv.server.counts().handshakes, 1);
  const second = connect({ host: '127.0.0.1', port: srv.port, psk, retransmitInitialMs: 2000 });
  await sleep(100);
  assert.equal(srv.server.counts().handshakes, 1);
  assert.equal(srv.server.stats.evictions.handshakeCapacity, 1);
  release();
  const c = await second;
  await assert.rejects(first, DtlsTimeoutError);
  assert.equal(srv.server.counts().sessions, 1);
  await c.close();
});

test('the meter sees whole handshake messages, records and crypto operations', async (t) => {
  const seen = { messages: [] as string[], records: 0, prf: 0, aes: 0, sha: 0 };
  const meter: DtlsMeter = {
    handshakeMessage: (dir, type) => seen.messages.push(`${dir}:${type}`),
    record: () => {
      seen.records++;
    },
    crypto: (op, n) => {
      if (op === 'prf') seen.prf += n;
      if (op === 'aes_block') seen.aes += n;
      if (op === 'sha256_block') seen.sha += n;
    },
  };
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const c = await connect({ host: '127.0.0.1', port: srv.port, psk, meter });
  await c.close();
  assert.deepEqual(seen.messages, [
    'out:client_hello',
    'in:hello_verify_request',
    'out:client_hello',
    'in:server_hello',
    'in:server_hello_done',
    'out:client_key_exchange',
    'out:finished',
    'in:finished',
  ]);
  assert.equal(seen.prf, 4, 'master secret, key block, two Finished');
  assert.ok(seen.records >= 8 && seen.aes > 0 && seen.sha > 0);
});

test('server close sends close_notify to its peers: a warning-level close_notify, not a fatal alert', async (t) => {
  const srv = await echoServer();
  const records: string[] = [];
  const meter: DtlsMeter = {
    handshakeMessage() {},
    record: (dir, contentType, epoch) => records.push(`${dir}:${contentType}:${epoch}`),
    crypto() {},
  };
  const c: DtlsConnection = await connect({ host: '127.0.0.1', port: srv.port, psk, meter });
  const errors: Error[] = [];
  c.on('error', (e: Error) => errors.push(e));
  const closed = once(c, 'close');
  records.length = 0;
  await srv.server.close();
  await closed;
  // A fatal alert would surface as 'error' (a DtlsAlertError); only close_notify is answered in kind.
  assert.deepEqual(errors, []);
  assert.deepEqual(records, ['in:alert:1', 'out:alert:1']);

  // Our own decoder cannot vouch for the alert's level: let OpenSSL read it off the wire.
  if (!requireBinary(t, 'openssl')) return;
  const srv2 = await echoServer();
  const conn = once(srv2.server, 'connection');
  const peer = opensslDtlsClient(t, srv2.port, { psk: { identity: IDENTITY, keyHex: KEY_HEX }, args: ['-msg'] });
  await conn;
  await srv2.server.close();
  // OpenSSL 3.0 -msg dumps a received DTLS alert as content_type=21 with its two bytes: level 1
  // (warning), description 0 (close_notify) — RFC 5246 §7.2.
  await peer.waitFor(/<<< [^\n]*content_type=21\) \[length 0002\]\s+01 00\b/);
});

test('DtlsServer.listen without credentials is refused', async () => {
  await assert.rejects(DtlsServer.listen({ port: 0 }), /credential/);
});

/**
 * Admission control under attack, on loopback: the session cap evicts the idlest session for a
 * new device, half-open handshakes cannot shut the door, the cookie exchange answers a bounded
 * flood without amplification, and every eviction and refusal is counted.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type DtlsConnection } from '../../src/dtls/index.ts';
import { bindSocket, clientHelloDatagram, cookieOf, halfOpen } from './admission-attacks.ts';
import { echoServer, IDENTITY, KEY, nextData } from './helpers.ts';

const psk = { identity: IDENTITY, key: KEY };

async function closeAll(sockets: Socket[]): Promise<void> {
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
}

/** Runs `fn` over `items` with at most `n` at once. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

test('at the session cap an honest client is admitted and the idlest session is evicted (counted)', async (t) => {
  const cap = 40;
  const srv = await echoServer({ maxSessions: cap });
  t.after(() => srv.server.close());
  const held: DtlsConnection[] = [];
  for (let i = 0; i < cap; i++) held.push(await connect({ host: '127.0.0.1', port: srv.port, psk }));
  assert.equal(srv.server.counts().sessions, cap);
  // The first session speaks, so the second is the idlest.
  const echo = nextData(held[0]);
  held[0].send(Buffer.from('still here'));
  await echo;
  const evicted = new Promise<void>((r) => held[1].once('close', r));
  const honest = await connect({ host: '127.0.0.1', port: srv.port, psk });
  await evicted;
  const e = nextData(honest);
  honest.send(Buffer.from('hello'));
  assert.equal((await e).toString(), 'hello');
  assert.equal(srv.server.counts().sessions, cap);
  assert.equal(srv.server.stats.evictions.sessionCapacity, 1);
  assert.equal(srv.server.stats.sessionsEstablished, cap + 1);
  // The session that spoke is still served.
  const e0 = nextData(held[0]);
  held[0].send(Buffer.from('again'));
  assert.equal((await e0).toString(), 'again');
  for (const c of [honest, ...held]) await c.close();
});

test('2 000 half-open handshakes, then an honest client gets in within a second', async (t) => {
  const srv = await echoServer({ maxHandshakes: 1000 });
  t.after(() => srv.server.close());
  const attackers: Socket[] = [];
  t.after(() => closeAll(attackers));
  // 20 source addresses × 100 ports: within the per-address cap, so the global budget is what is tested.
  for (let a = 0; a < 20; a++) {
    for (let p = 0; p < 100; p++) attackers.push(await bindSocket(`127.0.1.${a + 1}`));
  }
  await pool(attackers, 100, (s) => halfOpen(s, srv.port));
  assert.equal(srv.server.counts().handshakes, 1000);
  assert.equal(srv.server.stats.handshakesStarted, 2000);
  assert.equal(srv.server.stats.evictions.handshakeCapacity, 1000);
  const start = performance.now();
  const honest = await connect({ host: '127.0.0.1', port: srv.port, psk });
  const ms = performance.now() - start;
  assert.ok(ms < 1000, `honest handshake took ${ms.toFixed(0)} ms`);
  const e = nextData(honest);
  honest.send(Buffer.from('through'));
  assert.equal((await e).toString(), 'through');
  assert.equal(srv.server.stats.evictions.handshakeCapacity, 1001);
  assert.equal(srv.server.counts().sessions, 1);
  await honest.close();
});

test('many half-open handshakes from one address push out only that address’s own', async (t) => {
  const srv = await echoServer({ maxHandshakes: 1000, maxHandshakesPerAddress: 20 });
  t.after(() => srv.server.close());
  const others: Socket[] = [];
  const flood: Socket[] = [];
  t.after(() => closeAll([...others, ...flood]));
  for (let i = 0; i < 10; i++) others.push(await bindSocket('127.0.2.1'));
  for (let i = 0; i < 200; i++) flood.push(await bindSocket('127.0.2.2'));
  await pool(others, 10, (s) => halfOpen(s, srv.port));
  await pool(flood, 50, (s) => halfOpen(s, srv.port));
  assert.equal(srv.server.counts().handshakes, 30);
  assert.equal(srv.server.stats.evictions.handshakePerAddress, 180);
  assert.equal(srv.server.stats.evictions.handshakeCapacity, 0);
});

test('half-open handshakes time out after handshakeTimeoutMs (one sweep, counted)', async (t) => {
  const srv = await echoServer({ handshakeTimeoutMs: 200 });
  t.after(() => srv.server.close());
  const sockets: Socket[] = [];
  t.after(() => closeAll(sockets));
  for (let i = 0; i < 20; i++) sockets.push(await bindSocket('127.0.0.1'));
  await pool(sockets, 20, (s) => halfOpen(s, srv.port));
  assert.equal(srv.server.counts().handshakes, 20);
  await sleep(600);
  assert.equal(srv.server.counts().handshakes, 0);
  assert.equal(srv.server.stats.evictions.handshakeTimeout, 20);
  assert.equal(srv.errors.length, 20);
});

test('a bounded cookieless flood: answered, no state, never more bytes out than in', async (t) => {
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const N = 5000;
  const senders: Socket[] = [];
  t.after(() => closeAll(senders));
  for (let i = 0; i < 50; i++) senders.push(await bindSocket('127.0.0.1'));
  let bytesIn = 0;
  let answers = 0;
  let bytesOut = 0;
  for (const s of senders) {
    s.on('message', (d) => {
      if (cookieOf(d)) answers++;
      bytesOut += d.length;
    });
  }
  const hellos = Array.from({ length: 100 }, (_, i) => clientHelloDatagram({ random: randomBytes(32), seq: i }));
  // Bursts of 250 datagrams: a flood as fast as one process sends on this machine, kept bounded.
  for (let i = 0; i < N; i += 250) {
    for (let j = i; j < i + 250 && j < N; j++) {
      const d = hellos[j % hellos.length];
      bytesIn += d.length;
      senders[j % senders.length].send(d, srv.port, '127.0.0.1');
    }
    await new Promise((r) => setImmediate(r));
  }
  const deadline = Date.now() + 5000;
  while (answers < N && Date.now() < deadline) await sleep(50);
  const drops = (await srv.server.readReceiveDrops()) ?? 0;
  const ratio = answers / N;
  assert.ok(ratio >= 0.99, `answered ${answers}/${N}, kernel receive drops ${drops}`);
  assert.equal(srv.server.stats.helloVerifyRequests + drops, N);
  assert.ok(bytesOut / bytesIn <= 1, `bytes out ${bytesOut} ÷ in ${bytesIn}`);
  assert.deepEqual(srv.server.counts(), { handshakes: 0, sessions: 0 });
  // The receive buffer asked for was granted (Linux reports twice the payload room).
  assert.ok(srv.server.recvBufferSize() >= 4 * 1024 * 1024, `SO_RCVBUF ${srv.server.recvBufferSize()}`);
});

test('a truncated ClientHello is dropped and counted, not answered', async (t) => {
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const s = await bindSocket('127.0.0.1');
  t.after(() => closeAll([s]));
  let replies = 0;
  s.on('message', () => replies++);
  // Cut inside the random (59 bytes, below the HelloVerifyRequest's 60), with record and handshake
  // lengths that agree with the cut: the scan finds no room for the fields the cookie covers.
  const tiny = Buffer.from(clientHelloDatagram({ random: randomBytes(32) }).subarray(0, 59));
  tiny.writeUInt16BE(tiny.length - 13, 11);
  tiny.writeUIntBE(tiny.length - 25, 14, 3);
  tiny.writeUIntBE(tiny.length - 25, 22, 3);
  s.send(tiny, srv.port, '127.0.0.1');
  await sleep(200);
  assert.equal(replies, 0);
  assert.equal(srv.server.stats.drops.malformed, 1);
  assert.equal(srv.server.stats.helloVerifyRequests, 0);
});

test('limits that would admit nobody are refused at listen, naming the option', async () => {
  await assert.rejects(echoServer({ maxSessions: 0 }), /maxSessions must be at least 1, got 0/);
  await assert.rejects(echoServer({ handshakeTimeoutMs: 0 }), /handshakeTimeoutMs must be at least 1/);
  await assert.rejects(echoServer({ maxHandshakes: Number.NaN }), /maxHandshakes must be at least 1/);
  const never = await echoServer({ idleTimeoutMs: 0 });
  await never.server.close();
});

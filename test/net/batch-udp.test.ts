import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { BATCH, BatchUdpSocket, openServerSocket, udpBackend } from '../../src/net/batch-udp.ts';

const BIN = new URL('../../bin/securesense.mjs', import.meta.url).pathname;

/** A bound batched socket; the test fails where the native module is not built (CI builds it). */
function batched(type: 'udp4' | 'udp6', host: string, port = 0, reusePort = false): BatchUdpSocket {
  const s = BatchUdpSocket.open({ type, host, port, reusePort });
  assert.ok(s, 'dist/native/udp-batch.node is built (scripts/build-native.mjs)');
  return s;
}

async function dgramClient(type: 'udp4' | 'udp6'): Promise<Socket> {
  const c = createSocket(type);
  c.bind(0, type === 'udp6' ? '::1' : '127.0.0.1');
  await once(c, 'listening');
  return c;
}

/** Collects `n` datagrams from `on`, rejecting after `ms`. */
function collect(
  s: { on(e: 'message', l: (m: Buffer, r: RemoteInfo) => void): unknown },
  n: number,
  ms = 5000,
): Promise<[Buffer, RemoteInfo][]> {
  const got: [Buffer, RemoteInfo][] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${got.length} of ${n} datagrams within ${ms} ms`)), ms);
    s.on('message', (m, r) => {
      got.push([m, r]);
      if (got.length === n) {
        clearTimeout(timer);
        resolve(got);
      }
    });
  });
}

test('on Linux the servers use the batched socket unless SECURESENSE_UDP=dgram', () => {
  if (process.platform !== 'linux' || process.env.SECURESENSE_UDP === 'dgram') return;
  assert.equal(udpBackend, 'recvmmsg');
});

test('batched socket: every datagram of a burst arrives whole, in order, with its sender; answers reach the sender', async (t) => {
  const server = batched('udp4', '127.0.0.1');
  const client = await dgramClient('udp4');
  t.after(() => {
    server.close();
    client.close();
  });
  const { port } = server.address();
  assert.ok(port > 0);
  assert.equal(server.address().address, '127.0.0.1');
  // More than one batch, sizes from empty to the largest IPv4 UDP payload.
  const sizes = [0, 1, 13, 100, 1200, 1500, 9000, 65507, ...Array.from({ length: 3 * BATCH }, (_, i) => 20 + i)];
  const sent = sizes.map((n, i) => Buffer.alloc(n, i + 1));
  const arriving = collect(server, sent.length);
  for (const d of sent) client.send(d, port, '127.0.0.1');
  const got = await arriving;
  const me = client.address();
  got.forEach(([m, r], i) => {
    assert.deepEqual(m, sent[i], `datagram ${i} (${sizes[i]} bytes)`);
    // Each datagram owns its bytes: not a view of the socket's shared batch buffer.
    assert.equal(m.buffer.byteLength, m.length);
    assert.deepEqual(r, { address: '127.0.0.1', family: 'IPv4', port: me.port, size: sizes[i] });
  });
  // A datagram kept from an earlier batch is unchanged by the later ones.
  assert.deepEqual(got[0][0], sent[0]);
  assert.deepEqual(got[9][0], sent[9]);

  const back = collect(client, 3);
  for (const d of ['a', 'bb', 'ccc']) server.send(Buffer.from(d), me.port, '127.0.0.1');
  assert.deepEqual(
    (await back).map(([m]) => m.toString()),
    ['a', 'bb', 'ccc'],
  );
  assert.equal(server.getSendQueueCount(), 0);
  assert.equal(server.sendDrops, 0);
});

test('batched socket on :: hears IPv4 senders as IPv4-mapped and IPv6 ones as themselves, and answers both', async (t) => {
  const server = batched('udp6', '::');
  const c4 = await dgramClient('udp4');
  const c6 = await dgramClient('udp6');
  t.after(() => {
    server.close();
    c4.close();
    c6.close();
  });
  const { port } = server.address();
  assert.equal(server.address().family, 'IPv6');
  const arriving = collect(server, 2);
  c4.send(Buffer.from('four'), port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 50));
  c6.send(Buffer.from('six'), port, '::1');
  const got = await arriving;
  assert.deepEqual(got[0][1], { address: '::ffff:127.0.0.1', family: 'IPv6', port: c4.address().port, size: 4 });
  assert.deepEqual(got[1][1], { address: '::1', family: 'IPv6', port: c6.address().port, size: 3 });
  const to4 = collect(c4, 2);
  const to6 = collect(c6, 1);
  // To the mapped name as received, and to the plain IPv4 literal (mapped by the socket).
  server.send(Buffer.from('r1'), got[0][1].port, got[0][1].address);
  server.send(Buffer.from('r2'), got[0][1].port, '127.0.0.1');
  server.send(Buffer.from('r3'), got[1][1].port, got[1][1].address);
  assert.deepEqual(
    (await to4).map(([m]) => m.toString()),
    ['r1', 'r2'],
  );
  assert.equal((await to6)[0][0].toString(), 'r3');
});

test('batched socket: a taken port is EADDRINUSE, SO_REUSEPORT shares one, and bad sends are errors, not crashes', async (t) => {
  const a = batched('udp4', '127.0.0.1');
  const port = a.address().port;
  assert.throws(() => batched('udp4', '127.0.0.1', port), { code: 'EADDRINUSE' });
  a.close();
  const r1 = batched('udp4', '127.0.0.1', 0, true);
  const r2 = batched('udp4', '127.0.0.1', r1.address().port, true);
  t.after(() => {
    r1.close();
    r2.close();
  });
  assert.equal(r2.address().port, r1.address().port);
  // An address that is not a literal, and port 0: refused as EINVAL on the next tick.
  const errors: { code?: string }[] = [];
  r1.on('error', (e) => errors.push(e as { code?: string }));
  r1.send(Buffer.from('x'), 5683, 'not-an-address');
  r1.send(Buffer.from('x'), 0, '127.0.0.1');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    errors.map((e) => e.code),
    ['EINVAL', 'EINVAL'],
  );
  // A closed socket sends nothing and refuses a second close as dgram does.
  const c = batched('udp4', '127.0.0.1');
  c.close();
  c.send(Buffer.from('x'), 9, '127.0.0.1');
  assert.throws(() => c.close(), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
});

test('batched socket: the receive buffer setting reaches the kernel', (t) => {
  const s = batched('udp4', '127.0.0.1');
  t.after(() => s.close());
  s.setRecvBufferSize(65536);
  // Linux reports twice the payload room it grants.
  assert.equal(s.getRecvBufferSize(), 131072);
});

test('openServerSocket: a host name goes to node:dgram, which resolves it', async (t) => {
  const s = await openServerSocket({ type: 'udp4', host: 'localhost', port: 0 });
  t.after(() => s.close());
  assert.ok(!(s instanceof BatchUdpSocket));
  assert.equal(s.address().address, '127.0.0.1');
});

test('SECURESENSE_UDP=dgram: coap serve answers on node:dgram as well', async (t) => {
  const p = spawn(process.execPath, [BIN, 'coap', 'serve', '--host', '127.0.0.1', '--port', '0', '--quiet'], {
    env: { ...process.env, SECURESENSE_UDP: 'dgram' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => p.kill('SIGKILL'));
  let out = '';
  p.stdout.setEncoding('utf8');
  const listening = await new Promise<{ coap: { port: number }; io?: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 30_000);
    p.stdout.on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
  });
  assert.equal(listening.io, 'dgram');
  const c = await dgramClient('udp4');
  t.after(() => c.close());
  const answer = collect(c, 1);
  // CON GET /time, Message ID 0x1234, no token.
  c.send(Buffer.from([0x40, 0x01, 0x12, 0x34, 0xb4, ...Buffer.from('time')]), listening.coap.port, '127.0.0.1');
  const [[m]] = await answer;
  assert.equal(m[0] >> 4, 0x6, 'an ACK');
  assert.equal(m[1], 0x45, '2.05 Content');
  assert.equal(m.readUInt16BE(2), 0x1234);
});

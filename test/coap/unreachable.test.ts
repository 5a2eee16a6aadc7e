/**
 * A server that is not there: an ICMP port-unreachable ends a CoAP request or a DTLS handshake at
 * once with a typed error (the client's sockets are connected to their one peer, which is what
 * makes Linux report it), and a handshake to a silent server ends at the caller's time limit.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { type TestContext, test } from 'node:test';
import { CoapClient } from '../../src/coap/client.ts';
import { CoapUnreachableError } from '../../src/coap/errors.ts';
import { CoapServer } from '../../src/coap/server.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import { connect, DtlsServer, DtlsTimeoutError, DtlsUnreachableError } from '../../src/dtls/index.ts';
import { freeUdpPort } from '../support/ports.ts';

const psk = { identity: 'dev', key: Buffer.from('00112233445566778899aabbccddeeff', 'hex') };

/** A bound UDP socket that never answers: the peer of a lossy link at its worst. */
async function silentPeer(t: TestContext): Promise<number> {
  const sink = createSocket('udp4');
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
  t.after(() => sink.close());
  return sink.address().port;
}

async function elapsed<T>(p: Promise<T>): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const t0 = performance.now();
  const [result] = await Promise.allSettled([p]);
  return { ms: performance.now() - t0, result };
}

test('a CoAP request to a closed port rejects at once with CoapUnreachableError naming the peer', async (t) => {
  const port = await freeUdpPort();
  const c = new CoapClient();
  t.after(() => c.close());
  for (const confirmable of [true, false]) {
    const { ms, result } = await elapsed(c.get(`coap://127.0.0.1:${port}/x`, { confirmable }));
    assert.equal(result.status, 'rejected');
    const err = (result as PromiseRejectedResult).reason;
    assert.ok(err instanceof CoapUnreachableError, String(err));
    assert.deepEqual(err.peer, { address: '127.0.0.1', port });
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    // The default schedule would wait ~93 s for a CON, 93 s for a NON's response.
    assert.ok(ms < 1000, `took ${ms} ms`);
  }
});

test('one client keeps talking to a live server while another it uses is unreachable', async (t) => {
  const server = new CoapServer();
  server.get('/x', () => ({ payload: 'here' }));
  const tr = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(tr);
  t.after(() => server.close());
  const dead = await freeUdpPort();
  const c = new CoapClient();
  t.after(() => c.close());
  const [live, gone] = await Promise.allSettled([
    c.get(`coap://127.0.0.1:${tr.address().port}/x`),
    c.get(`coap://127.0.0.1:${dead}/x`),
  ]);
  assert.equal(live.status, 'fulfilled');
  assert.equal(live.value.payload.toString(), 'here');
  assert.equal(gone.status, 'rejected');
  assert.ok(gone.reason instanceof CoapUnreachableError);
  // And again on the same client: the live server's socket is unaffected.
  assert.equal((await c.get(`coap://127.0.0.1:${tr.address().port}/x`)).payload.toString(), 'here');
});

test('a DTLS handshake to a closed port rejects at once with DtlsUnreachableError', async () => {
  const port = await freeUdpPort();
  const { ms, result } = await elapsed(connect({ host: '127.0.0.1', port, psk }));
  assert.equal(result.status, 'rejected');
  const err = (result as PromiseRejectedResult).reason;
  assert.ok(err instanceof DtlsUnreachableError, String(err));
  assert.deepEqual(err.peer, { address: '127.0.0.1', port, family: 'IPv4' });
  assert.ok(ms < 1000, `took ${ms} ms`);
});

test('coaps:// to a closed port rejects with the DTLS unreachable error; to a server that stopped, with CoapUnreachableError', async (t) => {
  const port = await freeUdpPort();
  const c = new CoapClient({ security: { psk } });
  t.after(() => c.close());
  await assert.rejects(c.get(`coaps://127.0.0.1:${port}/x`), DtlsUnreachableError);

  // An established session whose server goes away: the next request ends at once too.
  const { DtlsServerTransport } = await import('../../src/coap/transport-dtls.ts');
  const server = new CoapServer();
  server.get('/x', () => ({ payload: 'secure' }));
  const dtls = await DtlsServerTransport.listen({ host: '127.0.0.1', port: 0, psk: () => psk.key });
  server.listen(dtls);
  const uri = `coaps://127.0.0.1:${dtls.address().port}/x`;
  assert.equal((await c.get(uri)).payload.toString(), 'secure');
  await server.close();
  await dtls.close();
  const { ms, result } = await elapsed(c.get(uri));
  assert.equal(result.status, 'rejected');
  const err = (result as PromiseRejectedResult).reason;
  assert.ok(err instanceof CoapUnreachableError || err instanceof DtlsUnreachableError, String(err));
  assert.ok(ms < 1000, `took ${ms} ms`);
});

test('handshakeTimeoutMs ends a handshake with a silent server with DtlsTimeoutError', async (t) => {
  const port = await silentPeer(t);
  const { ms, result } = await elapsed(connect({ host: '127.0.0.1', port, psk, handshakeTimeoutMs: 300 }));
  assert.equal(result.status, 'rejected');
  const err = (result as PromiseRejectedResult).reason;
  assert.ok(err instanceof DtlsTimeoutError, String(err));
  assert.match(err.message, /within 300 ms/);
  assert.ok(ms >= 290, `ended early: ${ms} ms`);
  // The default schedule would still be retransmitting (1 s, 2 s, … for ~2 minutes).
  assert.ok(ms < 900, `took ${ms} ms`);
});

test('a DTLS server that answers is unaffected by the connected client socket', async (t) => {
  const srv = await DtlsServer.listen({ host: '127.0.0.1', port: 0, psk: () => psk.key });
  t.after(() => srv.close());
  srv.on('connection', (c) => c.on('data', (d: Buffer) => c.send(d)));
  const c = await connect({ host: '127.0.0.1', port: srv.address().port, psk, handshakeTimeoutMs: 5000 });
  const reply = new Promise<Buffer>((r) => c.once('data', r));
  c.send(Buffer.from('ping'));
  assert.equal((await reply).toString(), 'ping');
  await c.close();
});

test("the device agent's push to a closed port reports the server unreachable at once (coap:// and coaps://)", async (t) => {
  const { DeviceAgent } = await import('../../src/device/agent.ts');
  for (const scheme of ['coap', 'coaps'] as const) {
    const port = await freeUdpPort();
    // Default CoAP and DTLS timers: without the ICMP error, the first failure would take ~93 s.
    const agent = new DeviceAgent({
      push: `${scheme}://127.0.0.1:${port}/users/1/resources/7/data`,
      security: scheme === 'coaps' ? { psk } : undefined,
      sensors: ['temperature'],
      intervalMs: 100,
      backoff: { baseMs: 5000, maxMs: 5000 },
    });
    const t0 = performance.now();
    const failed = new Promise<{ message: string; ms: number }>((resolve) => {
      agent.on('event', (e: { event: string; message?: string }) => {
        if (e.event === 'error') resolve({ message: e.message ?? '', ms: performance.now() - t0 });
      });
    });
    await agent.start();
    t.after(() => agent.stop());
    const { message, ms } = await failed;
    await agent.stop();
    assert.match(message, new RegExp(`127\\.0\\.0\\.1:${port} is unreachable`), scheme);
    assert.ok(ms < 1500, `${scheme}: first error after ${Math.round(ms)} ms (readings every 100 ms)`);
  }
});

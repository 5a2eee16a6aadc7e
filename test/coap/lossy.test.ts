import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoapClient } from '../../src/coap/client.ts';
import { createDemoServer, largeBody } from '../../src/coap/demo.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import { startLossyRelay } from '../support/lossy-relay.ts';

// ACK_TIMEOUT shortened so that the test stays fast; MAX_RETRANSMIT raised so that 20 % loss each
// way (a 0.36 chance per attempt that request or reply is lost) does not exhaust it: 0.36^9 ≈ 1e-4.
const params = { ackTimeout: 60, maxRetransmit: 8 };

test('over a relay that drops 20 % and duplicates 10 %: CON requests and block-wise transfers complete, no POST runs twice', async (t) => {
  const demo = createDemoServer({ params, tickMs: 60_000 });
  const tr = await UdpTransport.bind({ host: '127.0.0.1' });
  demo.server.listen(tr);
  t.after(() => demo.close());
  const relay = await startLossyRelay({
    targetHost: '127.0.0.1',
    targetPort: tr.address().port,
    drop: 0.2,
    duplicate: 0.1,
    seed: 4711,
  });
  t.after(() => relay.close());
  const c = new CoapClient({ params, blockSize: 256 });
  t.after(() => c.close());
  const base = `coap://127.0.0.1:${relay.port}`;

  const posts = 40;
  for (let i = 0; i < posts; i++) {
    const r = await c.post(`${base}/echo`, `message ${i}`);
    assert.equal(r.payload.toString(), `message ${i}`);
  }
  const large = await c.get(`${base}/large`);
  assert.ok(large.payload.equals(largeBody()), 'Block2 body intact');
  const upload = Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff));
  const echoed = await c.post(`${base}/echo`, upload);
  assert.ok(echoed.payload.equals(upload), 'Block1 upload + Block2 echo intact');

  // Every POST was executed exactly once although datagrams were duplicated and retransmitted.
  assert.equal(demo.hits.get('POST /echo'), posts + 1);
  const count = await c.get(`${base}/echo`);
  assert.equal(count.payload.toString(), `POSTs so far: ${posts + 1}`);
  assert.ok(relay.stats.dropped > 10, `relay dropped ${relay.stats.dropped}`);
  assert.ok(relay.stats.duplicated > 5, `relay duplicated ${relay.stats.duplicated}`);
});

test('the same over coaps:// (PSK): the DTLS handshake and then CoAP survive the lossy relay', async (t) => {
  const { DtlsServerTransport } = await import('../../src/coap/transport-dtls.ts');
  const key = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const dtlsTimers = { retransmitInitialMs: 100, maxRetransmits: 10 };
  const demo = createDemoServer({ params, tickMs: 60_000 });
  const tr = await DtlsServerTransport.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === 'lossy' ? key : undefined),
    ...dtlsTimers,
  });
  demo.server.listen(tr);
  t.after(() => demo.close());
  const relay = await startLossyRelay({
    targetHost: '127.0.0.1',
    targetPort: tr.address().port,
    drop: 0.2,
    duplicate: 0.1,
    seed: 1234,
  });
  t.after(() => relay.close());
  const c = new CoapClient({ params, blockSize: 256, security: { psk: { identity: 'lossy', key }, ...dtlsTimers } });
  t.after(() => c.close());
  const base = `coaps://127.0.0.1:${relay.port}`;
  const posts = 25;
  for (let i = 0; i < posts; i++) {
    const r = await c.post(`${base}/echo`, `secure ${i}`);
    assert.equal(r.payload.toString(), `secure ${i}`);
  }
  const large = await c.get(`${base}/large`);
  assert.ok(large.payload.equals(largeBody()), 'Block2 body intact over DTLS');
  const upload = Buffer.from(Array.from({ length: 2000 }, (_, i) => (i * 3) & 0xff));
  assert.ok((await c.post(`${base}/echo`, upload)).payload.equals(upload), 'Block1 upload intact over DTLS');
  assert.equal(demo.hits.get('POST /echo'), posts + 1);
  assert.ok(relay.stats.dropped > 10, `relay dropped ${relay.stats.dropped}`);
  assert.ok(relay.stats.duplicated > 5, `relay duplicated ${relay.stats.duplicated}`);
});

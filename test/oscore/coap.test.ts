/**
 * OSCORE through the CoAP stack over real loopback sockets: the handler sees the inner request and
 * the caller's OSCORE identity; block-wise both ways and observe work protected; §8's refusals
 * (unknown kid 4.01, replay 4.01, tampering 4.00, a bad option 4.02); Echo after a server restart;
 * and the forward proxy, which forwards OSCORE requests without ever handling their plaintext.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { CoapClient } from '../../src/coap/client.ts';
import { decodeMessage, encodeMessage } from '../../src/coap/message.ts';
import { CoapForwardProxy } from '../../src/coap/proxy.ts';
import { CoapServer } from '../../src/coap/server.ts';
import type { Transport } from '../../src/coap/transport.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import { OscoreContext, type OscoreContextParams } from '../../src/oscore/context.ts';
import { OscoreServerContexts } from '../../src/oscore/server.ts';

const h = (s: string) => Buffer.from(s, 'hex');
const secret = randomBytes(16);
const salt = randomBytes(8);
const clientParams: OscoreContextParams = {
  masterSecret: secret,
  masterSalt: salt,
  senderId: h('c1'),
  recipientId: h(''),
};
const serverParams: OscoreContextParams = {
  masterSecret: secret,
  masterSalt: salt,
  senderId: h(''),
  recipientId: h('c1'),
};

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

async function lab(serverOpts: { replayWindowKnown?: boolean } = {}) {
  const contexts = new OscoreServerContexts([await OscoreContext.create(serverParams, serverOpts)]);
  const server = new CoapServer({ oscore: contexts, blockSize: 256 });
  const seen: { who?: string; payload: string }[] = [];
  let counter = 0;
  server.post('/data', (req) => {
    seen.push({ who: req.peer.oscore?.kid, payload: req.payload.toString() });
    return { payload: `got ${req.payload.length}` };
  });
  server.get('/big', () => ({ payload: Buffer.alloc(3000, 'b') }));
  server.get('/counter', () => ({ payload: String(counter) }), { observable: true });
  const udp = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(udp);
  const port = udp.socket.address().port;
  closers.push(() => server.close());
  return {
    server,
    contexts,
    seen,
    port,
    tick: () => {
      counter++;
      return server.notify('/counter');
    },
  };
}

const udpPort = (t: UdpTransport): number => t.socket.address().port;

async function clientWith(params = clientParams) {
  const ctx = await OscoreContext.create(params);
  const client = new CoapClient({ oscore: ctx, blockSize: 256 });
  closers.push(() => client.close());
  return { client, ctx };
}

test('OSCORE over coap://: the handler sees the inner request and the OSCORE identity; block-wise both ways', async () => {
  const l = await lab();
  const { client } = await clientWith();
  const res = await client.post(`coap://127.0.0.1:${l.port}/data`, 'secret reading 21.5');
  assert.equal(res.status, '2.04');
  assert.equal(res.payload.toString(), 'got 19');
  assert.deepEqual(l.seen, [{ who: 'c1', payload: 'secret reading 21.5' }]);
  // Block1: 3000 bytes in 256-byte blocks, each block its own protected request.
  const up = await client.post(`coap://127.0.0.1:${l.port}/data`, Buffer.alloc(3000, 'u'));
  assert.equal(up.payload.toString(), 'got 3000');
  assert.equal(l.seen[1].payload, 'u'.repeat(3000));
  const down = await client.get(`coap://127.0.0.1:${l.port}/big`);
  assert.equal(down.payload.length, 3000);
  assert.ok(down.payload.equals(Buffer.alloc(3000, 'b')));
});

test('OSCORE observe: notifications are protected, each under the server’s own Partial IV', async () => {
  const l = await lab();
  const { client } = await clientWith();
  const obs = await client.observe(`coap://127.0.0.1:${l.port}/counter`);
  const got: string[] = [];
  obs.on('notification', (r: { payload: Buffer }) => got.push(r.payload.toString()));
  for (let i = 0; i < 3; i++) await l.tick();
  for (let i = 0; i < 50 && got.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got, ['1', '2', '3']);
  await obs.cancel();
});

/** Sends raw datagrams to the server and returns the decoded replies. */
async function raw(port: number, datagrams: Buffer[]) {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const replies = [];
  try {
    for (const d of datagrams) {
      sock.send(d, port, '127.0.0.1');
      const [msg] = (await once(sock, 'message')) as [Buffer];
      const dec = decodeMessage(msg);
      assert.ok(dec.ok);
      replies.push(dec.message);
    }
  } finally {
    sock.close();
  }
  return replies;
}

test('OSCORE refusals (RFC 8613 §8.2): replay 4.01, unknown kid 4.01, tampered 4.00, malformed option 4.02, unprotected', async () => {
  const l = await lab();
  // Capture one protected request our client sends, then replay it with a new Message ID.
  const ctx = await OscoreContext.create(clientParams);
  const { protectRequest } = await import('../../src/oscore/protect.ts');
  const piv = await ctx.nextPartialIv();
  const inner = { code: 2, options: [{ number: 11, value: Buffer.from('data') }], payload: Buffer.from('x') };
  const { outer } = protectRequest(ctx.sender, piv, inner);
  const msg = (mid: number, o = outer) =>
    encodeMessage({
      type: 'CON',
      messageId: mid,
      token: h('0102'),
      code: o.code,
      options: o.options,
      payload: o.payload,
    });
  const [first, replay] = await raw(l.port, [msg(1), msg(2)]);
  assert.equal(first.code, 68);
  assert.equal(replay.code, 129, 'replayed Partial IV → 4.01');
  assert.match(replay.payload.toString(), /Replay/);
  assert.equal(l.seen.length, 1, 'the replay never reached the handler');

  const other = await OscoreContext.create({ ...clientParams, senderId: h('c2') });
  const p2 = protectRequest(other.sender, await other.nextPartialIv(), inner).outer;
  const tampered = { ...protectRequest(ctx.sender, await ctx.nextPartialIv(), inner).outer };
  tampered.payload = Buffer.from(tampered.payload);
  tampered.payload[0] ^= 1;
  const badOpt = { ...outer, options: outer.options.map((o) => (o.number === 9 ? { number: 9, value: h('07') } : o)) };
  const [unknown, bad, malformed] = await raw(l.port, [msg(3, p2), msg(4, tampered), msg(5, badOpt)]);
  assert.equal(unknown.code, 129);
  assert.match(unknown.payload.toString(), /context not found/);
  assert.equal(bad.code, 128);
  assert.match(bad.payload.toString(), /Decryption failed/);
  assert.equal(malformed.code, 130);
  assert.equal(l.seen.length, 1);
  assert.equal(l.contexts.stats.replayed, 1);
  assert.equal(l.contexts.stats.decryptFailed, 1);

  // A server without OSCORE refuses the option as an unsupported critical option.
  const plain = new CoapServer();
  const udp = await UdpTransport.bind({ host: '127.0.0.1' });
  plain.listen(udp);
  closers.push(() => plain.close());
  const [r] = await raw(udpPort(udp), [msg(6)]);
  assert.equal(r.code, 130);
});

test('Echo (RFC 9175): a restarted server with an unknown replay window asks once for freshness', async () => {
  const l = await lab({ replayWindowKnown: false });
  const { client } = await clientWith();
  const res = await client.post(`coap://127.0.0.1:${l.port}/data`, 'after reboot');
  assert.equal(res.status, '2.04');
  assert.equal(l.contexts.stats.echoChallenges, 1);
  assert.deepEqual(l.seen, [{ who: 'c1', payload: 'after reboot' }]);
  await client.post(`coap://127.0.0.1:${l.port}/data`, 'next');
  assert.equal(l.contexts.stats.echoChallenges, 1, 'the window is known from then on');
});

/** A transport that records every datagram passing through it. */
function recording(t: Transport, log: Buffer[]): Transport {
  return {
    scheme: t.scheme,
    send: (d, p) => {
      log.push(Buffer.from(d));
      return t.send(d, p);
    },
    onDatagram: (cb) =>
      t.onDatagram((d, p) => {
        log.push(Buffer.from(d));
        cb(d, p);
      }),
    close: () => t.close(),
    onUnreachable: t.onUnreachable?.bind(t),
  };
}

test('forward proxy: OSCORE requests pass through and the proxy never handles the plaintext', async () => {
  const l = await lab();
  const handled: Buffer[] = [];
  const down = await UdpTransport.bind({ host: '127.0.0.1' });
  const up = await UdpTransport.bind({ host: '127.0.0.1' });
  const proxy = new CoapForwardProxy({ upstream: recording(up, handled) });
  proxy.listen(recording(down, handled));
  closers.push(async () => {
    await proxy.close();
    await down.close();
    await up.close();
  });
  const { client } = await clientWith();
  const secretText = 'plaintext-reading-7f3a9c';
  const res = await client.post(`coap://127.0.0.1:${l.port}/data?unit=C`, secretText, {
    proxy: `coap://127.0.0.1:${udpPort(down)}`,
  });
  assert.equal(res.status, '2.04');
  assert.equal(res.payload.toString(), `got ${secretText.length}`);
  assert.deepEqual(l.seen.at(-1), { who: 'c1', payload: secretText });
  assert.equal(proxy.stats.forwarded, 1);
  assert.ok(handled.length >= 4, 'the proxy saw the request and the response on both sides');
  const all = Buffer.concat(handled);
  for (const needle of [secretText, 'data', 'unit=C', `got ${secretText.length}`]) {
    assert.equal(all.indexOf(Buffer.from(needle)), -1, `the proxy handled "${needle}"`);
  }
  // Inner blocks of 1024 B grow past 1024 B when protected: the proxy sends each as outer Block1
  // blocks (RFC 8613 §4.1.3.4.2), which the server puts together before OSCORE runs.
  const big = Buffer.alloc(2500, 'q');
  const viaBlocks = await client.post(`coap://127.0.0.1:${l.port}/data`, big, {
    proxy: `coap://127.0.0.1:${udpPort(down)}`,
    blockSize: 1024,
  });
  assert.equal(viaBlocks.payload.toString(), 'got 2500');
  assert.equal(l.seen.at(-1)?.payload, 'q'.repeat(2500));
  const outerBlocks = handled.filter((d) => {
    const dm = decodeMessage(d);
    return dm.ok && dm.message.options.some((o) => o.number === 27) && dm.message.options.some((o) => o.number === 9);
  });
  assert.ok(outerBlocks.length > 0, 'the proxy did split protected messages into outer blocks');
  // Without OSCORE the same request is readable at the proxy: the check above can see plaintext.
  handled.length = 0;
  await client.post(`coap://127.0.0.1:${l.port}/data`, secretText, {
    proxy: `coap://127.0.0.1:${udpPort(down)}`,
    oscore: false,
  });
  assert.notEqual(Buffer.concat(handled).indexOf(Buffer.from(secretText)), -1);
});

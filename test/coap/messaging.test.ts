import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_PARAMETERS, derivedTimes, MessageLayer, randomToken } from '../../src/coap/messaging.ts';
import { Code } from '../../src/coap/options.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import { rawPeer } from './helpers.ts';

test('RFC 7252 §4.8.2 derived times from the default parameters', () => {
  const d = derivedTimes(DEFAULT_PARAMETERS);
  assert.equal(d.maxTransmitSpan, 45_000);
  assert.equal(d.maxTransmitWait, 93_000);
  assert.equal(d.exchangeLifetime, 247_000);
  assert.equal(d.nonLifetime, 145_000);
});

test('Message IDs: no repeat within 65536 messages, and not a plain counter', async (t) => {
  const tr = await UdpTransport.bind({ host: '127.0.0.1' });
  const layer = new MessageLayer(tr);
  t.after(async () => {
    layer.close();
    await tr.close();
  });
  const ids = Array.from({ length: 65536 }, () => layer.nextMessageId());
  assert.equal(new Set(ids).size, 65536);
  const steps = ids.slice(1, 1000).filter((id, i) => id === ((ids[i] + 1) & 0xffff)).length;
  assert.ok(steps < 10, `${steps} of 999 IDs were the previous + 1`);
  const tokens = new Set(Array.from({ length: 1000 }, () => randomToken(8).toString('hex')));
  assert.equal(tokens.size, 1000);
});

test('NSTART 1: a second Confirmable to the same peer waits for the first ACK; retransmission doubles the timeout', async (t) => {
  const tr = await UdpTransport.bind({ host: '127.0.0.1' });
  const layer = new MessageLayer(tr, { params: { ackTimeout: 100, ackRandomFactor: 1, nstart: 1 } });
  t.after(async () => {
    layer.close();
    await tr.close();
  });
  const peer = await rawPeer(tr.address().port);
  t.after(() => peer.close());
  const to = { address: '127.0.0.1', port: peer.socket.address().port };
  const msg = (n: number) => ({ code: Code.POST, token: Buffer.from([n]), options: [], payload: Buffer.from([n]) });
  const started = Date.now();
  const a = layer.sendConfirmable(msg(1), to);
  const b = layer.sendConfirmable(msg(2), to);
  const first = await peer.next();
  assert.equal(first?.payload[0], 1);
  // Only the first is on the wire; it is retransmitted after ~100 ms, then ~200 ms later.
  const re1 = await peer.next();
  assert.equal(re1?.payload[0], 1);
  assert.equal(re1?.messageId, first?.messageId);
  const re2 = await peer.next();
  assert.equal(re2?.payload[0], 1);
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 280, `retransmissions after ${elapsed} ms`);
  peer.send({
    type: 'ACK',
    code: 0,
    messageId: first!.messageId,
    token: Buffer.alloc(0),
    options: [],
    payload: Buffer.alloc(0),
  });
  assert.equal((await a.acknowledged).code, Code.Empty);
  const second = await peer.next();
  assert.equal(second?.payload[0], 2);
  peer.send({
    type: 'RST',
    code: 0,
    messageId: second!.messageId,
    token: Buffer.alloc(0),
    options: [],
    payload: Buffer.alloc(0),
  });
  await assert.rejects(b.acknowledged, /Reset/);
});

/**
 * Mutation fuzzing of CoAP: the message codec (src/coap/message.ts) and a real CoapServer on UDP.
 *
 * Codec: decodeMessage never throws; it gives a message or a format error, and what it accepts
 * re-encodes to an equal message (nothing is read that cannot be written back).
 *
 * Server: mutated copies of valid requests (GET with Uri-Query/Accept/ETag, POST with a payload,
 * Observe, Block1 and Block2, a ping) arrive one by one from a raw socket, each with a fresh
 * Message ID. The server must answer as RFC 7252 says — a format error in a CON gets Reset, in
 * anything else silence (§4.2, §4.3); an unrecognized or malformed critical option in a CON request
 * gets 4.02, in a NON request rejection (§5.4.1); a CON response we never asked for gets Reset —
 * run no handler for such a message, and keep serving a good client.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoapClient } from '../../src/coap/client.ts';
import {
  type CoapMessage,
  checkOptions,
  decodeMessage,
  describeMessage,
  encodeMessage,
  getUintOption,
} from '../../src/coap/message.ts';
import { Code, codeString, encodeBlock, encodeUint, isRequestCode, OptionNumber } from '../../src/coap/options.ts';
import { CoapServer } from '../../src/coap/server.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import { rawPeer } from '../coap/helpers.ts';
import { describeFailures, type FuzzFailure, fuzzIterations, fuzzSeeds, mutate, Rng } from './mutate.ts';

const s = (v: string) => Buffer.from(v);
const opt = (number: number, value: Buffer) => ({ number, value });
const seedMessages: CoapMessage[] = [
  {
    type: 'CON',
    code: Code.GET,
    messageId: 1,
    token: s('tok1'),
    options: [
      opt(OptionNumber.UriHost, s('localhost')),
      opt(OptionNumber.ETag, Buffer.of(1, 2, 3)),
      opt(OptionNumber.UriPath, s('sensors')),
      opt(OptionNumber.UriPath, s('temp')),
      opt(OptionNumber.Accept, encodeUint(0)),
      opt(OptionNumber.UriQuery, s('unit=C')),
    ],
    payload: Buffer.alloc(0),
  },
  {
    type: 'NON',
    code: Code.POST,
    messageId: 2,
    token: Buffer.of(0xaa),
    options: [opt(OptionNumber.UriPath, s('data')), opt(OptionNumber.ContentFormat, encodeUint(50))],
    payload: s('{"temp":21.5}'),
  },
  {
    type: 'CON',
    code: Code.GET,
    messageId: 3,
    token: s('obs'),
    options: [
      opt(OptionNumber.Observe, Buffer.alloc(0)),
      opt(OptionNumber.UriPath, s('sensors')),
      opt(OptionNumber.UriPath, s('temp')),
    ],
    payload: Buffer.alloc(0),
  },
  {
    type: 'CON',
    code: Code.PUT,
    messageId: 4,
    token: s('blk1'),
    options: [
      opt(OptionNumber.UriPath, s('data')),
      opt(OptionNumber.Block1, encodeBlock({ num: 0, more: true, szx: 0 })),
      opt(OptionNumber.Size1, encodeUint(40)),
    ],
    payload: Buffer.alloc(16, 0x41),
  },
  {
    type: 'CON',
    code: Code.GET,
    messageId: 5,
    token: s('blk2'),
    options: [
      opt(OptionNumber.UriPath, s('big')),
      opt(OptionNumber.Block2, encodeBlock({ num: 1, more: false, szx: 2 })),
    ],
    payload: Buffer.alloc(0),
  },
  { type: 'CON', code: Code.Empty, messageId: 6, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) },
  {
    type: 'CON',
    code: Code.Content,
    messageId: 7,
    token: s('resp'),
    options: [opt(OptionNumber.ContentFormat, encodeUint(0))],
    payload: s('stray response'),
  },
];
const seeds = seedMessages.map(encodeMessage);

test('decodeMessage on mutated messages: a message or a format error, never a throw; what it accepts re-encodes to the same message', (t) => {
  const perSeed = fuzzIterations(8000);
  const failures: FuzzFailure[] = [];
  let ran = 0;
  let accepted = 0;
  for (const seed of fuzzSeeds()) {
    const rng = new Rng(seed ^ 0xc0a9);
    for (let i = 0; i < perSeed; i++) {
      const input = mutate(rng, rng.pick(seeds), {
        others: seeds,
        lengthFields: [
          { offset: 0, width: 1 },
          { offset: 8, width: 1 },
        ],
      });
      ran++;
      try {
        const r = decodeMessage(input);
        if (!r.ok) continue;
        accepted++;
        const again = decodeMessage(encodeMessage(r.message));
        assert.ok(again.ok, 'the re-encoding decodes');
        assert.deepEqual(again.message, r.message);
        // What the layers above do with any decoded message must not throw either.
        checkOptions(r.message);
        describeMessage(r.message);
        for (const n of [OptionNumber.ContentFormat, OptionNumber.Accept, OptionNumber.Observe]) {
          const v = r.message.options.find((o) => o.number === n);
          if (v && v.value.length <= 4) getUintOption(r.message, n);
        }
      } catch (err) {
        failures.push({
          seed,
          iteration: i,
          input: input.toString('hex'),
          error: `${(err as Error).name}: ${(err as Error).message}`,
        });
      }
    }
  }
  t.diagnostic(`${ran} inputs, ${accepted} decoded`);
  assert.equal(failures.length, 0, `${failures.length} failures:\n${describeFailures(failures)}`);
});

/** What RFC 7252 says the server must do with one datagram: the oracle of the server test. */
type Expect =
  | { kind: 'silence' }
  | { kind: 'reset' }
  | { kind: 'bad-option'; type: 'CON' | 'NON' }
  | { kind: 'answer' };

function expectFor(d: Buffer): Expect {
  const r = decodeMessage(d);
  if (!r.ok) return r.reaction === 'reset' ? { kind: 'reset' } : { kind: 'silence' };
  const m = r.message;
  if (m.type === 'ACK' || m.type === 'RST') return { kind: 'silence' };
  if (m.code === Code.Empty) return m.type === 'CON' ? { kind: 'reset' } : { kind: 'silence' };
  if (!isRequestCode(m.code)) return { kind: 'reset' }; // a response nobody asked for (§4.2, §4.3)
  if (!checkOptions(m).ok) return { kind: 'bad-option', type: m.type };
  return { kind: 'answer' };
}

test('a NON request with an unrecognized critical option is rejected (RFC 7252 §5.4.1, §4.3): no 4.02 response, no handler', async (t) => {
  const server = new CoapServer();
  let calls = 0;
  server.get('/x', () => {
    calls++;
    return { payload: 'ok' };
  });
  const transport = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(transport);
  t.after(() => server.close());
  const peer = await rawPeer(transport.address().port);
  t.after(() => peer.close());
  for (const [mid, options] of [
    [0x700, [opt(OptionNumber.UriPath, s('x')), opt(13, s('?'))]],
    // Uri-Host (critical) of 0 bytes is malformed (§5.10: 1..255).
    [0x701, [opt(OptionNumber.UriHost, Buffer.alloc(0)), opt(OptionNumber.UriPath, s('x'))]],
  ] as const) {
    peer.send({
      type: 'NON',
      code: Code.GET,
      messageId: mid,
      token: s('t'),
      options: [...options],
      payload: Buffer.alloc(0),
    });
    const r = await peer.next(300);
    assert.ok(r === undefined || (r.type === 'RST' && r.messageId === mid), `got ${r && describeMessage(r)}`);
  }
  // The same faults in a CON get the piggybacked 4.02.
  peer.send({
    type: 'CON',
    code: Code.GET,
    messageId: 0x702,
    token: s('t'),
    options: [opt(OptionNumber.UriPath, s('x')), opt(13, s('?'))],
    payload: Buffer.alloc(0),
  });
  const r = await peer.next();
  assert.equal(r?.type, 'ACK');
  assert.equal(r?.code, Code.BadOption);
  assert.equal(calls, 0);
});

test('a CoapServer fed mutated requests: Reset, 4.02 or silence as RFC 7252 says, no handler for a malformed message, a good client still served', async (t) => {
  const uncaught: unknown[] = [];
  const onError = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  t.after(() => {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  });

  const server = new CoapServer({ params: { ackTimeout: 200, maxLatency: 1000 } });
  let calls = 0;
  server.get(
    '/sensors/temp',
    () => {
      calls++;
      return { payload: '21.5', contentFormat: 0 };
    },
    { observable: true },
  );
  server.post('/data', () => {
    calls++;
    return {};
  });
  server.put('/data', () => {
    calls++;
    return {};
  });
  server.get('/big', () => {
    calls++;
    return { payload: Buffer.alloc(3000, 0x42) };
  });
  const transport = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(transport);
  t.after(() => server.close());
  const port = transport.address().port;
  const peer = await rawPeer(port);
  t.after(() => peer.close());
  const client = new CoapClient({ params: { ackTimeout: 300 } });
  t.after(() => client.close());
  const good = async () => {
    const res = await client.get(`coap://127.0.0.1:${port}/sensors/temp`);
    assert.equal(codeString(res.code), '2.05');
    assert.equal(res.payload.toString(), '21.5');
  };
  await good();

  const perSeed = fuzzIterations(300);
  const failures: FuzzFailure[] = [];
  const outcomes = new Map<string, number>();
  let mid = 0x1000;
  for (const seed of fuzzSeeds()) {
    const rng = new Rng(seed ^ 0x5e4e);
    for (let i = 0; i < perSeed; i++) {
      let d = mutate(rng, rng.pick(seeds), { others: seeds });
      // A fresh Message ID each time, so that deduplication (§4.5) does not hide a datagram.
      if (d.length >= 4) {
        d = Buffer.from(d);
        mid = (mid + 1) & 0xffff;
        d.writeUInt16BE(mid, 2);
      }
      const exp = expectFor(d);
      const before = calls;
      peer.send(d);
      const reply = await peer.next(exp.kind === 'silence' ? 15 : 1000);
      const ran = calls > before;
      const fail = (why: string) =>
        failures.push({
          seed,
          iteration: i,
          input: d.toString('hex'),
          error: `${why}; expected ${JSON.stringify(exp)}, got ${reply ? describeMessage(reply) : 'nothing'}`,
        });
      const key = `${exp.kind}→${reply ? `${reply.type} ${codeString(reply.code)}` : 'nothing'}`;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      switch (exp.kind) {
        case 'silence':
          if (reply) fail('answered a message it must ignore');
          if (ran) fail('ran a handler');
          break;
        case 'reset':
          if (reply?.type !== 'RST' || reply.messageId !== mid) fail('no Reset');
          if (ran) fail('ran a handler');
          break;
        case 'bad-option':
          if (ran) fail('ran a handler for a request with a bad critical option');
          if (
            exp.type === 'CON' &&
            (reply?.type !== 'ACK' || reply.code !== Code.BadOption || reply.messageId !== mid)
          ) {
            fail('no 4.02 in the ACK');
          }
          // §5.4.1: a NON with a bad critical option is rejected (§4.3): Reset or silence, no response.
          if (exp.type === 'NON' && reply && reply.type !== 'RST') fail('answered a rejected NON');
          break;
        case 'answer':
          if (!reply) fail('no answer to a well-formed request');
          break;
      }
      // Drain anything else (a notification, a late separate response) before the next datagram.
      while (await peer.next(0)) {}
      if (i % 50 === 49) await good();
    }
  }
  await good();
  t.diagnostic(`${fuzzSeeds().length * perSeed} datagrams; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
  assert.deepEqual(uncaught, []);
  assert.equal(failures.length, 0, `${failures.length} failures:\n${describeFailures(failures)}`);
});

/**
 * Mutation fuzzing of OSCORE (RFC 8613): the OSCORE option decoder and the unprotect paths.
 *
 * Option: decodeOscoreOption gives a value that re-encodes to the same bytes, or throws an
 * OscoreError `malformed` (4.02) — never another exception.
 *
 * Unprotect: mutated copies of valid protected requests and responses (header, options, kid,
 * Partial IV, ciphertext and tag all hit) go through the CoAP decoder and then the server's
 * context table or the client's response path. Every outcome is a refusal with a CoAP code or, when
 * the protected parts survived intact, exactly the original inner message; a Partial IV is accepted
 * at most once; nothing throws.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage, encodeMessage } from '../../src/coap/message.ts';
import { OscoreContext } from '../../src/oscore/context.ts';
import { OscoreError } from '../../src/oscore/errors.ts';
import { decodeOscoreOption, encodeOscoreOption } from '../../src/oscore/option.ts';
import { protectRequest, protectResponse, unprotectResponse } from '../../src/oscore/protect.ts';
import { OscoreServerContexts } from '../../src/oscore/server.ts';
import { describeFailures, type FuzzFailure, fuzzIterations, fuzzSeeds, mutate, Rng } from './mutate.ts';

const h = (s: string) => Buffer.from(s, 'hex');

test('decodeOscoreOption on mutated values: a value that re-encodes identically, or a 4.02 refusal', () => {
  const seeds = [
    h(''),
    h('0914'),
    h('091400'),
    h('19140837cbf3210017a2d3'),
    h('0100'),
    encodeOscoreOption({ partialIv: h('ffffffffff'), kidContext: h('0102'), kid: h('01020304050607') }),
  ];
  const perSeed = fuzzIterations(20_000);
  const failures: FuzzFailure[] = [];
  let accepted = 0;
  for (const seed of fuzzSeeds()) {
    const rng = new Rng(seed ^ 0x05c0);
    for (let i = 0; i < perSeed; i++) {
      const input = mutate(rng, rng.pick(seeds), { others: seeds, lengthFields: [{ offset: 0, width: 1 }] });
      try {
        const v = decodeOscoreOption(input);
        accepted++;
        const again = encodeOscoreOption(v);
        if (!again.equals(input)) throw new Error(`re-encodes to ${again.toString('hex')}`);
      } catch (err) {
        if (err instanceof OscoreError && err.kind === 'malformed' && err.code === 130) continue;
        failures.push({ seed, iteration: i, input: input.toString('hex'), error: String(err) });
      }
    }
  }
  assert.ok(accepted > 0);
  assert.equal(failures.length, 0, describeFailures(failures));
});

test('unprotect on mutated protected requests and responses: a refusal with a code, or the original, never a throw', async (t) => {
  const secret = h('0102030405060708090a0b0c0d0e0f10');
  const client = await OscoreContext.create({
    masterSecret: secret,
    senderId: h('01'),
    recipientId: h(''),
    idContext: h('aa'),
  });
  const perSeed = fuzzIterations(1500);
  const failures: FuzzFailure[] = [];
  const outcomes = new Map<string, number>();
  const inner = {
    code: 2,
    options: [
      { number: 11, value: Buffer.from('data') },
      { number: 12, value: h('32') },
    ],
    payload: Buffer.from('{"t":21.5}'),
  };
  for (const seed of fuzzSeeds()) {
    const rng = new Rng(seed ^ 0x5ec);
    // A fresh server context per seed: each seed's Partial IVs start unseen.
    const server = await OscoreContext.create({
      masterSecret: secret,
      senderId: h(''),
      recipientId: h('01'),
      idContext: h('aa'),
    });
    const table = new OscoreServerContexts([server]);
    const accepted = new Set<string>();
    for (let i = 0; i < perSeed; i++) {
      const piv = await client.nextPartialIv();
      const { outer, binding } = protectRequest(client.sender, piv, inner);
      const wire = encodeMessage({ type: 'CON', messageId: i & 0xffff, token: h('0102'), ...outer });
      const input = mutate(rng, wire, { maxLength: wire.length + 32 });
      try {
        const d = decodeMessage(input);
        if (!d.ok) continue;
        const r = await table.unprotect(d.message);
        const key = r.status === 'error' ? `${r.status}:${r.error.kind}` : r.status;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        if (r.status === 'error') {
          if (r.error.code >> 5 !== 4) throw new Error(`refusal with code ${r.error.code}`);
        } else {
          if (!r.inner.payload.equals(inner.payload) || r.inner.code !== inner.code)
            throw new Error('accepted a different inner message');
          const k = r.binding.piv.toString('hex');
          if (accepted.has(k)) throw new Error(`Partial IV ${k} accepted twice`);
          accepted.add(k);
        }
        // The client's side: a mutated response to this request.
        const res = protectResponse(server.sender, binding, { code: 69, options: [], payload: Buffer.from('ok') });
        const rw = encodeMessage({ type: 'ACK', messageId: 1, token: h('0102'), ...res });
        const rd = decodeMessage(mutate(rng, rw));
        if (rd.ok) {
          try {
            const u = unprotectResponse(client.recipient, binding, rd.message);
            if (!u.inner.payload.equals(Buffer.from('ok'))) throw new Error('a different response payload');
          } catch (err) {
            if (!(err instanceof OscoreError)) throw err;
          }
        }
      } catch (err) {
        failures.push({ seed, iteration: i, input: input.toString('hex'), error: String(err) });
      }
    }
  }
  t.diagnostic(`outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
  assert.ok((outcomes.get('ok') ?? 0) > 0, 'some mutations leave the protected parts intact');
  assert.ok((outcomes.get('error:decrypt') ?? 0) > 0);
  assert.equal(failures.length, 0, describeFailures(failures));
});

/**
 * Mutation fuzzing of the EDHOC message decoders (src/edhoc/messages.ts), the Initiator and
 * Responder state machines fed damaged message_1/2/3/4, and the /.well-known/edhoc resource. Every
 * mutated input ends in a decoded value or the module's own error (EdhocError, EdhocPeerError) —
 * never another exception — and a damaged message_2/3/4 is never accepted.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import type { CoapRequest } from '../../src/coap/index.ts';
import type { OwnAuthKey } from '../../src/edhoc/auth.ts';
import { CF_EDHOC, EdhocResource } from '../../src/edhoc/coap.ts';
import { authKeyOf, ccsCredential, knownCredentials } from '../../src/edhoc/credentials.ts';
import { generateDhKeyPair } from '../../src/edhoc/crypto.ts';
import { EdhocError, EdhocPeerError } from '../../src/edhoc/errors.ts';
import { EdhocInitiator, type InitiatorOptions } from '../../src/edhoc/initiator.ts';
import {
  decodeCiphertextMessage,
  decodeError,
  decodeMessage1,
  decodeMessage2,
  decodePlaintext2,
  decodePlaintext3,
  decodePlaintext4,
  encodeError,
} from '../../src/edhoc/messages.ts';
import { EdhocResponder, type ResponderOptions } from '../../src/edhoc/responder.ts';
import { describeFailures, type FuzzFailure, fuzzIterations, fuzzSeeds, hangs, mutate, Rng } from './mutate.ts';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Seeds from RFC 9529 §2 and §3: messages and plaintexts exactly as the traces give them.
const message1s = [
  h('03 820602 5820 8af6f430ebe18d34184017a9a11bf511c8dff8f834730b96c1b7c8dbca2fc3b6 37'),
  h('00 00 5820 31f82c7b5b9cbbf0f194d913cc12ef1532d328ef32632a4881a1c0701e237f04 2d 1818 4568656c6c6f'),
];
const message2 = h('582b 419701d7f00a26c2dc587a36dd752549f33763c893422c8ea0f955a13a4ff5d5 9862a1eef9e0e7e1886fcd');
const plaintexts2 = [h('2732480943305c899f5c54'), h('4118 a11822822e4879f2a41b510c1f9b 4401020304 20 0a 41ff')];
const plaintexts3 = [
  h('2b48623c91df41e34c2f'),
  h('a11822822e48c24ab2fd7643c79f 4401020304'),
  h('a1182143010203 4401020304'),
];
const errors = [encodeError({ errCode: 1, diagnostic: 'x' }), encodeError({ errCode: 2, suitesR: [6, 2] })];

function ours(e: unknown): boolean {
  return e instanceof EdhocError || e instanceof EdhocPeerError;
}

interface Target {
  name: string;
  seeds: Buffer[];
  iterations: number;
  run: (b: Buffer, original: Buffer) => unknown;
}

function signer(kid: number): { cred: ReturnType<typeof ccsCredential>; key: OwnAuthKey } {
  const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    cred: ccsCredential({ kid: Buffer.from([kid]), publicKey: authKeyOf(kp.publicKey) }),
    key: { kind: 'signature', key: kp.privateKey },
  };
}
const I = signer(0x01);
const R = signer(0x02);
const iOpts: InitiatorOptions = {
  method: 0,
  suites: [2],
  connectionId: Buffer.from([0x05]),
  credential: I.cred,
  authKey: I.key,
  peers: knownCredentials([R.cred]),
  ephemeral: generateDhKeyPair('P-256'),
};
const rOpts: ResponderOptions = {
  suites: [2],
  connectionId: Buffer.from([0x06]),
  credential: R.cred,
  authKey: R.key,
  peers: knownCredentials([I.cred]),
  ephemeral: generateDhKeyPair('P-256'),
  sendMessage4: true,
};
// One honest run with fixed ephemeral keys: replaying it reproduces every message.
const live = (() => {
  const i = new EdhocInitiator(iOpts);
  const r = new EdhocResponder(rOpts);
  const m1 = i.message1();
  const m2 = r.handleMessage1(m1);
  const m3 = i.handleMessage2(m2);
  const m4 = r.handleMessage3(m3)!;
  i.handleMessage4(m4);
  return { m1, m2, m3, m4 };
})();

/** A damaged message that a state machine accepts must be byte-identical to the honest one. */
function mustNotAccept(b: Buffer, original: Buffer, what: string): void {
  if (!b.equals(original)) throw new Error(`${what}: a damaged message was accepted`);
}

const req = (payload: Buffer) =>
  ({ payload, peer: { address: '127.0.0.1', port: 1, family: 'IPv4' } }) as unknown as CoapRequest;
const resource = new EdhocResource({ ...rOpts, maxPending: 8 });

const targets: Target[] = [
  { name: 'message_1', seeds: message1s, iterations: 3000, run: (b) => decodeMessage1(b) },
  { name: 'message_2', seeds: [message2], iterations: 2000, run: (b) => decodeMessage2(b, 32) },
  { name: 'PLAINTEXT_2', seeds: plaintexts2, iterations: 3000, run: (b) => decodePlaintext2(b) },
  { name: 'PLAINTEXT_3', seeds: plaintexts3, iterations: 3000, run: (b) => decodePlaintext3(b) },
  { name: 'PLAINTEXT_4', seeds: [h('0a 4101 21')], iterations: 1000, run: (b) => decodePlaintext4(b) },
  {
    name: 'message_3/4',
    seeds: [h('52 e562097bc417dd5919485ac7891ffd90a9fc')],
    iterations: 1000,
    run: (b) => decodeCiphertextMessage(b, 'message_3', 8),
  },
  { name: 'error', seeds: errors, iterations: 1000, run: (b) => decodeError(b) },
  {
    name: 'Responder ← message_1',
    seeds: [live.m1],
    iterations: 300,
    run: (b) => new EdhocResponder(rOpts).handleMessage1(b),
  },
  {
    name: 'Initiator ← message_2',
    seeds: [live.m2],
    iterations: 300,
    run: (b, o) => {
      const i = new EdhocInitiator(iOpts);
      i.message1();
      i.handleMessage2(b);
      mustNotAccept(b, o, 'message_2');
    },
  },
  {
    name: 'Responder ← message_3',
    seeds: [live.m3],
    iterations: 300,
    run: (b, o) => {
      const r = new EdhocResponder(rOpts);
      r.handleMessage1(live.m1);
      r.handleMessage3(b);
      mustNotAccept(b, o, 'message_3');
    },
  },
  {
    name: 'Initiator ← message_4',
    seeds: [live.m4],
    iterations: 300,
    run: (b, o) => {
      const i = new EdhocInitiator(iOpts);
      i.message1();
      i.handleMessage2(live.m2);
      i.handleMessage4(b);
      mustNotAccept(b, o, 'message_4');
    },
  },
  {
    name: '/.well-known/edhoc',
    seeds: [Buffer.concat([h('f5'), live.m1]), Buffer.concat([h('06'), live.m3])],
    iterations: 300,
    run: (b) => {
      const res = resource.handle(req(b));
      // Every answer is a 2.04 or a 4.00 carrying an EDHOC error message, never a throw.
      if (res.code !== 68) {
        assert.equal(res.code, 128);
        assert.equal(res.contentFormat, CF_EDHOC);
        decodeError(res.payload as Buffer);
      }
    },
  },
];

test('the seeds are valid', () => {
  for (const m of message1s) decodeMessage1(m);
  for (const p of plaintexts2) decodePlaintext2(p);
  for (const p of plaintexts3) decodePlaintext3(p);
});

for (const t of targets) {
  test(`fuzz ${t.name}: own errors only, in bounded time`, () => {
    const failures: FuzzFailure[] = [];
    const n = fuzzIterations(t.iterations);
    for (const seed of fuzzSeeds()) {
      const rng = new Rng(seed);
      for (let it = 0; it < n; it++) {
        const original = rng.pick(t.seeds);
        const input = mutate(rng, original);
        const start = performance.now();
        try {
          t.run(input, original);
        } catch (e) {
          if (!ours(e))
            failures.push({
              seed,
              iteration: it,
              input: input.toString('hex'),
              error: String((e as Error)?.stack ?? e),
            });
        }
        const ms = performance.now() - start;
        if (hangs(() => t.run(input, original), ms, 500))
          failures.push({ seed, iteration: it, input: input.toString('hex'), error: `took ${ms.toFixed(0)} ms` });
      }
    }
    assert.equal(failures.length, 0, describeFailures(failures));
  });
}

/**
 * Mutation fuzzing of src/util/cbor.ts and the payload parsers of src/platform/parsers.ts (JSON
 * path, regex, SenML-JSON, SenML-CBOR, and the first-payload stream proposal). From valid payloads,
 * each mutated one gives a value or the module's own error — CborError from the codec,
 * PlatformError with a 4xx status from the parsers — never another exception (a 500), in bounded
 * time, and a deep nesting or a huge declared length is refused without being built.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { httpStatusOf } from '../../src/platform/http/errors.ts';
import { type Parser, PlatformError, type Stream } from '../../src/platform/model.ts';
import { proposeStreams, runParsers } from '../../src/platform/parsers.ts';
import { CborError, decode, encode } from '../../src/util/cbor.ts';
import { describeFailures, type FuzzFailure, fuzzIterations, fuzzSeeds, hangs, mutate, Rng } from './mutate.ts';

const HANG_MS = 500;

const senmlJson = Buffer.from(
  JSON.stringify([
    { bn: 'urn:dev:ow:10e2073a01080063:', bt: 1.276020076001e9, bu: 'A', bver: 5, n: 'voltage', u: 'V', v: 120.1 },
    { n: 'current', t: -5, v: 1.2 },
    { n: 'current', t: -4, v: 1.3 },
    { n: 'door', vb: true },
    { n: 'label', vs: 'kitchen' },
  ]),
);
const senmlCbor = encode([
  new Map<number | string, unknown>([
    [-2, 'urn:dev:ow:10e2073a01080063:'],
    [-3, 1.276020076001e9],
    [0, 'voltage'],
    [1, 'V'],
    [2, 120.1],
  ]),
  new Map<number, unknown>([
    [0, 'current'],
    [6, -5],
    [2, 1.2],
  ]),
  new Map<number, unknown>([
    [0, 'blob'],
    [8, Buffer.from('data')],
  ]),
] as never);
const plainJson = Buffer.from(
  JSON.stringify({
    room1: { sensors: { temp: 21.5, hum: { value: 40, time: 1700000000 } } },
    series: [
      { value: 1, time: 1700000001 },
      { value: 2, time: 1700000002 },
    ],
    note: 'ok',
  }),
);
const text = Buffer.from('temp=21.5 t=1700000000\ntemp=22.0 t=1700000060\n');
const cborMisc = encode([
  1,
  -1,
  2n ** 64n - 1n,
  -(2n ** 64n),
  1.5,
  'text',
  Buffer.from('bytes'),
  [true, false, null, undefined],
  new Map<unknown, unknown>([
    ['a', 1],
    [2, [3]],
  ]),
] as never);
// Indefinite-length items (RFC 8949 §3.2): array, map, byte and text strings.
const cborIndefinite = Buffer.from(
  '9f018202039f0405ffbf61610161629f0203ffff5f42010243030405ff7f6261626462636364ffff',
  'hex',
);

const streams = new Map<number, Stream>(
  [1, 2, 3, 4, 5, 6].map((id) => [
    id,
    {
      id,
      resourceId: 1,
      label: `s${id}`,
      unit: null,
      type: id % 2 === 0 ? 'text' : 'numeric',
      public: false,
      retentionMaxPoints: null,
      retentionMaxAgeMs: null,
    } as Stream,
  ]),
);
const parser = (id: number, kind: Parser['kind'], expression: string, timeFormat: Parser['timeFormat'] = 'unix-s') =>
  ({ id, resourceId: 1, streamId: id, kind, expression, timeFormat }) as Parser;
const jsonParsers = [
  parser(1, 'json-path', '/room1/sensors/temp'),
  parser(2, 'json-path', '/note'),
  parser(3, 'json-path', '/series'),
  parser(5, 'json-path', '/room1/sensors/hum'),
];
const regexParsers = [parser(1, 'regex', 'temp=(?<value>[0-9.]+) t=(?<time>\\d+)')];
const senmlParsers = [
  parser(1, 'senml', 'urn:dev:ow:10e2073a01080063:voltage'),
  parser(3, 'senml', 'urn:dev:ow:10e2073a01080063:current'),
  parser(4, 'senml', 'urn:dev:ow:10e2073a01080063:label'),
];

/** A deeply nested wrapping of `inner`: what byte mutations rarely make and an attacker easily does. */
function nest(rng: Rng, inner: Buffer, cbor: boolean): Buffer {
  const depth = rng.pick([40, 1000, 100_000]);
  if (cbor) return Buffer.concat([Buffer.alloc(depth, rng.pick([0x81, 0x9f, 0xc1, 0xa1])), inner]);
  const open = rng.pick(['[', '{"value":', '{"a":']);
  const close = open === '[' ? ']' : '}';
  return Buffer.from(`${open.repeat(depth)}${inner.toString('latin1')}${close.repeat(depth)}`, 'latin1');
}

/** True for the errors a module may raise: CborError, or a PlatformError with a 4xx status. */
function ownError(err: unknown): boolean {
  if (err instanceof CborError) return true;
  return err instanceof PlatformError && httpStatusOf(err) >= 400 && httpStatusOf(err) < 500;
}

interface Target {
  name: string;
  seeds: Buffer[];
  cbor: boolean;
  run: (b: Buffer) => unknown;
}

const payload = (body: Buffer, contentType: string) => ({ body, contentType, now: 1_700_000_000_000 });
const targets: Target[] = [
  { name: 'cbor.decode', seeds: [senmlCbor, cborMisc, cborIndefinite], cbor: true, run: (b) => decode(b) },
  {
    name: 'senml+cbor parsers',
    seeds: [senmlCbor],
    cbor: true,
    run: (b) => runParsers(senmlParsers, streams, payload(b, 'application/senml+cbor')),
  },
  {
    name: 'senml+json parsers',
    seeds: [senmlJson],
    cbor: false,
    run: (b) => runParsers(senmlParsers, streams, payload(b, 'application/senml+json')),
  },
  {
    name: 'json-path parsers',
    seeds: [plainJson],
    cbor: false,
    run: (b) => runParsers(jsonParsers, streams, payload(b, 'application/json')),
  },
  {
    name: 'regex parser',
    seeds: [text],
    cbor: false,
    run: (b) => runParsers(regexParsers, streams, payload(b, 'text/plain')),
  },
  {
    name: 'proposeStreams (JSON)',
    seeds: [plainJson, senmlJson],
    cbor: false,
    run: (b) => proposeStreams(payload(b, 'application/json')),
  },
  {
    name: 'proposeStreams (SenML)',
    seeds: [senmlJson, senmlCbor],
    cbor: true,
    run: (b) => proposeStreams(payload(b, b[0] === 0x5b ? 'application/senml+json' : 'application/senml+cbor')),
  },
];

test('the valid seeds parse: SenML-CBOR and SenML-JSON give the same points', () => {
  const fromCbor = runParsers(senmlParsers.slice(0, 1), streams, payload(senmlCbor, 'application/senml+cbor'));
  const fromJson = runParsers(senmlParsers.slice(0, 1), streams, payload(senmlJson, 'application/senml+json'));
  assert.deepEqual(fromCbor, fromJson);
  assert.equal(runParsers(jsonParsers, streams, payload(plainJson, 'application/json')).length, 5);
  assert.equal(runParsers(regexParsers, streams, payload(text, 'text/plain')).length, 2);
  assert.deepEqual(decode(cborIndefinite), [
    1,
    [2, 3],
    [4, 5],
    new Map<unknown, unknown>([
      ['a', 1],
      ['b', [2, 3]],
    ]),
    Buffer.from('0102030405', 'hex'),
    'abbccd',
  ]);
});

test('a value nested 100 000 deep gets a 400 naming the field, not a stack overflow (500)', () => {
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  for (const [p, body] of [
    [parser(1, 'json-path', '/a'), `{"a":{"value":${deep}}}`],
    [parser(2, 'json-path', '/a'), `{"a":{"value":${deep}}}`],
    [parser(1, 'json-path', '/a'), `{"a":{"value":1,"time":${deep}}}`],
  ] as const) {
    assert.throws(
      () => runParsers([p], streams, payload(Buffer.from(body), 'application/json')),
      (err: unknown) => err instanceof PlatformError && httpStatusOf(err) === 400 && /parser \d/.test(err.message),
    );
  }
});

test('huge declared CBOR lengths and counts are refused before anything is allocated', () => {
  for (const hex of [
    '9bffffffffffffffff',
    '5bffffffffffffffff',
    '7a7fffffff',
    '9a7fffffff',
    'bb0000000100000000',
    '5f5a7fffffff',
  ]) {
    assert.throws(() => decode(Buffer.from(hex, 'hex')), CborError, hex);
  }
  assert.throws(() => decode(Buffer.alloc(100_000, 0x81)), /nesting deeper/);
});

test('mutated CBOR, SenML and JSON payloads: a value or the module’s own 4xx error, in bounded time', (t) => {
  const perSeed = fuzzIterations(1200);
  const failures: FuzzFailure[] = [];
  const report: string[] = [];
  for (const target of targets) {
    let ran = 0;
    let accepted = 0;
    for (const seed of fuzzSeeds()) {
      const rng = new Rng(seed * 7919 + target.name.length);
      for (let i = 0; i < perSeed; i++) {
        const base = rng.pick(target.seeds);
        let input = mutate(rng, base, { others: target.seeds });
        if (rng.chance(0.03)) input = nest(rng, input, target.cbor);
        ran++;
        const t0 = performance.now();
        try {
          target.run(input);
          accepted++;
        } catch (err) {
          if (!ownError(err)) {
            failures.push({
              seed,
              iteration: i,
              input: input.subarray(0, 300).toString('hex'),
              error: `${target.name}: ${(err as Error).name}: ${(err as Error).message}`,
            });
          }
        }
        const ms = performance.now() - t0;
        if (hangs(() => target.run(input), ms, HANG_MS)) {
          failures.push({
            seed,
            iteration: i,
            input: input.subarray(0, 300).toString('hex'),
            error: `${target.name}: took ${ms} ms`,
          });
        }
      }
    }
    report.push(`${target.name}: ${ran} inputs, ${accepted} accepted`);
  }
  t.diagnostic(report.join('; '));
  assert.equal(failures.length, 0, `${failures.length} failures:\n${describeFailures(failures)}`);
});

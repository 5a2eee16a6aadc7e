import assert from 'node:assert/strict';
import { test } from 'node:test';
import { httpStatusOf } from '../../src/platform/http/errors.ts';
import type { Parser, Stream, StreamType } from '../../src/platform/model.ts';
import { PlatformError } from '../../src/platform/model.ts';
import {
  checkParser,
  parseTime,
  proposeStreams,
  resolveSenml,
  runParsers,
  senmlFromJson,
} from '../../src/platform/parsers.ts';
import { CborSimple, type CborValue, encode } from '../../src/util/cbor.ts';

const NOW = 1_700_000_000_000;

function stream(id: number, type: StreamType = 'numeric'): Stream {
  return {
    id,
    resourceId: 1,
    label: `s${id}`,
    unit: null,
    type,
    public: false,
    retentionMaxPoints: null,
    retentionMaxAgeMs: null,
    createdAt: 0,
    lastTime: null,
  };
}

function parser(
  id: number,
  streamId: number,
  kind: Parser['kind'],
  expression: string,
  timeFormat: Parser['timeFormat'] = 'unix-ms',
): Parser {
  return { id, resourceId: 1, streamId, kind, expression, timeFormat, createdAt: 0 };
}

const run = (
  parsers: Parser[],
  streams: Stream[],
  body: string | Buffer,
  contentType: string | null = 'application/json',
) =>
  runParsers(parsers, new Map(streams.map((s) => [s.id, s])), {
    body: typeof body === 'string' ? Buffer.from(body) : body,
    contentType,
    now: NOW,
  });

const status = (code: number) => (e: unknown) => e instanceof PlatformError && httpStatusOf(e) === code;

test('json-path takes a value, a {value, time} object and an array of them', () => {
  const body = JSON.stringify({
    room1: { sensors: { temp: 21.5, hum: { value: '40', time: 1_700_000_001 } } },
    series: [
      { value: 1, time: '2024-01-01T00:00:00Z' },
      { value: 2, time: '2024-01-01T00:00:01Z' },
    ],
    'a/b': { '~x': 7 },
  });
  const pts = run(
    [
      parser(1, 1, 'json-path', '/room1/sensors/temp'),
      parser(2, 2, 'json-path', '/room1/sensors/hum', 'unix-s'),
      parser(3, 3, 'json-path', '/series', 'iso8601'),
      parser(4, 4, 'json-path', '/a~1b/~0x'),
      parser(5, 5, 'json-path', '/missing/path'),
    ],
    [stream(1), stream(2), stream(3), stream(4), stream(5)],
    body,
  );
  assert.deepEqual(pts, [
    { streamId: 1, value: 21.5, time: NOW },
    { streamId: 2, value: 40, time: 1_700_000_001_000 },
    { streamId: 3, value: 1, time: Date.UTC(2024, 0, 1) },
    { streamId: 3, value: 2, time: Date.UTC(2024, 0, 1, 0, 0, 1) },
    { streamId: 4, value: 7, time: NOW },
  ]);
});

test('json-path into a text stream, and a type mismatch is a 400', () => {
  assert.deepEqual(run([parser(1, 1, 'json-path', '/s')], [stream(1, 'text')], '{"s":"open"}'), [
    { streamId: 1, value: 'open', time: NOW },
  ]);
  assert.throws(() => run([parser(1, 1, 'json-path', '/s')], [stream(1)], '{"s":"open"}'), status(400));
  assert.throws(
    () => run([parser(1, 1, 'json-path', '/s')], [stream(1)], '{"s": {"value": 1, "time": "x"}}'),
    /not a unix-ms time/,
  );
  assert.throws(() => run([parser(1, 1, 'json-path', '/s')], [stream(1)], '{"s": 1'), /not valid JSON/);
});

test('regex: named groups, positional groups, times, and every match', () => {
  const text = 'temp=21.5 at 1700000000\ntemp=22.0 at 1700000060\nhum=40';
  assert.deepEqual(
    run([parser(1, 1, 'regex', 'temp=(?<value>[\\d.]+) at (?<time>\\d+)', 'unix-s')], [stream(1)], text, 'text/plain'),
    [
      { streamId: 1, value: 21.5, time: 1_700_000_000_000 },
      { streamId: 1, value: 22, time: 1_700_000_060_000 },
    ],
  );
  assert.deepEqual(run([parser(2, 2, 'regex', '^hum=(\\d+)$')], [stream(2)], text, 'text/plain'), [
    { streamId: 2, value: 40, time: NOW },
  ]);
});

test('a catastrophic regex is stopped by the time limit, not left to hang', () => {
  const start = Date.now();
  assert.throws(
    () => run([parser(1, 1, 'regex', '^(a+)+$')], [stream(1)], `${'a'.repeat(40)}!`, 'text/plain'),
    (e: unknown) => e instanceof PlatformError && httpStatusOf(e) === 422 && /too long/.test(e.message),
  );
  assert.ok(Date.now() - start < 5000);
});

test('parser definitions are checked', () => {
  assert.throws(() => checkParser('regex', '(unclosed'), /invalid regular expression/);
  assert.throws(() => checkParser('regex', 'no groups'), /capture group/);
  assert.throws(() => checkParser('json-path', 'room1/temp'), /must start with/);
  assert.throws(() => checkParser('senml', ''), /resolved record name/);
  checkParser('regex', '(\\d+)');
  checkParser('json-path', '');
});

test('SenML JSON: base fields resolve and names select records (RFC 8428 §5.1.2 example)', () => {
  const pack = [
    { bn: 'urn:dev:ow:10e2073a01080063:', bt: 1.276020076001e9, bu: 'A', bver: 5, n: 'voltage', u: 'V', v: 120.1 },
    { n: 'current', t: -5, v: 1.2 },
    { n: 'current', t: -4, v: 1.3 },
    { n: 'status', vs: 'ok' },
  ];
  const recs = resolveSenml(senmlFromJson(pack), NOW);
  assert.equal(recs[0].name, 'urn:dev:ow:10e2073a01080063:voltage');
  assert.equal(recs[0].unit, 'V');
  assert.equal(recs[1].unit, 'A');
  assert.equal(recs[1].time, 1_276_020_071_001);
  const pts = run(
    [
      parser(1, 1, 'senml', 'urn:dev:ow:10e2073a01080063:current'),
      parser(2, 2, 'senml', 'urn:dev:ow:10e2073a01080063:status'),
    ],
    [stream(1), stream(2, 'text')],
    JSON.stringify(pack),
    'application/senml+json',
  );
  assert.deepEqual(pts, [
    { streamId: 1, value: 1.2, time: 1_276_020_071_001 },
    { streamId: 1, value: 1.3, time: 1_276_020_072_001 },
    { streamId: 2, value: 'ok', time: 1_276_020_076_001 },
  ]);
});

test('SenML relative times count from now (RFC 8428 §4.5.3)', () => {
  const [r] = resolveSenml([{ n: 'x', v: 1, t: -10 }], NOW);
  assert.equal(r.time, NOW - 10_000);
});

test('SenML must-understand fields and bad names are refused', () => {
  assert.throws(() => resolveSenml(senmlFromJson([{ n: 'x', v: 1, foo_: 1 }]), NOW), /must-understand/);
  assert.throws(() => resolveSenml(senmlFromJson([{ n: 'bad name', v: 1 }]), NOW), /invalid name/);
  assert.throws(() => senmlFromJson([{ n: 'x', v: '1' }]), /must be a number/);
  assert.throws(() => senmlFromJson({ n: 'x' }), /JSON array/);
});

test('SenML CBOR (RFC 8428 §6 labels) gives the same points as SenML JSON', () => {
  const cbor = encode([
    new Map<CborValue, CborValue>([
      [-2, 'urn:dev:ow:10e2073a01080063:'],
      [-3, 1276020076.001],
      [0, 'voltage'],
      [1, 'V'],
      [2, 120.1],
    ]),
    new Map<CborValue, CborValue>([
      [0, 'current'],
      [6, -5],
      [2, 1.2],
    ]),
    new Map<CborValue, CborValue>([
      [0, 'flag'],
      [4, true],
    ]),
  ]);
  const pts = run(
    [
      parser(1, 1, 'senml', 'urn:dev:ow:10e2073a01080063:voltage'),
      parser(2, 2, 'senml', 'urn:dev:ow:10e2073a01080063:current'),
      parser(3, 3, 'senml', 'urn:dev:ow:10e2073a01080063:flag'),
    ],
    [stream(1), stream(2), stream(3)],
    cbor,
    'application/senml+cbor',
  );
  assert.deepEqual(pts, [
    { streamId: 1, value: 120.1, time: 1_276_020_076_001 },
    { streamId: 2, value: 1.2, time: 1_276_020_071_001 },
    { streamId: 3, value: 1, time: 1_276_020_076_001 },
  ]);
  assert.throws(
    () => run([parser(1, 1, 'senml', 'x')], [stream(1)], Buffer.from([0x81, 0xa1, 0x02]), 'application/senml+cbor'),
    /not valid CBOR/,
  );
  assert.throws(
    () => run([parser(1, 1, 'senml', 'x')], [stream(1)], encode([new Map([[99, 1]])]), 'application/senml+cbor'),
    /unknown label 99/,
  );
  assert.throws(
    () => run([parser(1, 1, 'senml', 'x')], [stream(1)], encode([new CborSimple(0)]), 'application/senml+cbor'),
    /not a map/,
  );
});

test('first-payload proposals: one stream per JSON leaf, or per SenML name', () => {
  const props = proposeStreams({
    body: Buffer.from(
      JSON.stringify({
        room1: { temp: 21, door: 'open', hum: { value: 40, time: 1700000000, unit: '%' } },
        list: [1, 2],
        nothing: null,
      }),
    ),
    contentType: 'application/json',
    now: NOW,
  });
  assert.deepEqual(
    props.map((p) => [p.label, p.type, p.parser.expression, p.parser.timeFormat, p.unit]),
    [
      ['room1/temp', 'numeric', '/room1/temp', 'unix-ms', null],
      ['room1/door', 'text', '/room1/door', 'unix-ms', null],
      ['room1/hum', 'numeric', '/room1/hum', 'unix-s', '%'],
      ['list/0', 'numeric', '/list/0', 'unix-ms', null],
      ['list/1', 'numeric', '/list/1', 'unix-ms', null],
    ],
  );
  const senml = proposeStreams({
    body: Buffer.from(
      JSON.stringify([
        { bn: 'dev1/', n: 'temp', u: 'Cel', v: 1 },
        { n: 'temp', v: 2 },
        { n: 'state', vs: 'on' },
      ]),
    ),
    contentType: 'application/senml+json',
    now: NOW,
  });
  assert.deepEqual(
    senml.map((p) => [p.label, p.type, p.parser.kind, p.unit]),
    [
      ['dev1/temp', 'numeric', 'senml', 'Cel'],
      ['dev1/state', 'text', 'senml', null],
    ],
  );
  assert.throws(
    () => proposeStreams({ body: Buffer.from('plain text'), contentType: 'text/plain', now: NOW }),
    /not JSON/,
  );
  const wide = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i]));
  assert.throws(
    () => proposeStreams({ body: Buffer.from(JSON.stringify(wide)), contentType: null, now: NOW }),
    status(413),
  );
});

test('time formats', () => {
  assert.equal(parseTime(1.5, 'unix-s'), 1500);
  assert.equal(parseTime('1700000000123', 'unix-ms'), 1_700_000_000_123);
  assert.equal(parseTime('2024-02-03T04:05:06.789+01:00', 'iso8601'), Date.UTC(2024, 1, 3, 3, 5, 6, 789));
  assert.throws(() => parseTime('yesterday', 'iso8601'), /ISO 8601/);
  assert.throws(() => parseTime(-1, 'unix-ms'), /out of range/);
  assert.throws(() => parseTime(1e20, 'unix-s'), /out of range/);
});

test('hostile payloads are refused with a 4xx, not a crash', () => {
  const deep = `${'['.repeat(100_000)}1${']'.repeat(100_000)}`;
  assert.throws(
    () => proposeStreams({ body: Buffer.from(deep), contentType: 'application/json', now: NOW }),
    status(400),
  );
  assert.throws(() => run([parser(1, 1, 'json-path', '/0/0/0')], [stream(1)], deep), /must hold \{value, time\}/);
  assert.deepEqual(run([parser(1, 1, 'json-path', '/x')], [stream(1)], deep), []);
  const many = JSON.stringify({ a: Array.from({ length: 10_001 }, (_, i) => ({ value: i, time: i })) });
  assert.throws(() => run([parser(1, 1, 'json-path', '/a')], [stream(1)], many), status(413));
  const big = JSON.stringify({ a: 'x'.repeat(100_000) });
  assert.throws(
    () => run([parser(1, 1, 'json-path', '/a')], [stream(1)], big),
    (e: unknown) => e instanceof PlatformError && httpStatusOf(e) === 400 && e.message.length < 200,
  );
  assert.throws(() => run([parser(1, 1, 'json-path', '/a')], [stream(1, 'text')], big), /longer than 4096/);
  assert.throws(
    () => run([parser(1, 1, 'regex', '(\\d+)')], [stream(1)], Buffer.from([0xff, 0xfe]), 'text/plain'),
    /UTF-8/,
  );
});

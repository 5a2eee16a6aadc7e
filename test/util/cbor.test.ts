import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CborError, CborSimple, CborTag, type CborValue, decode, encode } from '../../src/util/cbor.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 8949 Appendix A: value ⇄ preferred encoding.
const vectors: Array<[CborValue, string]> = [
  [0, '00'],
  [1, '01'],
  [10, '0a'],
  [23, '17'],
  [24, '1818'],
  [25, '1819'],
  [100, '1864'],
  [1000, '1903e8'],
  [1000000, '1a000f4240'],
  [1000000000000, '1b000000e8d4a51000'],
  [18446744073709551615n, '1bffffffffffffffff'],
  [-18446744073709551616n, '3bffffffffffffffff'],
  [-1, '20'],
  [-10, '29'],
  [-100, '3863'],
  [-1000, '3903e7'],
  [0.5, 'f93800'],
  [1.1, 'fb3ff199999999999a'],
  [1.5, 'f93e00'],
  [100000.5, 'fa47c35040'],
  [(2 - 2 ** -23) * 2 ** 127, 'fa7f7fffff'],
  [1.0e300, 'fb7e37e43c8800759c'],
  [2 ** -24, 'f90001'],
  [0.00006103515625, 'f90400'],
  [-4.1, 'fbc010666666666666'],
  [Number.POSITIVE_INFINITY, 'f97c00'],
  [Number.NEGATIVE_INFINITY, 'f9fc00'],
  [false, 'f4'],
  [true, 'f5'],
  [null, 'f6'],
  [undefined, 'f7'],
  [Buffer.alloc(0), '40'],
  [hex('01020304'), '4401020304'],
  ['', '60'],
  ['a', '6161'],
  ['IETF', '6449455446'],
  ['"\\', '62225c'],
  ['\u00fc', '62c3bc'],
  ['\u6c34', '63e6b0b4'],
  ['\ud800\udd51', '64f0908591'],
  [[], '80'],
  [[1, 2, 3], '83010203'],
  [[1, [2, 3], [4, 5]], '8301820203820405'],
  [new Map(), 'a0'],
  [
    new Map<CborValue, CborValue>([
      [1, 2],
      [3, 4],
    ]),
    'a201020304',
  ],
  [{ a: 1, b: [2, 3] }, 'a26161016162820203'],
  [new CborTag(1, 1363896240), 'c11a514b67b0'],
  [new CborTag(32, 'http://www.example.com'), 'd82076687474703a2f2f7777772e6578616d706c652e636f6d'],
  [new CborSimple(16), 'f0'],
  [new CborSimple(255), 'f8ff'],
];

test('RFC 8949 Appendix A vectors encode to their preferred serialization', () => {
  for (const [v, h] of vectors) assert.equal(encode(v).toString('hex'), h, `encode ${String(v)}`);
});

test('RFC 8949 Appendix A vectors decode back to their value', () => {
  for (const [v, h] of vectors) {
    const got = decode(hex(h));
    if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v) && !(v instanceof Map) && !Array.isArray(v)) {
      if (v instanceof CborTag || v instanceof CborSimple) assert.deepEqual(got, v);
      else assert.deepEqual(got, new Map(Object.entries(v)));
    } else assert.deepEqual(got, v, `decode ${h}`);
  }
  assert.ok(Number.isNaN(decode(hex('f97e00')) as number));
  assert.ok(Object.is(decode(hex('f98000')), -0));
  assert.equal(decode(hex('fa47c35000')), 100000.0);
  // Integral floats decode to numbers; JS cannot tell 65504.0 from 65504, so they re-encode as integers.
  assert.equal(decode(hex('f97bff')), 65504);
  assert.equal(decode(hex('f9c400')), -4);
  assert.equal(encode(-4.0).toString('hex'), '23');
});

test('indefinite-length items decode (RFC 8949 §3.2)', () => {
  assert.deepEqual(decode(hex('5f42010243030405ff')), hex('0102030405'));
  assert.equal(decode(hex('7f657374726561646d696e67ff')), 'streaming');
  assert.deepEqual(decode(hex('9f018202039f0405ffff')), [1, [2, 3], [4, 5]]);
  assert.deepEqual(
    decode(hex('bf61610161629f0203ffff')),
    new Map<CborValue, CborValue>([
      ['a', 1],
      ['b', [2, 3]],
    ]),
  );
});

test('malformed input is refused with a CborError, never a crash', () => {
  const bad = [
    '', // no item
    '18', // missing 1-byte argument
    '1a0000', // truncated 4-byte argument
    '62c3', // text shorter than its length
    '44010203', // bytes shorter than its length
    '83 01 02', // array missing an element
    'a2 01 02 03', // map missing a value
    '1c', // reserved additional information 28
    '5d', // reserved ai 29 for bytes
    '1f', // indefinite length on an unsigned integer
    'ff', // break outside an indefinite item
    'f818', // simple value < 32 in two-byte form
    '62c328', // invalid UTF-8
    '5f 61 61 ff', // text chunk inside an indefinite byte string
    '5f 5f ff ff', // nested indefinite chunk
    'a2 01 02 01 03', // duplicate key
    '0000', // trailing bytes
    '9f 01', // unterminated indefinite array
    '9b 00000000ffffffff', // array length far beyond the input
    'bb ffffffffffffffff', // map length that does not fit a safe integer
    'c1', // tag without content
  ];
  for (const h of bad) assert.throws(() => decode(hex(h)), CborError, `should reject ${h}`);
});

test('the depth limit stops deeply nested input', () => {
  const deep = Buffer.concat([Buffer.alloc(100, 0x81), Buffer.from([0x00])]);
  assert.throws(() => decode(deep), /nesting deeper than 32/);
  assert.deepEqual(decode(Buffer.from([0x81, 0x81, 0x00]), { maxDepth: 2 }), [[0]]);
  assert.throws(() => decode(Buffer.from([0x81, 0x81, 0x81, 0x00]), { maxDepth: 2 }), /nesting/);
  const tags = Buffer.concat([Buffer.alloc(40, 0xc1), Buffer.from([0x00])]);
  assert.throws(() => decode(tags), /nesting/);
});

test('the item limit stops huge indefinite arrays', () => {
  const many = Buffer.concat([Buffer.from([0x9f]), Buffer.alloc(20, 0x00), Buffer.from([0xff])]);
  assert.throws(() => decode(many, { maxItems: 10 }), /more than 10 items/);
  assert.equal((decode(many) as CborValue[]).length, 20);
});

test('SenML-CBOR pack from RFC 8428 §6 round-trips', () => {
  // [{-2: "urn:dev:ow:10e2073a01080063", -3: 1320067464, 0: "voltage", 1: "V", 2: 120.1}, {0: "current", 6: -5, 2: 1.2}]
  const pack: CborValue = [
    new Map<CborValue, CborValue>([
      [-2, 'urn:dev:ow:10e2073a01080063'],
      [-3, 1320067464],
      [0, 'voltage'],
      [1, 'V'],
      [2, 120.1],
    ]),
    new Map<CborValue, CborValue>([
      [0, 'current'],
      [6, -5],
      [2, 1.2],
    ]),
  ];
  const enc = encode(pack);
  assert.deepEqual(decode(enc), pack);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkOptions, decodeMessage, encodeMessage, getOptions } from '../../src/coap/message.ts';
import { Code, decodeBlock, decodeUint, encodeBlock, encodeUint, OptionNumber } from '../../src/coap/options.ts';

const msg = (over: Partial<Parameters<typeof encodeMessage>[0]> = {}) => ({
  type: 'CON' as const,
  code: Code.GET,
  messageId: 0x1234,
  token: Buffer.from('cafe', 'hex'),
  options: [],
  payload: Buffer.alloc(0),
  ...over,
});

test('encodes the RFC 7252 §3 header, token, options and payload byte for byte', () => {
  const b = encodeMessage(
    msg({ options: [{ number: OptionNumber.UriPath, value: Buffer.from('time') }], payload: Buffer.from('x') }),
  );
  // 0x42 = ver 1, CON, TKL 2; 0x01 GET; mid; token; 0xB4 = delta 11 len 4; "time"; 0xFF; "x"
  assert.equal(b.toString('hex'), `42011234cafeb474696d65ff78`);
});

test('round-trips extended option deltas and lengths (13, 269 and 16-bit forms), repeatable options in order', () => {
  const long = Buffer.alloc(300, 0x61);
  const m = msg({
    options: [
      { number: OptionNumber.UriPath, value: Buffer.from('a') },
      { number: OptionNumber.UriPath, value: Buffer.from('b') },
      { number: OptionNumber.UriPath, value: Buffer.from('') },
      { number: OptionNumber.UriQuery, value: Buffer.alloc(20, 0x71) },
      { number: OptionNumber.ProxyUri, value: long },
      { number: OptionNumber.NoResponse, value: Buffer.from([2]) },
      { number: 2000, value: Buffer.from('z') },
    ],
    payload: Buffer.from('payload'),
    token: Buffer.alloc(8, 7),
  });
  const r = decodeMessage(encodeMessage(m));
  assert.ok(r.ok);
  assert.deepEqual(
    r.message.options.map((o) => [o.number, o.value.toString()]),
    m.options.map((o) => [o.number, o.value.toString()]),
  );
  assert.deepEqual(getOptions(r.message, OptionNumber.UriPath).map(String), ['a', 'b', '']);
  assert.equal(r.message.payload.toString(), 'payload');
  assert.equal(r.message.token.length, 8);
});

test('sorts options on encode, keeping repeated ones in their given order', () => {
  const m = msg({
    options: [
      { number: OptionNumber.UriQuery, value: Buffer.from('q') },
      { number: OptionNumber.UriPath, value: Buffer.from('x') },
      { number: OptionNumber.UriPath, value: Buffer.from('y') },
    ],
  });
  const r = decodeMessage(encodeMessage(m));
  assert.ok(r.ok);
  assert.deepEqual(
    r.message.options.map((o) => o.value.toString()),
    ['x', 'y', 'q'],
  );
});

test('malformed datagrams are reported with the reaction RFC 7252 §4.2/§4.3 asks for', () => {
  const cases: Array<[string, string, 'reset' | 'ignore']> = [
    ['token length 9', `49011234${'00'.repeat(9)}`, 'reset'],
    ['token length 15', `4f011234${'00'.repeat(15)}`, 'reset'],
    ['token truncated', '44011234cafe', 'reset'],
    ['option delta nibble 15', '40011234f1', 'reset'],
    ['option length nibble 15', '400112341f', 'reset'],
    ['extended delta truncated', '40011234d0', 'reset'],
    ['extended 16-bit length truncated', '40011234be00', 'reset'],
    ['option value truncated', '40011234b474', 'reset'],
    ['payload marker with no payload', '40011234ff', 'reset'],
    ['reserved class 1', '40201234', 'reset'],
    ['Empty message with a token', '41001234aa', 'reset'],
    ['NON with bad token length', `59011234${'00'.repeat(9)}`, 'ignore'],
    ['ACK with payload marker alone', '60451234ff', 'ignore'],
    ['version 2', '80011234', 'ignore'],
    ['three bytes', '400112', 'ignore'],
  ];
  for (const [name, hex, reaction] of cases) {
    const r = decodeMessage(Buffer.from(hex, 'hex'));
    assert.equal(r.ok, false, name);
    if (!r.ok) assert.equal(r.reaction, reaction, name);
  }
});

test('checkOptions: unknown critical → 4.02, unknown elective dropped, bad length of a critical → 4.02', () => {
  const base = msg();
  const crit = checkOptions({ ...base, options: [{ number: 2049, value: Buffer.from('x') }] });
  assert.equal(crit.ok, false);
  if (!crit.ok) assert.equal(crit.code, Code.BadOption);
  const elective = checkOptions({ ...base, options: [{ number: 2048, value: Buffer.from('x') }] });
  assert.ok(elective.ok);
  if (elective.ok) assert.equal(elective.options.length, 0);
  const badLen = checkOptions({ ...base, options: [{ number: OptionNumber.UriHost, value: Buffer.alloc(0) }] });
  assert.equal(badLen.ok, false);
  const repeated = checkOptions({
    ...base,
    options: [
      { number: OptionNumber.Accept, value: Buffer.from([0]) },
      { number: OptionNumber.Accept, value: Buffer.from([50]) },
    ],
  });
  assert.equal(repeated.ok, false);
  const maxAgeTwice = checkOptions({
    ...base,
    options: [
      { number: OptionNumber.MaxAge, value: Buffer.from([1]) },
      { number: OptionNumber.MaxAge, value: Buffer.from([2]) },
    ],
  });
  assert.ok(maxAgeTwice.ok);
  if (maxAgeTwice.ok) assert.equal(maxAgeTwice.options.length, 1);
});

test('uint and Block values (RFC 7252 §3.2, RFC 7959 §2.2)', () => {
  assert.equal(encodeUint(0).length, 0);
  assert.equal(encodeUint(255).toString('hex'), 'ff');
  assert.equal(encodeUint(256).toString('hex'), '0100');
  assert.equal(decodeUint(Buffer.from('010000', 'hex')), 65536);
  assert.deepEqual(decodeBlock(encodeBlock({ num: 5, more: true, szx: 2 })), { num: 5, more: true, szx: 2 });
  assert.deepEqual(decodeBlock(encodeBlock({ num: 0xfffff, more: false, szx: 6 })), {
    num: 0xfffff,
    more: false,
    szx: 6,
  });
  assert.throws(() => decodeBlock(Buffer.from([0x0f])), /reserved SZX 7/);
  assert.throws(() => decodeBlock(Buffer.alloc(4)), /4 bytes/);
});

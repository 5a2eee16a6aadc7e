/**
 * The EDHOC + OSCORE request codec (RFC 9668 §3.2.1): message_3 and the OSCORE ciphertext are
 * split by the CBOR byte-string header alone, and anything else is refused as malformed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { combineRequest, EDHOC_OPTION, splitCombinedPayload } from '../../src/oscore/combined.ts';
import { OscoreError } from '../../src/oscore/errors.ts';

const h = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

test('combineRequest adds the empty EDHOC option and prefixes message_3; split undoes it', () => {
  for (const m3 of [
    h('43 010203'),
    Buffer.concat([h('58 30'), Buffer.alloc(48, 7)]),
    Buffer.concat([h('59 0100'), Buffer.alloc(256, 9)]),
  ]) {
    const outer = { code: 2, options: [{ number: 9, value: h('0901') }], payload: h('aabbccdd') };
    const c = combineRequest(outer, m3);
    assert.deepEqual(c.options.at(-1), { number: EDHOC_OPTION, value: Buffer.alloc(0) });
    const { message3, rest } = splitCombinedPayload(c.payload);
    assert.deepEqual(message3, m3);
    assert.deepEqual(rest, outer.payload);
  }
});

test('splitCombinedPayload refuses what is not a byte string followed by ciphertext', () => {
  for (const bad of ['', '01 02', 'a1 00', '43 0102', '43 010203', '58', '59 00', '5a 00000001 00', '5f 41 00 ff']) {
    assert.throws(
      () => splitCombinedPayload(h(bad)),
      (e: unknown) => e instanceof OscoreError && e.kind === 'malformed',
      bad,
    );
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CborError, decodeSequence, encodeSequence } from '../../src/util/cbor.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('a CBOR sequence (RFC 8742) decodes item by item with each item’s own bytes', () => {
  // EDHOC message_1 of RFC 9529 §3: 3, [6, 2], h'8af6…', -24.
  const m1 = hex('03 82 06 02 58 20 8af6f430ebe18d34184017a9a11bf511c8dff8f834730b96c1b7c8dbca2fc3b6 37');
  const items = decodeSequence(m1);
  assert.equal(items.length, 4);
  assert.equal(items[0].value, 3);
  assert.deepEqual(items[1].value, [6, 2]);
  assert.equal((items[2].value as Buffer).length, 32);
  assert.equal(items[3].value, -24);
  assert.equal(items[1].bytes.toString('hex'), '820602');
  assert.equal(Buffer.concat(items.map((i) => i.bytes)).toString('hex'), m1.toString('hex'));
  assert.deepEqual(encodeSequence(items.map((i) => i.value)), m1);
});

test('the empty sequence is zero items; an incomplete last item is refused', () => {
  assert.deepEqual(decodeSequence(Buffer.alloc(0)), []);
  assert.throws(() => decodeSequence(hex('01 58 20 00')), CborError);
  assert.throws(() => decodeSequence(hex('01 ff')), CborError);
});

test('the number of top-level items is capped', () => {
  assert.equal(decodeSequence(Buffer.alloc(64)).length, 64);
  assert.throws(() => decodeSequence(Buffer.alloc(65)), /more than 64 items/);
  assert.equal(decodeSequence(Buffer.alloc(3), { maxSequenceItems: 3 }).length, 3);
});

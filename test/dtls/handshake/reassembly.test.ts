import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReassemblyBuffer } from '../../../src/dtls/handshake/reassembly.ts';
import type { HandshakeFragment } from '../../../src/dtls/wire/handshake.ts';

const body = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
const frag = (off: number, len: number, seq = 3, msgType = 16): HandshakeFragment => ({
  msgType,
  length: body.length,
  messageSeq: seq,
  fragmentOffset: off,
  fragment: body.subarray(off, off + len),
});

test('reassembly: out of order, duplicated and overlapping fragments', () => {
  const r = new ReassemblyBuffer();
  assert.ok(r.add(frag(60, 40), 3));
  assert.equal(r.take(3), undefined);
  assert.ok(r.add(frag(0, 30), 3));
  assert.ok(r.add(frag(0, 30), 3), 'duplicate');
  assert.equal(r.take(3), undefined, 'hole 30..60');
  assert.ok(r.add(frag(25, 40), 3), 'overlaps both neighbours');
  const m = r.take(3);
  assert.ok(m);
  assert.deepEqual(m.body, body);
  assert.equal(m.msgType, 16);
  assert.equal(r.size, 0);
});

test('reassembly: bounds — old, far-ahead, inconsistent and oversized fragments', () => {
  const r = new ReassemblyBuffer({ maxBufferedBytes: 150, maxAhead: 4, maxMessageLength: 1000 });
  assert.equal(r.add(frag(0, 10, 2), 3), false, 'older than expected');
  assert.equal(r.add(frag(0, 10, 8), 3), false, 'too far ahead');
  assert.ok(r.add(frag(0, 10, 3), 3));
  assert.equal(r.add(frag(10, 10, 3, 11), 3), false, 'different msg_type for the same message_seq');
  assert.equal(r.add({ ...frag(0, 10, 3), length: 50 }, 3), false, 'different length');
  assert.equal(r.add(frag(0, 10, 4), 3), false, 'would exceed the buffered-bytes bound');
  assert.throws(() => r.add({ ...frag(0, 10, 5), length: 5000 }, 3), /too large/);
  assert.equal(r.size, 100);
  r.discardBelow(4);
  assert.equal(r.size, 0);
});

test('reassembly: zero-length messages and findComplete', () => {
  const r = new ReassemblyBuffer();
  r.add({ msgType: 14, length: 0, messageSeq: 2, fragmentOffset: 0, fragment: Buffer.alloc(0) }, 0);
  r.add(frag(0, 100, 1, 2), 0);
  assert.equal(r.findComplete(2), 1);
  assert.equal(r.findComplete(14), 2);
  assert.equal(r.take(2)?.body.length, 0);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { LineBatch } from '../../src/cli/line-batch.ts';

test('lines pushed in one event-loop turn go out in one write, in order', async () => {
  const writes: string[] = [];
  const b = new LineBatch({ write: (c: string) => writes.push(c) });
  b.push('{"n":1}');
  b.push('{"n":2}');
  b.push('{"n":3}');
  assert.deepEqual(writes, [], 'nothing written before the turn ends');
  await turn();
  assert.deepEqual(writes, ['{"n":1}\n{"n":2}\n{"n":3}\n']);
  b.push('{"n":4}');
  await turn();
  assert.deepEqual(writes.slice(1), ['{"n":4}\n']);
});

test('a turn holds at most 64 KiB: past it the batch is written at once; flush() empties it', () => {
  const writes: string[] = [];
  const b = new LineBatch({ write: (c: string) => writes.push(c) });
  const line = 'x'.repeat(1023);
  for (let i = 0; i < 64; i++) b.push(line);
  assert.equal(writes.length, 1);
  assert.equal(writes[0].length, 64 * 1024);
  b.push('last');
  b.flush();
  assert.deepEqual(writes.slice(1), ['last\n']);
  b.flush();
  assert.equal(writes.length, 2, 'an empty flush writes nothing');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EpochMap } from '../../src/dtls/epoch-map.ts';

test('EpochMap: epochs 0 and 1 in fields, higher ones in a Map, like a Map to its users', () => {
  const m = EpochMap.of<string>('zero');
  assert.equal(m.get(0), 'zero');
  assert.equal(m.has(1), false);
  assert.equal(m.get(1), undefined);
  m.set(1, 'one').set(7, 'seven');
  assert.equal(m.get(1), 'one');
  assert.equal(m.get(7), 'seven');
  assert.equal(m.has(7), true);
  assert.equal(m.has(2), false);
  m.set(0, 'zero again');
  assert.equal(m.get(0), 'zero again');
  m.delete(0);
  m.delete(7);
  assert.equal(m.has(0), false);
  assert.equal(m.has(7), false);
  assert.equal(m.get(1), 'one', 'deleting other epochs leaves epoch 1');
  const seen: number[] = [];
  m.forEachEpoch((e) => seen.push(e));
  assert.deepEqual(seen, [1]);
});

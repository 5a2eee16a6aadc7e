import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Block1Assembler, Block2Cache, sliceBlock } from '../../src/coap/block.ts';
import { Code } from '../../src/coap/options.ts';

test('sliceBlock: block boundaries, the M flag, beyond the end', () => {
  const body = Buffer.alloc(100, 1);
  assert.equal(sliceBlock(body, 0, 1)?.more, true);
  assert.equal(sliceBlock(body, 0, 1)?.payload.length, 32);
  assert.equal(sliceBlock(body, 3, 1)?.payload.length, 4);
  assert.equal(sliceBlock(body, 3, 1)?.more, false);
  assert.equal(sliceBlock(body, 4, 1), undefined);
  assert.equal(sliceBlock(Buffer.alloc(64), 4, 0), undefined);
  assert.equal(sliceBlock(Buffer.alloc(64), 3, 0)?.more, false);
  assert.equal(sliceBlock(Buffer.alloc(0), 0, 0)?.more, false);
});

test('Block1Assembler: in-order reassembly, wrong sizes 4.00, gaps 4.08, body bound 4.13, total bound 5.03', () => {
  const a = new Block1Assembler(100, 60_000, 6, 150);
  const blk = (num: number, more: boolean) => ({ num, more, szx: 1 });
  assert.equal(a.accept('k', blk(0, true), Buffer.alloc(32), undefined).status, 'continue');
  assert.equal(a.accept('k', blk(1, true), Buffer.alloc(32), undefined).status, 'continue');
  const done = a.accept('k', blk(2, false), Buffer.alloc(5), undefined);
  assert.equal(done.status, 'complete');
  if (done.status === 'complete') assert.equal(done.body.length, 69);
  const short = a.accept('k', blk(0, true), Buffer.alloc(31), undefined);
  assert.equal(short.status === 'error' && short.code, Code.BadRequest);
  const gap = a.accept('g', blk(2, true), Buffer.alloc(32), undefined);
  assert.equal(gap.status === 'error' && gap.code, Code.RequestEntityIncomplete);
  for (let i = 0; i < 3; i++) a.accept('big', blk(i, true), Buffer.alloc(32), undefined);
  const big = a.accept('big', blk(3, true), Buffer.alloc(32), undefined);
  assert.equal(big.status === 'error' && big.code, Code.RequestEntityTooLarge);
  // Five uploads of 32 bytes each hold 160 > 150 bytes: the fifth is refused.
  const outcomes = ['p1', 'p2', 'p3', 'p4', 'p5'].map((k) => a.accept(k, blk(0, true), Buffer.alloc(32), undefined));
  assert.deepEqual(
    outcomes.map((o) => (o.status === 'error' ? o.code : o.status)),
    ['continue', 'continue', 'continue', 'continue', Code.ServiceUnavailable],
  );
  assert.equal(a.size, 4);
});

test('Block2Cache: bounded by bytes, oldest evicted first, entries expire', async () => {
  const c = new Block2Cache(60_000, 100, 250);
  for (const k of ['a', 'b', 'c']) c.set(k, { code: 69, body: Buffer.alloc(100) });
  assert.equal(c.get('a'), undefined, 'evicted when 300 bytes exceeded 250');
  assert.ok(c.get('b') && c.get('c'));
  const short = new Block2Cache(1);
  short.set('x', { code: 69, body: Buffer.alloc(1) });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(short.get('x'), undefined);
});

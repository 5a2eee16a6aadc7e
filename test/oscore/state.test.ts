/**
 * The OSCORE option codec's refusals, the replay window (RFC 8613 §7.4), sender sequence numbers
 * persisted ahead of use (Appendix B.1.1) and the Echo values of a context (RFC 9175).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { OscoreContext } from '../../src/oscore/context.ts';
import { OscoreError } from '../../src/oscore/errors.ts';
import { decodeOscoreOption, encodeOscoreOption, partialIvOf } from '../../src/oscore/option.ts';
import { ReplayWindow } from '../../src/oscore/replay.ts';
import { FileSequenceStore, MemorySequenceStore, SenderSequence } from '../../src/oscore/sequence.ts';

const h = (s: string) => Buffer.from(s, 'hex');

test('OSCORE option: round trip of every field combination', () => {
  for (const o of [
    {},
    { partialIv: h('14') },
    { partialIv: h('14'), kid: h('') },
    { partialIv: h('ffffffffff'), kid: h('01020304050607'), kidContext: h('37cbf3210017a2d3') },
    { kid: h('01') },
    { kidContext: h('') },
  ]) {
    const v = encodeOscoreOption(o);
    assert.deepEqual(decodeOscoreOption(v), o);
  }
  assert.equal(encodeOscoreOption({}).length, 0);
});

test('OSCORE option: malformed values are refused with 4.02, naming the fault', () => {
  const bad: [string, RegExp][] = [
    ['00', /all zero/],
    ['80', /extension/],
    ['20', /reserved flag/],
    ['40', /reserved flag/],
    ['06aabbccddeeff', /length 6 is reserved/],
    ['07', /length 7 is reserved/],
    ['02ff', /truncated/],
    ['0200ff', /leading zero/],
    ['1114', /kid context length missing/],
    ['111405aabb', /kid context of 5 bytes truncated/],
    ['0114aa', /1 bytes after/],
  ];
  for (const [hex, why] of bad) {
    assert.throws(
      () => decodeOscoreOption(h(hex)),
      (err: unknown) => err instanceof OscoreError && err.code === 130 && why.test(err.message),
      hex,
    );
  }
});

test('Partial IV: the shortest encoding of a sequence number', () => {
  assert.equal(partialIvOf(0).toString('hex'), '00');
  assert.equal(partialIvOf(20).toString('hex'), '14');
  assert.equal(partialIvOf(256).toString('hex'), '0100');
  assert.equal(partialIvOf(2 ** 40 - 1).toString('hex'), 'ffffffffff');
  assert.throws(() => partialIvOf(2 ** 40), RangeError);
});

test('replay window: duplicates and Partial IVs below the window are refused, reordering within it is not', () => {
  const w = new ReplayWindow();
  for (const s of [0, 1, 5, 3]) {
    assert.equal(w.isFresh(s), true, `first ${s}`);
    w.accept(s);
  }
  for (const s of [0, 1, 3, 5]) assert.equal(w.isFresh(s), false, `again ${s}`);
  assert.equal(w.isFresh(2), true);
  assert.equal(w.isFresh(4), true);
  w.accept(100);
  assert.equal(w.isFresh(68), false, 'outside the 32-wide window');
  assert.equal(w.isFresh(69), true);
  assert.equal(w.isFresh(100), false);
  const unknown = new ReplayWindow(false);
  assert.equal(unknown.isFresh(7), false, 'nothing is fresh before an Echo');
  unknown.reset(7);
  assert.equal(unknown.isFresh(7), false);
  assert.equal(unknown.isFresh(8), true);
});

test('sender sequence: a restart resumes above every number that may have been used', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'oscore-seq-'));
  try {
    const path = join(dir, 'seq.json');
    const s1 = await SenderSequence.open(new FileSequenceStore(path), 'ctx', 10);
    const used: number[] = [];
    for (let i = 0; i < 13; i++) used.push(await s1.next());
    assert.deepEqual(used, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { ctx: 20 });
    // "Crash" without any further write: the next process must not reuse 0..12.
    const s2 = await SenderSequence.open(new FileSequenceStore(path), 'ctx', 10);
    const first = await s2.next();
    assert.equal(first, 20);
    assert.deepEqual(JSON.parse(await readFile(path, 'utf8')), { ctx: 30 });
    // Concurrent takers never get the same number.
    const many = await Promise.all(Array.from({ length: 25 }, () => s2.next()));
    assert.equal(new Set(many).size, 25);
    assert.ok(Math.min(...many) > first);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sender sequence: a store that cannot persist stops the sender instead of risking nonce reuse', async () => {
  const store = new MemorySequenceStore();
  store.save = async () => {
    throw new Error('disk full');
  };
  const s = await SenderSequence.open(store, 'k', 4);
  await assert.rejects(s.next(), (err: unknown) => err instanceof OscoreError && /disk full/.test(err.message));
});

test('context: Echo values are single-use and expire', async () => {
  const ctx = await OscoreContext.create({ masterSecret: h('01'.repeat(16)), senderId: h('01'), recipientId: h('') });
  assert.equal(ctx.identity.kid, '');
  assert.equal(ctx.identity.ownId, '01');
  const e = ctx.issueEcho(1000);
  assert.equal(ctx.takeEcho(h('00'.repeat(8)), 1000), false);
  assert.equal(ctx.takeEcho(e, 1001), true);
  assert.equal(ctx.takeEcho(e, 1001), false, 'single use');
  const late = ctx.issueEcho(1000);
  assert.equal(ctx.takeEcho(late, 1000 + 60_001), false, 'expired');
  await assert.rejects(
    OscoreContext.create({ masterSecret: h('01'), senderId: h('0102030405060708'), recipientId: h('') }),
    /sender ID of 8 bytes/,
  );
});

test('resolved contexts: revalidated after revalidateMs — kept while the key holds, replaced or dropped when it changes', async () => {
  const { OscoreServerContexts } = await import('../../src/oscore/server.ts');
  const { protectRequest } = await import('../../src/oscore/protect.ts');
  const params = (secret: string, role: 'client' | 'server') => ({
    masterSecret: h(secret),
    senderId: role === 'client' ? h('01') : h(''),
    recipientId: role === 'client' ? h('') : h('01'),
    idContext: h('d1'),
  });
  let serverSecret: string | undefined = 'aa'.repeat(16);
  let lookups = 0;
  const table = new OscoreServerContexts([], {
    revalidateMs: 0,
    resolve: async () => {
      lookups++;
      return serverSecret ? OscoreContext.create(params(serverSecret, 'server')) : undefined;
    },
  });
  const client = await OscoreContext.create(params('aa'.repeat(16), 'client'));
  const send = async () => {
    const { outer } = protectRequest(client.sender, await client.nextPartialIv(), {
      code: 2,
      options: [],
      payload: Buffer.from('x'),
    });
    return table.unprotect({ type: 'CON', messageId: 1, token: h(''), ...outer });
  };
  assert.equal((await send()).status, 'ok');
  assert.equal((await send()).status, 'ok', 'same key: the context (and its replay window) is kept');
  assert.equal(lookups, 2);
  serverSecret = 'bb'.repeat(16);
  const rekeyed = await send();
  assert.equal(rekeyed.status === 'error' && rekeyed.error.kind, 'decrypt', 'the old key no longer works');
  serverSecret = undefined;
  const removed = await send();
  assert.equal(removed.status === 'error' && removed.error.kind, 'unknown-context');
  assert.equal(table.size, 0);
});

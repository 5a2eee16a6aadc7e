/** The agent's state file, its security flags and its bounded queue. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseSecurityFlags } from '../../src/cli/device-security.ts';
import { parsePskFlag } from '../../src/cli/security-flags.ts';
import { SampleQueue } from '../../src/device/queue.ts';
import { type AgentState, clearState, decodeState, encodeState, loadState, saveState } from '../../src/device/state.ts';
import { pskLookup } from '../../src/dtls/credentials/psk.ts';

const session = {
  id: Buffer.alloc(32, 7),
  masterSecret: Buffer.alloc(48, 9),
  cipherSuite: 0xc0a8,
  extendedMasterSecret: true,
  identity: { mode: 'psk', identity: 'dev1' },
  createdAt: 1_700_000_000_000,
};
const state: AgentState = {
  savedAt: 1,
  session: { server: '127.0.0.1:5684', credentials: 'abc', session },
  queue: [
    { time: 1_700_000_000_000, readings: [{ name: 'temperature', value: 21.5, unit: 'Cel' }] },
    { time: 1_700_000_010_000, readings: [{ name: 'load', value: 3, unit: '' }] },
  ],
};

test('state round trip keeps every Buffer and field of the session', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'securesense-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 's.json');
  assert.equal(await loadState(file), undefined);
  await saveState(file, state);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const back = await loadState(file);
  assert.deepEqual(back, state);
  assert.ok(back?.session && Buffer.isBuffer((back.session.session as unknown as typeof session).masterSecret));
  // Rewriting replaces the file (atomic rename), still 0600.
  await saveState(file, { ...state, savedAt: 2 });
  assert.equal((await loadState(file))?.savedAt, 2);
  await clearState(file);
  assert.equal(await loadState(file), undefined);
  await clearState(file); // twice is fine
});

test('a state file others can read, or a malformed one, is refused with a clear message', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'securesense-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 's.json');
  writeFileSync(file, encodeState(state), { mode: 0o644 });
  chmodSync(file, 0o644);
  await assert.rejects(loadState(file), /readable by others.*chmod 600/);
  chmodSync(file, 0o600);
  assert.ok(await loadState(file));
  for (const [text, msg] of [
    ['not json', /not JSON/],
    ['[]', /not a JSON object/],
    ['{"version":99}', /version 99/],
    ['{"version":1}', /savedAt missing/],
    ['{"version":1,"savedAt":1,"session":{"server":"x"}}', /server or credentials missing/],
    ['{"version":1,"savedAt":1,"session":{"server":"x","credentials":"y","session":{}}}', /without an ID/],
    [
      '{"version":1,"savedAt":1,"session":{"server":"x","credentials":"y","session":{"id":{"$base64":""}}}}',
      /1\.\.32 bytes/,
    ],
    [
      '{"version":1,"savedAt":1,"session":{"server":"x","credentials":"y","session":{"id":{"$base64":"!!"}}}}',
      /base64/,
    ],
    ['{"version":1,"savedAt":1,"queue":{}}', /not a list/],
    ['{"version":1,"savedAt":1,"queue":[{"time":1}]}', /queue\[0\]: time or readings missing/],
    ['{"version":1,"savedAt":1,"queue":[{"time":1,"readings":[{"name":"a","value":"x"}]}]}', /readings\[0\]/],
  ] as const) {
    assert.throws(() => decodeState(text), msg);
  }
  writeFileSync(file, 'garbage', { mode: 0o600 });
  await assert.rejects(loadState(file), new RegExp(`state file ${file}: not JSON`));
});

test('--psk parsing and the server-side lookup', () => {
  assert.deepEqual(parsePskFlag('dev:1:0a0b'), { identity: 'dev:1', key: Buffer.from([10, 11]) });
  assert.throws(() => parsePskFlag('nokey'), /ID:HEX/);
  assert.throws(() => parsePskFlag(':0a'), /ID:HEX/);
  assert.throws(() => parsePskFlag('dev:0a0'), /even number of hex/);
  assert.throws(() => parsePskFlag(`${'x'.repeat(129)}:0a`), /128 bytes/);
  const sec = parseSecurityFlags({ psk: ['a:01', 'b:02'] });
  assert.deepEqual(sec.client, { psk: { identity: 'a', key: Buffer.from([1]) } });
  const lookup = pskLookup(sec.psks);
  const peer = { address: '127.0.0.1', port: 1, family: 'IPv4' as const };
  assert.deepEqual(lookup('b', peer), Buffer.from([2]));
  assert.equal(lookup('c', peer), undefined);
  assert.throws(() => parseSecurityFlags({ psk: ['a:01', 'a:02'] }), /given twice/);
  assert.throws(() => parseSecurityFlags({ cert: '/nonexistent.pem' }), /--cert and --key go together/);
  assert.equal(parseSecurityFlags({}).client, undefined);
});

test('the sample queue is bounded and drops the oldest', () => {
  const q = new SampleQueue(3);
  const mk = (seq: number) => ({ seq, time: new Date(seq), readings: [] });
  const items = [1, 2, 3, 4, 5].map(mk);
  const dropped = items.map((s) => q.push(s)?.seq);
  assert.deepEqual(dropped, [undefined, undefined, undefined, 1, 2]);
  assert.equal(q.length, 3);
  assert.equal(q.dropped, 2);
  assert.equal(q.peek()?.seq, 3);
  q.remove(items[2]);
  assert.equal(q.peek()?.seq, 4);
  q.remove(items[0]); // already gone: no effect
  assert.equal(q.length, 2);
  assert.throws(() => new SampleQueue(0), RangeError);
});

/** `securesense device add|list|remove` against a running platform's HTTP API. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runWith } from '../../src/cli/device-credentials.ts';
import { makeTempPki } from '../support/pki.ts';
import { target } from './engines.ts';
import { newResource, newUser, startPlatform } from './helpers.ts';

test('device add (psk, rpk, x509), list without keys, remove; bad usage and refusals exit non-zero', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'ann');
  const a = await newResource(p.base, uid, token, 'A');
  const pki = await makeTempPki(t);
  const rpkFile = join(pki.dir, 'dev.pub');
  writeFileSync(rpkFile, pki.rpkClient.spkiPem);

  const cli = async (sub: string, args: string[], env: NodeJS.ProcessEnv = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runWith(sub, args, { out: (l) => out.push(l), err: (l) => err.push(l) }, env);
    return { code, out, err: err.join('\n') };
  };
  const common = ['--api', p.base, '--user', String(uid), '--resource', String(a.rid)];

  const psk = await cli('add', [...common, '--token', token, '--psk-identity', 'cli-dev', '--label', 'hall']);
  assert.equal(psk.code, 0, psk.err);
  const made = JSON.parse(psk.out[0]);
  assert.match(made.psk_key, /^[0-9a-f]{32}$/);
  assert.deepEqual(await p.devices.pskKey('cli-dev'), Buffer.from(made.psk_key, 'hex'));

  // The token may come from the environment.
  const rpk = await cli('add', [...common, '--rpk', rpkFile], { SECURESENSE_TOKEN: token });
  assert.equal(rpk.code, 0, rpk.err);
  assert.equal(JSON.parse(rpk.out[0]).rpk_fingerprint, pki.rpkClient.fingerprint);
  const x509 = await cli('add', [...common, '--token', token, '--x509-name', 'CN=device-1', '--ca', pki.root.cert]);
  assert.equal(x509.code, 0, x509.err);

  const list = await cli('list', [...common, '--token', token]);
  assert.equal(list.code, 0, list.err);
  assert.deepEqual(
    list.out.map((l) => JSON.parse(l).mode),
    ['psk', 'rpk', 'x509'],
  );
  assert.equal(list.out.join('').includes(made.psk_key), false, 'the key is never listed');

  const rm = await cli('remove', [...common, '--token', token, '--id', String(made.id)]);
  assert.equal(rm.code, 0, rm.err);
  assert.equal(await p.devices.pskKey('cli-dev'), undefined);

  // Refusals and bad usage.
  const dup = await cli('add', [...common, '--token', token, '--rpk', rpkFile]);
  assert.equal(dup.code, 1);
  assert.match(dup.err, /HTTP 409/);
  const bob = await newUser(p.base, 'bob');
  const other = await cli('list', [...common, '--token', bob.token]);
  assert.equal(other.code, 1);
  assert.match(other.err, /HTTP 403/);
  assert.equal((await cli('add', [...common, '--token', token])).code, 2);
  assert.equal((await cli('add', [...common, '--token', token, '--psk-identity', 'x', '--rpk', rpkFile])).code, 2);
  assert.equal((await cli('list', ['--api', p.base, '--user', String(uid)])).code, 2);
  assert.equal((await cli('remove', [...common, '--token', token])).code, 2);
  assert.equal((await cli('add', [...common, '--token', token, '--bogus'])).code, 2);
});

/**
 * `npm start` keeps the demo user's token across restarts: the token of the first start works
 * after a restart on the same data directory (it is kept in DATA/demo-token.json, mode 0600), and
 * an explicit rotation of the default token is not undone by the next start (which makes its own
 * named token instead).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { launchFor } from '../support/peers.ts';

const BIN = new URL('../../bin/securesense.mjs', import.meta.url).pathname;

/** One `securesense start` on `dir`: its HTTP base and token once it is up, and a clean stop. */
async function start(t: TestContext, dir: string) {
  const args = ['--data', dir, '--http-port', '0', '--coap-port', '0', '--coaps-port', '0', '--report', '600'];
  // Generous bounds: four starts on a shared, loaded 2-core machine; each step has its own, below
  // the test's, so that a step that hangs fails with the server's output rather than a bare timeout.
  const p = launchFor(t, process.execPath, [BIN, 'start', ...args], { timeoutMs: 180_000 });
  const token = (await p.waitFor(/token\s+sst_\S+/, 90_000)).split(/\s+/)[1];
  const base = (await p.waitFor(/HTTP API\s+http:\/\/\S+/)).split(/\s+/).at(-1) as string;
  return {
    token,
    base,
    async stop() {
      p.proc.kill('SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        p.exited,
        new Promise<'still running'>((r) => {
          timer = setTimeout(() => r('still running'), 60_000);
        }),
      ]);
      clearTimeout(timer);
      // A death by signal names the signal, so that a crash at shutdown can be told from a refusal.
      assert.equal(code, 0, `exit ${code} signal ${p.proc.signalCode}\nstderr:\n${p.stderr()}\nstdout:\n${p.stdout()}`);
    },
  };
}

async function me(base: string, token: string): Promise<{ status: number; id?: number; username?: string }> {
  const r = await fetch(`${base}/users/me`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await r.json()) as { id?: number; username?: string };
  return { status: r.status, ...body };
}

test('npm start: the demo token survives a restart; an explicit rotation is not undone by the next start', {
  timeout: 400_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-start-token-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const first = await start(t, dir);
  const who = await me(first.base, first.token);
  assert.equal(who.status, 200);
  assert.equal(who.username, 'demo');
  const file = join(dir, 'demo-token.json');
  assert.equal(statSync(file).mode & 0o777, 0o600, 'readable by its owner only');
  const kept = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(kept.token, first.token);
  assert.match(kept.about, /API token of the demo user/);
  await first.stop();

  const second = await start(t, dir);
  assert.equal(second.token, first.token, 'the same token after a restart');
  assert.equal((await me(second.base, first.token)).status, 200, 'and it works');

  // Rotation stays explicit: rotating the default token ends the old one…
  const rot = await fetch(`${second.base}/users/${who.id}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${first.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ rotate_token: true }),
    signal: AbortSignal.timeout(30_000),
  });
  assert.equal(rot.status, 200);
  const rotated = ((await rot.json()) as { token: string }).token;
  assert.equal((await me(second.base, first.token)).status, 401);
  await second.stop();

  // …and the next start neither revives it nor rotates the new one: it makes a token of its own.
  const third = await start(t, dir);
  assert.notEqual(third.token, first.token);
  assert.notEqual(third.token, rotated);
  assert.equal((await me(third.base, third.token)).status, 200);
  assert.equal((await me(third.base, rotated)).status, 200, 'the explicitly rotated token still works');
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).token, third.token);
  await third.stop();

  const fourth = await start(t, dir);
  assert.equal(fourth.token, third.token, 'and that one is kept from then on');
  await fourth.stop();
});

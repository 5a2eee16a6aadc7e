/**
 * A real platform restart: `securesense serve` is killed with SIGKILL while an RPK device pushes
 * over OSCORE keyed by EDHOC (`device run --oscore --edhoc`), then started again on the same store
 * and coap:// port. The EDHOC-made contexts were never persisted (RFC 8613 §7.5, Appendix B.1: a
 * context whose sequence numbers and replay window cannot be trusted after a reboot must not be
 * reused), so the device's next push meets 4.01 "Security context not found", it runs EDHOC again
 * on its own and its readings arrive again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { call, newResource, newUser } from '../platform/helpers.ts';
import { CLI_BIN, jsonLines, spawnCli } from '../support/cli.ts';
import { launchFor, type Peer } from '../support/peers.ts';
import { makeTempPki } from '../support/pki.ts';

async function serve(
  t: TestContext,
  db: string,
  rpkKey: string,
  coapPort: number,
): Promise<{ peer: Peer; http: string; coap: string }> {
  const args = [CLI_BIN, 'serve', '--host', '127.0.0.1', '--log-level', 'warn', '--db', db, '--no-poller'];
  args.push('--http-port', '0', '--coap-port', String(coapPort), '--coaps-port', '0', '--rpk-key', rpkKey);
  const peer = launchFor(t, process.execPath, args, { timeoutMs: 90_000 });
  const line = await peer.waitFor(/\{"event":"listening"[^\n]*\}/, 20_000);
  const ev = JSON.parse(line) as { http: string; coap: string };
  return { peer, http: ev.http, coap: ev.coap };
}

async function until(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('serve killed with SIGKILL and restarted: the EDHOC device meets 4.01, keys again, and its pushes arrive', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-edhoc-restart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pki = await makeTempPki(t);
  const db = join(dir, 'platform.db');
  const first = await serve(t, db, pki.rpkServer.key, 0);
  const port = Number(new URL(first.coap).port);
  const { uid, token } = await newUser(first.http, 'restart-owner');
  const { rid } = await newResource(first.http, uid, token, 'restart room');
  const bound = await call(first.http, 'POST', `/users/${uid}/resources/${rid}/devices`, {
    token,
    body: { mode: 'rpk', rpk: pki.rpkClient.spkiPem },
  });
  assert.equal(bound.status, 201, bound.text);

  const push = `coap://127.0.0.1:${port}/users/${uid}/resources/${rid}/data`;
  const device = spawnCli(
    t,
    ['device', 'run', '--push', push, '--oscore', '--edhoc', '--sensors', 'temperature', '--interval', '0.2'].concat([
      '--rpk-key',
      pki.rpkClient.key,
      '--trust-rpk',
      pki.rpkServer.spki,
    ]),
    { timeoutMs: 90_000 },
  );
  await device.waitFor('"event":"sent"', 20_000);

  first.peer.proc.kill('SIGKILL');
  assert.equal(await first.peer.exited, null, 'killed by the signal, no clean stop');
  const killedAt = jsonLines(device.stdout()).length;
  const restartedAt = Date.now();
  const second = await serve(t, db, pki.rpkServer.key, port);

  await until('a push after a second EDHOC run', () => {
    const lines = jsonLines(device.stdout());
    const again = lines.map((l) => l.event).lastIndexOf('edhoc');
    return again >= killedAt && lines.slice(again).some((l) => l.event === 'sent');
  });
  const after = jsonLines(device.stdout()).slice(killedAt);
  const refused = after.find((l) => l.event === 'error' && String(l.message).includes('4.01'));
  assert.ok(refused, `the first push to the restarted platform met 4.01: ${JSON.stringify(after)}`);
  assert.match(String(refused.message), /Security context not found/);
  assert.equal(jsonLines(device.stdout()).filter((l) => l.event === 'edhoc').length, 2);

  // The readings pushed after the restart are in the store, under the same resource.
  const streams = await call(second.http, 'GET', `/users/${uid}/resources/${rid}/streams`, { token });
  assert.equal(streams.status, 200, streams.text);
  const [stream] = streams.json as Array<{ id: number; label: string }>;
  assert.equal(stream.label, 'temperature');
  const points = await call(second.http, 'GET', `/users/${uid}/resources/${rid}/streams/${stream.id}/data`, { token });
  const times = (points.json as { points: Array<{ time: number }> }).points.map((x) => x.time);
  assert.ok(times.filter((x) => x >= restartedAt).length >= 1, `a point pushed after the restart: ${points.text}`);
  device.proc.kill('SIGINT');
  await device.exited;
});

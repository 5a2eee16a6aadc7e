/**
 * `securesense coap … --edhoc` against `securesense edhoc server`, both as users run them: EDHOC at
 * /.well-known/edhoc, then the request over the OSCORE context it keyed (separately, as the EDHOC +
 * OSCORE request, through `coap proxy`, and observing); an unknown key is refused with the EDHOC
 * error; the server keeps at most --max-contexts contexts. And a real restart: the server process
 * is killed with SIGKILL and started again on its port, and the observing client meets 4.01
 * "Security context not found", runs EDHOC again and goes on receiving notifications.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonLines, runCli, spawnCli, startCli } from '../support/cli.ts';
import { makeTempPki, type TempPki } from '../support/pki.ts';

function server(pki: TempPki, port: number | string, extra: string[] = []): string[] {
  return [
    'edhoc',
    'server',
    '--port',
    String(port),
    '--key',
    pki.rpkServer.key,
    '--trust-rpk',
    pki.rpkClient.spki,
    ...extra,
  ];
}

const client = (pki: TempPki, key = pki.rpkClient.key) => [
  '--edhoc',
  '--rpk-key',
  key,
  '--trust-rpk',
  pki.rpkServer.spki,
];

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('coap --edhoc: EDHOC, then the request over OSCORE; combined through the proxy; observe; refusals; capped contexts', async (t) => {
  const pki = await makeTempPki(t);
  const srv = await startCli(t, server(pki, 0, ['--max-contexts', '2']));
  const { port } = jsonLines(srv.stdout())[0] as { port: number };
  const base = `coap://127.0.0.1:${port}`;

  const get = await runCli(['coap', 'get', `${base}/time`, ...client(pki)]);
  assert.equal(get.code, 0, get.stderr);
  const [keyed, res] = jsonLines(get.stdout);
  assert.equal(keyed.event, 'edhoc');
  assert.equal(keyed.combined, false);
  assert.equal(res.code, '2.05');
  await srv.waitFor('"path":"/time"', 5_000);
  const req = jsonLines(srv.stdout()).find((l) => l.event === 'request') as { oscore: { kid: string } };
  assert.equal(req.oscore.kid, keyed.senderId, 'the server saw the request under the EDHOC-made context');

  // The EDHOC + OSCORE request (RFC 9668) through the forward proxy.
  const proxy = await startCli(t, ['coap', 'proxy', '--host', '127.0.0.1', '--port', '0']);
  const proxyPort = (jsonLines(proxy.stdout())[0] as { coap: { port: number } }).coap.port;
  const post = await runCli([
    'coap',
    'post',
    `${base}/echo`,
    '-e',
    'hello over EDHOC',
    ...client(pki),
    '--edhoc-combined',
    '--proxy',
    `coap://127.0.0.1:${proxyPort}`,
  ]);
  assert.equal(post.code, 0, post.stderr);
  const [combined, echoed] = jsonLines(post.stdout);
  assert.equal(combined.combined, true);
  assert.equal(echoed.payload, 'hello over EDHOC');
  const forwards = jsonLines(proxy.stdout()).filter((l) => l.event === 'forward');
  assert.equal(forwards.length, 2, 'message_1, then the request carrying message_3: two round trips');
  assert.equal(proxy.stdout().includes('hello over EDHOC'), false);

  // Observe under the context.
  const obs = await runCli(['coap', 'get', `${base}/counter`, '-s', '2.5', ...client(pki)]);
  assert.equal(obs.code, 0, obs.stderr);
  assert.ok(jsonLines(obs.stdout).filter((l) => l.event === 'notification').length >= 1, obs.stdout);

  // A key the server does not trust: EDHOC error 3 (unknown credential), separately and combined.
  for (const extra of [[], ['--edhoc-combined']]) {
    const refused = await runCli(['coap', 'get', `${base}/time`, ...client(pki, pki.rpkStranger.key), ...extra]);
    assert.equal(refused.code, 1, refused.stdout);
    const err = jsonLines(refused.stdout).find((l) => l.event === 'error');
    assert.equal(err?.error, 'edhoc');
    assert.match(String(err?.message), /EDHOC error 3/);
  }
  // Usage: --edhoc over coaps://, or without a credential.
  assert.equal((await runCli(['coap', 'get', `coaps://127.0.0.1:${port}/time`, ...client(pki)])).code, 2);
  assert.equal((await runCli(['coap', 'get', `${base}/time`, '--edhoc', '--trust-rpk', pki.rpkServer.spki])).code, 2);

  srv.proc.kill('SIGTERM');
  await srv.exited;
  const stats = jsonLines(srv.stderr()).find((l) => l.event === 'stats') as Record<string, number>;
  assert.equal(stats.contexts, 2, 'at most --max-contexts');
  assert.equal(stats.contextsEvicted, 1, 'three exchanges completed, one context evicted');
});

test('edhoc server killed with SIGKILL and restarted: the observing coap --edhoc client meets 4.01 and keys again', async (t) => {
  const pki = await makeTempPki(t);
  const first = await startCli(t, server(pki, 0));
  const { port } = jsonLines(first.stdout())[0] as { port: number };
  const obs = spawnCli(t, ['coap', 'get', `coap://127.0.0.1:${port}/time`, '-s', '25', ...client(pki)], {
    timeoutMs: 60_000,
  });
  await obs.waitFor('"event":"notification"', 15_000);
  first.proc.kill('SIGKILL');
  assert.equal(await first.exited, null, 'killed, not stopped');
  // Nothing was persisted: the new process knows no context.
  const second = await startCli(t, server(pki, port));
  await until('a notification after a second EDHOC run', () => {
    const lines = jsonLines(obs.stdout());
    const again = lines.map((l) => l.event).lastIndexOf('edhoc');
    return again > 0 && lines.slice(again).some((l) => l.event === 'notification');
  });
  const lines = jsonLines(obs.stdout());
  const end = lines.find((l) => l.event === 'end');
  assert.equal(end?.code, '4.01');
  assert.equal(end?.payload, 'Security context not found');
  assert.equal(lines.filter((l) => l.event === 'edhoc').length, 2);
  assert.ok(
    jsonLines(second.stdout()).some((l) => l.event === 'edhoc'),
    'the restarted server keyed a new context',
  );
  obs.proc.kill('SIGINT');
});

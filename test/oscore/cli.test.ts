/**
 * `securesense coap serve --oscore`, `coap post --oscore … --proxy` and `coap proxy` as processes:
 * a protected POST through the proxy reaches the demo server's /echo, which names the OSCORE
 * identity; a second run resumes its sender sequence from the file beside the context.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { jsonLines, runCli, startCli } from '../support/cli.ts';
import { freeUdpPort } from '../support/ports.ts';

test('coap serve/post --oscore through coap proxy', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'oscore-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const secret = randomBytes(16).toString('hex');
  const clientFile = join(dir, 'client.json');
  const serverFile = join(dir, 'server.json');
  await writeFile(clientFile, JSON.stringify({ masterSecret: secret, senderId: '01', recipientId: '' }));
  await writeFile(serverFile, JSON.stringify({ masterSecret: secret, senderId: '', recipientId: '01' }));
  const port = await freeUdpPort();
  const proxyPort = await freeUdpPort();
  const server = await startCli(
    t,
    ['coap', 'serve', '--host', '127.0.0.1', '--port', String(port), '--oscore', serverFile],
    {
      timeoutMs: 40_000,
      readyTimeoutMs: 15_000,
    },
  );
  const proxy = await startCli(t, ['coap', 'proxy', '--host', '127.0.0.1', '--port', String(proxyPort)], {
    timeoutMs: 40_000,
    readyTimeoutMs: 15_000,
  });
  const args = ['coap', 'post', `coap://127.0.0.1:${port}/echo`, '-e', 'sealed text', '--oscore', clientFile];
  let r = await runCli([...args, '--proxy', `coap://127.0.0.1:${proxyPort}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(jsonLines(r.stdout)[0].payload, 'sealed text');
  await server.waitFor('"oscore":{"kid":"01"');
  // The proxy's line names the target and the outer POST, nothing of the inner request.
  await proxy.waitFor('"event":"forward"');
  assert.equal(proxy.stdout().includes('sealed text'), false);
  assert.equal(proxy.stdout().includes('echo'), false);
  // The bound persisted ahead of use: the next run starts above it.
  const bound1 = Object.values(JSON.parse(await readFile(`${clientFile}.seq`, 'utf8')))[0] as number;
  assert.ok(bound1 > 0);
  r = await runCli(args);
  assert.equal(r.code, 0, r.stderr);
  const bound2 = Object.values(JSON.parse(await readFile(`${clientFile}.seq`, 'utf8')))[0] as number;
  assert.ok(bound2 > bound1, 'the second run reserved numbers above the first run’s');
  // A context file with a bad field is a usage error naming it.
  await writeFile(join(dir, 'bad.json'), JSON.stringify({ masterSecret: 'zz', senderId: '', recipientId: '01' }));
  r = await runCli(['coap', 'get', `coap://127.0.0.1:${port}/time`, '--oscore', join(dir, 'bad.json')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /masterSecret must be a hex string/);
});

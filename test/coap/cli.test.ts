import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { largeBody } from '../../src/coap/demo.ts';
import { jsonLines, pkiFlags, runCli, startCli } from '../support/cli.ts';
import { makeTempPki } from '../support/pki.ts';
import { freeUdpPort } from '../support/ports.ts';

const cli = (args: string[]) => runCli(['coap', ...args]);
const lines = jsonLines;

test('securesense coap serve + get/post/put/-s/-v over coap:// and coaps:// (PSK)', async (t) => {
  const port = await freeUdpPort();
  const dtlsPort = await freeUdpPort();
  const psk = `cli-dev:${Buffer.from('cli-secret-key!!').toString('hex')}`;
  const server = await startCli(
    t,
    ['coap', 'serve', '--host', '127.0.0.1', '--port', String(port), '--dtls-port', String(dtlsPort), '--psk', psk],
    { timeoutMs: 50_000, readyTimeoutMs: 15_000 },
  );
  const base = `coap://127.0.0.1:${port}`;

  let r = await cli(['get', `${base}/large`, '-v']);
  assert.equal(r.code, 0, r.stderr);
  const [ev] = lines(r.stdout);
  assert.equal(ev.code, '2.05');
  assert.equal(ev.payload, largeBody().toString());
  assert.ok((ev.options as { name: string }[]).some((o) => o.name === 'Size2'));

  r = await cli(['post', `${base}/echo`, '-e', 'hi there', '-t', 'text/plain']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(lines(r.stdout)[0].payload, 'hi there');

  r = await cli(['put', `coaps://127.0.0.1:${dtlsPort}/echo`, '-e', 'secret', '--psk', psk, '-b', '16']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(lines(r.stdout)[0].payload, 'secret');
  await server.waitFor('"identity":"cli-dev"');

  r = await cli(['get', `${base}/counter`, '-s', '2.5']);
  assert.equal(r.code, 0, r.stderr);
  const evs = lines(r.stdout);
  assert.equal(evs[0].event, 'response');
  assert.ok(evs.filter((e) => e.event === 'notification').length >= 2, r.stdout);

  r = await cli(['get', `${base}/missing`]);
  assert.equal(r.code, 1);
  assert.equal(lines(r.stdout)[0].code, '4.04');

  // A closed port answers with ICMP port-unreachable: exit 1 at once (see the unreachable test).
  const closed = await freeUdpPort();
  r = await cli(['get', `coap://127.0.0.1:${closed}/x`, '--timeout', '1']);
  assert.equal(r.code, 1, r.stderr);

  // --timeout takes the unit every client takes: 30s, 500ms, or plain seconds; others exit 2.
  r = await cli(['get', `${base}/missing`, '--timeout', '5000ms']);
  assert.equal(lines(r.stdout)[0].code, '4.04', r.stderr); // an answer: the flag was taken
  r = await cli(['get', `${base}/x`, '--timeout', 'soon']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--timeout must be a duration/);

  r = await cli(['get', `${base}/x`, '-e', 'a', '-f', 'b']);
  assert.equal(r.code, 2, 'a usage error');
  assert.match(r.stderr, /exclude/);

  // The security flags are checked for the client's role, each error naming its flag.
  for (const [flags, msg] of [
    [['--psk', 'a:01', '--hint', 'h'], /--hint is a server flag/],
    [['--psk', 'a:01', '--client-auth', 'need'], /--client-auth is a server flag/],
    [['--rpk-key', '/nonexistent/k.pem', '--trust-rpk', '/nonexistent/s.pem'], /--rpk-key: .*\/nonexistent\/k\.pem/],
    [['--psk', 'a:01', '--mtu', '10'], /--mtu must be an integer in 64\.\.65507/],
  ] as const) {
    r = await cli(['get', 'coaps://127.0.0.1:9/x', ...flags]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, msg);
    assert.equal(r.stdout, '');
  }
});

test('securesense coap over coaps:// with X.509 and raw public keys (mutual authentication)', async (t) => {
  const pki = await makeTempPki(t);
  const port = await freeUdpPort();
  const dtlsPort = await freeUdpPort();
  const server = await startCli(
    t,
    [
      'coap',
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--dtls-port',
      String(dtlsPort),
      ...pkiFlags.server(pki),
    ],
    { timeoutMs: 50_000, readyTimeoutMs: 15_000 },
  );
  const uri = `coaps://127.0.0.1:${dtlsPort}/echo`;

  let r = await cli(['post', uri, '-e', 'by certificate', '-v', ...pkiFlags.x509Client(pki)]);
  assert.equal(r.code, 0, r.stderr);
  let [ev] = lines(r.stdout);
  assert.equal(ev.payload, 'by certificate');
  assert.deepEqual((ev.identity as { mode: string; subject: string }).subject, 'CN=localhost');
  await server.waitFor('"subject":"CN=device-1"');

  r = await cli(['post', uri, '-e', 'by raw key', '-v', ...pkiFlags.rpkClient(pki)]);
  assert.equal(r.code, 0, r.stderr);
  [ev] = lines(r.stdout);
  assert.equal(ev.payload, 'by raw key');
  assert.deepEqual(ev.identity, { mode: 'rpk', fingerprint: pki.rpkServer.fingerprint });
  await server.waitFor(pki.rpkClient.fingerprint);

  // A server key we do not trust: the handshake fails, no CoAP exchange, non-zero exit.
  r = await cli(['get', uri, '--rpk-key', pki.rpkClient.key, '--trust-rpk', pki.rpkStranger.spki, '--timeout', '10']);
  assert.notEqual(r.code, 0);
});

/** How long `securesense --version` takes here and now: the start-up every CLI run pays. */
async function startupMs(): Promise<number> {
  const t0 = performance.now();
  await runCli(['--version']);
  return performance.now() - t0;
}

test('securesense coap get|post to a closed port fails at once: exit 1, the peer named', async () => {
  const port = await freeUdpPort();
  const base = await startupMs();
  for (const args of [
    ['get', `coap://127.0.0.1:${port}/x`],
    ['post', `coap://127.0.0.1:${port}/x`, '-e', 'v', '--non'],
    ['get', `coaps://127.0.0.1:${port}/x`, '--psk', `dev:${'ab'.repeat(16)}`],
  ]) {
    const t0 = performance.now();
    const r = await cli(args);
    const ms = performance.now() - t0;
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is unreachable`));
    assert.deepEqual(
      lines(r.stdout).map((e) => [e.event, e.error, e.peer]),
      [['error', 'unreachable', `127.0.0.1:${port}`]],
    );
    // Beyond the start-up, within 1 s (it used to wait out ~80 s of retransmissions).
    assert.ok(ms - base < 1000, `${args.join(' ')} took ${Math.round(ms)} ms (start-up ${Math.round(base)} ms)`);
  }
});

test('securesense coap --timeout bounds the whole exchange with a silent server, coaps:// handshake included', async (t) => {
  const sink = createSocket('udp4');
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
  t.after(() => sink.close());
  const port = sink.address().port;
  const base = await startupMs();
  for (const uri of [`coap://127.0.0.1:${port}/x`, `coaps://127.0.0.1:${port}/x`]) {
    const t0 = performance.now();
    const r = await cli(['get', uri, '--timeout', '0.5', '--psk', `dev:${'ab'.repeat(16)}`]);
    const ms = performance.now() - t0 - base;
    assert.equal(r.code, 3, `${uri}: ${r.stderr}`);
    assert.match(r.stderr, /no answer within 0\.5 s|not finished within 500 ms/);
    assert.deepEqual(
      lines(r.stdout).map((e) => [e.event, e.error]),
      [['error', 'timeout']],
    );
    assert.ok(ms > 400 && ms < 2000, `${uri}: ${Math.round(ms)} ms beyond start-up`);
  }
});

test('securesense coap serve prints a line per request, none with --quiet', async (t) => {
  for (const quiet of [false, true]) {
    const port = await freeUdpPort();
    const args = ['coap', 'serve', '--host', '127.0.0.1', '--port', String(port), ...(quiet ? ['--quiet'] : [])];
    const server = await startCli(t, args, { timeoutMs: 30_000, readyTimeoutMs: 15_000 });
    for (let i = 0; i < 3; i++) {
      const r = await cli(['get', `coap://127.0.0.1:${port}/time`]);
      assert.equal(r.code, 0, r.stderr);
    }
    const requests = () => lines(server.stdout()).filter((e) => e.event === 'request');
    // The lines of a turn are written at its end: give the pipe a moment, then count.
    for (let waited = 0; requests().length < 3 && waited < 2000; waited += 50)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(requests().length, quiet ? 0 : 3, server.stdout());
    assert.equal(lines(server.stdout())[0].event, 'listening');
  }
});

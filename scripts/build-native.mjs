#!/usr/bin/env node
// Builds native/udp-batch.c into dist/native/udp-batch.node with the system's C compiler, against
// the headers of the Node.js running this script (Node-API and libuv are ABI-stable within a major
// version; the pinned runtime's package brings its headers). Linux only: recvmmsg(2). Where there is
// no compiler, or the build fails, it says so and exits 0: the servers then use node:dgram
// (src/net/batch-udp.ts), slower per datagram but the same behaviour.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const source = join(root, 'native/udp-batch.c');
const out = join(root, 'dist/native/udp-batch.node');
const include = join(dirname(process.execPath), '..', 'include', 'node');

function skip(why) {
  console.warn(`build-native: ${why}; the servers use node:dgram (SECURESENSE_UDP=dgram behaviour)`);
  process.exit(0);
}

if (process.platform !== 'linux') skip(`recvmmsg batching is Linux-only (this is ${process.platform})`);
if (!existsSync(join(include, 'node_api.h'))) skip(`no Node.js headers at ${include}`);
if (
  existsSync(out) &&
  statSync(out).mtimeMs >= statSync(source).mtimeMs &&
  statSync(out).mtimeMs >= statSync(import.meta.filename).mtimeMs
)
  process.exit(0);
const cc = process.env.CC ?? 'cc';
mkdirSync(dirname(out), { recursive: true });
const r = spawnSync(
  cc,
  [
    '-O2',
    '-shared',
    '-fPIC',
    '-Wall',
    '-Wextra',
    '-Wno-unused-parameter',
    '-DNODE_GYP_MODULE_NAME=udp_batch',
    '-I',
    include,
    source,
    '-o',
    out,
  ],
  { stdio: ['ignore', 'inherit', 'inherit'] },
);
if (r.error) skip(`${cc}: ${r.error.message}`);
if (r.status !== 0) skip(`${cc} failed (exit ${r.status})`);

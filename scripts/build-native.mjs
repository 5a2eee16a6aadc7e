#!/usr/bin/env node
// Builds native/*.c into dist/native/*.node with the system's C compiler, against the headers of
// the Node.js running this script (Node-API, libuv and the OpenSSL that Node exports; the pinned
// runtime's package brings them). Linux only. Where there is no compiler, or a build fails, it says
// so and exits 0: the code then takes its JavaScript path, slower but the same behaviour —
//   udp-batch.c  recvmmsg batches for the servers' sockets (else node:dgram; src/net/batch-udp.ts)
//   ccm.c        AES-128-CCM-8 records in one call (else node:crypto; src/dtls/crypto/native-ccm.ts)
//   prf.c        the TLS 1.2 PRF's P_SHA256 in one call, the transcript's running SHA-256 and the cookie
//                HMAC (else TypeScript SHA-256/HMAC; src/dtls/crypto/native-prf.ts, hash.ts)
//   p256.c       ephemeral ECDH on P-256: a key pair and an agreement (else createECDH; native-p256.ts)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const include = join(dirname(process.execPath), '..', 'include', 'node');
const MODULES = ['udp-batch', 'ccm', 'prf', 'p256'];

function skip(why) {
  console.warn(`build-native: ${why}; the JavaScript paths are used instead (node:dgram, node:crypto)`);
  process.exit(0);
}

if (process.platform !== 'linux') skip(`the native modules are built on Linux only (this is ${process.platform})`);
if (!existsSync(join(include, 'node_api.h'))) skip(`no Node.js headers at ${include}`);
/** $CC, else cc, else gcc (a machine may have one name and not the other). */
const cc =
  process.env.CC ?? ['cc', 'gcc'].find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0) ?? 'cc';
// A module is rebuilt when its source, a shared header or this script is newer than it.
const headers = readdirSync(join(root, 'native')).filter((f) => f.endsWith('.h'));
const self = Math.max(
  statSync(import.meta.filename).mtimeMs,
  ...headers.map((h) => statSync(join(root, 'native', h)).mtimeMs),
);
for (const name of MODULES) {
  const source = join(root, 'native', `${name}.c`);
  const out = join(root, 'dist/native', `${name}.node`);
  if (existsSync(out) && statSync(out).mtimeMs >= Math.max(statSync(source).mtimeMs, self)) continue;
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
      `-DNODE_GYP_MODULE_NAME=${name.replace('-', '_')}`,
      '-I',
      include,
      source,
      '-o',
      out,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  // One module failing leaves the others (and their speed) in place.
  if (r.error) skip(`${cc}: ${r.error.message}`);
  if (r.status !== 0)
    console.warn(`build-native: ${cc} failed on native/${name}.c (exit ${r.status}); its JavaScript path is used`);
}

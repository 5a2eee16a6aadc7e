#!/usr/bin/env node
// Re-measures the device's software P-256 costs and rewrites src/sim/profiles/cc2538-p256-measured.json.
//
//   node eval/device-ecc/measure.mjs            (needs: apt-get install gcc-arm-none-eabi qemu-system-arm gcc;
//                                                valgrind optional, for the x86 cross-check)
//
// 1. Builds p256.c + bench.c for the host and checks it: the RFC 6979 key pair, ECDH agreement both
//    ways, and every signature it prints verified by OpenSSL (an independent implementation).
// 2. Builds the same C for a Cortex-M3 (-mcpu=cortex-m3 -mthumb -O2) and runs it under
//    qemu-system-arm -M mps2-an385 -icount shift=0: one instruction is one virtual nanosecond, so
//    SysTick ticks are proportional to instructions; a loop of a known instruction count calibrates them.
// 3. Optionally counts the x86 build's instructions per call with callgrind (cross-check only).
// `npm run eval` reads the committed JSON and needs none of these tools.
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const outFile = join(root, 'src', 'sim', 'profiles', 'cc2538-p256-measured.json');
const tmp = mkdtempSync(join(tmpdir(), 'device-ecc-'));
const src = (f) => join(here, f);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...opts });
const OPS = { keygen: 'ecdh_keygen', ecdh: 'ecdh_agree', sign: 'ecdsa_sign', verify: 'ecdsa_verify' };

function fail(msg) {
  console.error(`measure: ${msg}`);
  rmSync(tmp, { recursive: true, force: true });
  process.exit(1);
}

function parse(text) {
  const ops = {};
  const sigs = [];
  let calib = null;
  let calibInsns = null;
  let ok = false;
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    if (f[0] === 'op') (ops[f[1]] ??= []).push(Number(f[3]));
    else if (f[0] === 'sig') sigs.push({ x: f[1], y: f[2], digest: f[3], r: f[4], s: f[5] });
    else if (f[0] === 'calib-ticks') calib = Number(f[1]);
    else if (f[0] === 'calib-instructions') calibInsns = Number(f[1]);
    else if (f[0] === 'check' && f[2] !== 'ok') fail(`self-check ${f[1]} failed`);
    else if (f[0] === 'result') ok = f[1] === 'ok';
  }
  if (!ok) fail('the benchmark reported a failure (ECDH mismatch or a bad signature)');
  return { ops, sigs, calib, calibInsns };
}

/** Checks a signature over a bare SHA-256 digest with OpenSSL (`pkeyutl -verify`): an independent implementation. */
function opensslVerifies(sig) {
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    x: Buffer.from(sig.x, 'hex').toString('base64url'),
    y: Buffer.from(sig.y, 'hex').toString('base64url'),
  };
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const rs = Buffer.concat([Buffer.from(sig.r, 'hex'), Buffer.from(sig.s, 'hex')]);
  return opensslVerify(key, sig.digest, rs);
}

function opensslVerify(key, digestHex, rs) {
  const der = (b) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = b.subarray(i);
    if (v[0] & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const body = Buffer.concat([der(rs.subarray(0, 32)), der(rs.subarray(32))]);
  const sigDer = Buffer.concat([Buffer.from([0x30, body.length]), body]);
  const pem = key.export({ type: 'spki', format: 'pem' });
  writeFileSync(join(tmp, 'pub.pem'), pem);
  writeFileSync(join(tmp, 'sig.der'), sigDer);
  writeFileSync(join(tmp, 'digest.bin'), Buffer.from(digestHex, 'hex'));
  try {
    run('openssl', [
      'pkeyutl',
      '-verify',
      '-pubin',
      '-inkey',
      join(tmp, 'pub.pem'),
      '-in',
      join(tmp, 'digest.bin'),
      '-sigfile',
      join(tmp, 'sig.der'),
    ]);
    return true;
  } catch {
    return false;
  }
}

const summary = (xs) => ({
  mean: Math.round(xs.reduce((a, b) => a + b, 0) / xs.length),
  min: Math.min(...xs),
  max: Math.max(...xs),
  runs: xs,
});

// 1. Host build and independent checks.
const host = join(tmp, 'p256-host');
run('gcc', ['-O2', '-Wall', '-Wextra', '-o', host, src('p256.c'), src('bench.c'), src('host.c')]);
const hostOut = parse(run(host, []));
const verified = hostOut.sigs.filter(opensslVerifies).length;
if (verified !== hostOut.sigs.length) fail(`OpenSSL verified only ${verified} of ${hostOut.sigs.length} signatures`);
console.log(`host build: RFC 6979 key pair ok, ECDH ok, ${verified}/${hostOut.sigs.length} signatures verified by OpenSSL`);

// 2. Cortex-M3 build under qemu with -icount.
const elf = join(tmp, 'p256-m3.elf');
const cflags = ['-mcpu=cortex-m3', '-mthumb', '-O2', '-ffreestanding', '-nostdlib', '-Wall', '-Wextra'];
run('arm-none-eabi-gcc', [
  ...cflags,
  '-T',
  src('link.ld'),
  '-o',
  elf,
  src('p256.c'),
  src('bench.c'),
  src('cortex-m3.c'),
  '-lgcc',
]);
const qemuArgs = [
  '-M',
  'mps2-an385',
  '-nographic',
  '-monitor',
  'none',
  '-serial',
  'none',
  '-semihosting-config',
  'enable=on,target=native',
  '-icount',
  'shift=0',
  '-kernel',
  elf,
];
// qemu writes the semihosting console to stderr: read both streams.
const q = spawnSync('qemu-system-arm', qemuArgs, { encoding: 'utf8', timeout: 300_000 });
if (q.status !== 0) fail(`qemu-system-arm exited with ${q.status}: ${q.stderr}`);
const m3 = parse(`${q.stdout}\n${q.stderr}`);
if (!m3.calib || !m3.calibInsns) fail('no calibration line from the Cortex-M3 run');
const perTick = m3.calibInsns / m3.calib;
if (JSON.stringify(m3.sigs) !== JSON.stringify(hostOut.sigs)) fail('the Cortex-M3 build computed different keys or signatures than the host build');
const instructions = {};
for (const [name, op] of Object.entries(OPS)) instructions[op] = summary(m3.ops[name].map((t) => Math.round(t * perTick)));
const size = run('arm-none-eabi-size', ['-A', elf]);
const textBytes = Number(/\.text\s+(\d+)/.exec(size)?.[1] ?? 0);
console.log(`cortex-m3 build: ${perTick} instructions per SysTick tick (calibrated), identical results to the host`);

// 3. Callgrind on the x86 build (cross-check of the relative costs only).
let x86 = null;
try {
  const cg = join(tmp, 'callgrind.out');
  run('valgrind', ['--tool=callgrind', `--callgrind-out-file=${cg}`, host], { stdio: ['ignore', 'pipe', 'pipe'] });
  const ann = run('callgrind_annotate', ['--inclusive=yes', '--threshold=100', cg]);
  // Calls per function in bench.c: keygen 1 + 2 per run, ecdh 2, sign 1, verify 2 per run.
  const runs = hostOut.sigs.length;
  const calls = { p256_keygen: 1 + 2 * runs, p256_ecdh: 2 * runs, p256_sign: runs, p256_verify: 2 * runs };
  x86 = {};
  for (const [fn, n] of Object.entries(calls)) {
    const m = new RegExp(`^\\s*([\\d,]+) \\([^)]*\\)\\s+\\S*:${fn}\\b`, 'm').exec(ann);
    if (m) x86[OPS[{ p256_keygen: 'keygen', p256_ecdh: 'ecdh', p256_sign: 'sign', p256_verify: 'verify' }[fn]]] = Math.round(Number(m[1].replaceAll(',', '')) / n);
  }
} catch {
  x86 = null;
}

const data = {
  what: 'Instructions executed by our portable C P-256 (eval/device-ecc/p256.c) per operation on a Cortex-M3',
  how: 'arm-none-eabi-gcc -mcpu=cortex-m3 -mthumb -O2; qemu-system-arm -M mps2-an385 -icount shift=0; SysTick calibrated by a 2-instruction loop',
  toolchain: run('arm-none-eabi-gcc', ['--version']).split('\n')[0],
  emulator: run('qemu-system-arm', ['--version']).split('\n')[0],
  measured: new Date().toISOString().slice(0, 10),
  algorithm:
    'Montgomery (CIOS) field and scalar arithmetic, Fermat inversion, Jacobian a=-3 doubling and mixed addition, left-to-right double-and-add; verify by Shamir’s trick; SHA-256 not included',
  checks: {
    rfc6979KeyPair: true,
    ecdhAgreesBothWays: true,
    signaturesVerifiedByOpenSSL: `${verified}/${hostOut.sigs.length}`,
    cortexM3MatchesHost: true,
  },
  codeBytes: textBytes,
  instructions,
  x86CallgrindInstructions: x86,
};
writeFileSync(outFile, `${JSON.stringify(data, null, 2)}\n`);
// The repository's formatter keeps short arrays on one line: let it, so that a re-measurement diffs only in numbers.
try {
  run('npx', ['biome', 'format', '--write', outFile], { cwd: root, stdio: 'ignore' });
} catch {
  // formatting is cosmetic
}
rmSync(tmp, { recursive: true, force: true });
console.log(`wrote ${relative(root, outFile)}`);
for (const [op, s] of Object.entries(instructions)) console.log(`  ${op.padEnd(13)} ${s.mean} instructions (min ${s.min}, max ${s.max})`);

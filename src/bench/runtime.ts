/**
 * `securesense bench runtime`: what the Node.js version and the compiled CLI buy, measured on the
 * Nodes found here (the pinned one that runs the project and the machine's own), alternating
 * between them round by round so that both see the same load on a shared machine:
 *
 * - P-256 ECDHE as the engine can do it: a key pair with `generateKeyPairSync('ec')` plus the
 *   shared secret with `diffieHellman`, and the older `createECDH` path (generateKeys +
 *   computeSecret). Each in a fresh process, operations per second over `--seconds`.
 * - Start-up: `securesense --version` through the bin (compiled dist/), median of `--runs`, and the
 *   same call through tsx on the TypeScript sources (what every call cost before the build).
 *
 * Absolute figures depend on the machine and its load; the ratios between columns of one run are
 * the result.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatTable } from '../eval/table.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${ROOT}bin/securesense.mjs`;

/** Counts P-256 ECDHE operations for `ms` milliseconds in the child, prints ops/s. */
const ECDHE_PROBE = {
  keyObject: `const { generateKeyPairSync, diffieHellman } = require('node:crypto');
const peer = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
let n = 0; const end = performance.now() + MS; const t0 = performance.now();
while (performance.now() < end) {
  const k = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  diffieHellman({ privateKey: k.privateKey, publicKey: peer.publicKey }); n++;
}
console.log(n / ((performance.now() - t0) / 1000));`,
  createECDH: `const { createECDH } = require('node:crypto');
const peer = createECDH('prime256v1'); peer.generateKeys();
let n = 0; const end = performance.now() + MS; const t0 = performance.now();
while (performance.now() < end) {
  const k = createECDH('prime256v1'); k.generateKeys(); k.computeSecret(peer.getPublicKey()); n++;
}
console.log(n / ((performance.now() - t0) / 1000));`,
};

function ecdheRate(node: string, probe: string, seconds: number): number {
  const r = spawnSync(node, ['-e', probe.replace('MS', String(seconds * 1000))], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${node}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Wall time of one run of `args` under `node`, in ms. */
function wallMs(node: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(node, args, { encoding: 'utf8', cwd: ROOT });
  if (r.status !== 0) throw new Error(`${node} ${args.join(' ')}: ${r.stderr}`);
  return performance.now() - t0;
}

/** The Nodes to compare: this one (the pinned runtime under npm) and the machine's, when different. */
function nodes(): Array<{ name: string; path: string; version: string }> {
  const out = [{ name: `node ${process.versions.node}`, path: process.execPath, version: process.versions.node }];
  for (const p of ['/usr/bin/node', '/usr/local/bin/node']) {
    if (!existsSync(p)) continue;
    const v = spawnSync(p, ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^v/, '');
    if (v && !out.some((n) => n.version === v)) out.push({ name: `node ${v}`, path: p, version: v });
  }
  return out;
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string', default: '1' },
      rounds: { type: 'string', default: '3' },
      runs: { type: 'string', default: '10' },
      json: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const runs = Number(values.runs);
  if (!(seconds > 0) || !Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(runs) || runs < 1) {
    process.stderr.write('securesense bench runtime: --seconds > 0, --rounds and --runs positive integers\n');
    return 2;
  }
  const ns = nodes();
  const rates = ns.map(() => ({ keyObject: [] as number[], createECDH: [] as number[] }));
  for (let r = 0; r < rounds; r++) {
    for (const [i, n] of ns.entries()) {
      rates[i].keyObject.push(ecdheRate(n.path, ECDHE_PROBE.keyObject, seconds));
      rates[i].createECDH.push(ecdheRate(n.path, ECDHE_PROBE.createECDH, seconds));
    }
  }
  // Start-up: the compiled bin under each Node (the machine's Node hands over to the pinned one,
  // so its figure includes a second process start), and tsx on the sources under the pinned Node.
  const startup = ns.map(() => [] as number[]);
  const tsx: number[] = [];
  const viaTsx = [
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    "const { main } = await import('./src/cli/index.ts'); process.exitCode = await main(['--version']);",
  ];
  for (let k = 0; k < runs; k++) {
    for (const [i, n] of ns.entries()) startup[i].push(wallMs(n.path, [BIN, '--version']));
    tsx.push(wallMs(process.execPath, viaTsx));
  }
  const figures = ns.map((n, i) => ({
    node: n.version,
    p256KeygenEcdhPerSec: median(rates[i].keyObject),
    p256CreateEcdhPerSec: median(rates[i].createECDH),
    versionMedianMs: median(startup[i]),
  }));
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ figures, tsxVersionMedianMs: median(tsx) })}\n`);
    return 0;
  }
  const base = figures[figures.length - 1];
  const rows = figures.map((f) => [
    `node ${f.node}`,
    Math.round(f.p256KeygenEcdhPerSec),
    (f.p256KeygenEcdhPerSec / base.p256KeygenEcdhPerSec).toFixed(2),
    Math.round(f.p256CreateEcdhPerSec),
    (f.p256CreateEcdhPerSec / base.p256CreateEcdhPerSec).toFixed(2),
    f.versionMedianMs.toFixed(0),
  ]);
  rows.push([`tsx on the sources (node ${ns[0].version})`, '', '', '', '', median(tsx).toFixed(0)]);
  process.stdout.write(
    `${formatTable({
      columns: [
        'runtime',
        'P-256 keygen+ECDH /s (KeyObject)',
        `÷ node ${base.node}`,
        'P-256 createECDH /s',
        `÷ node ${base.node}`,
        'securesense --version, median ms',
      ],
      rows,
    })}\n  ${rounds} round(s) of ${seconds} s per API and Node, alternating; start-up median of ${runs} runs.\n`,
  );
  return 0;
}

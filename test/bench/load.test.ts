/**
 * Smoke test of `bench load` (src/bench/load*.ts, bench/loadgen/loadgen.c): the C generator builds,
 * loads our CoAP server and coap-server-notls for a one-second window and completes DTLS PSK
 * handshakes with coap-server-gnutls, and every line has completed work and a server CPU figure
 * from /proc. No speed is asserted — figures belong in the benchmark.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { ROWS, runLoad } from '../../src/bench/load.ts';
import { processTree, sampleCpu } from '../../src/bench/load-cpu.ts';
import { buildLoadGen } from '../../src/bench/load-gen.ts';
import { shareOut } from '../../src/bench/load-measure.ts';
import { formatTable } from '../../src/bench/load-table.ts';
import { requireBinary } from '../support/peers.ts';

const row = (id: string) => {
  const r = ROWS.find((x) => x.id === id);
  assert.ok(r, id);
  return r;
};

test('bench load: our CoAP server and coap-server-notls under the C generator, a 1 s window each', async (t) => {
  if (!requireBinary(t, 'coap-server-notls') || !requireBinary(t, 'cc')) return;
  const results = await runLoad({
    rows: [row('coap-udp')],
    targets: ['ours', 'notls'],
    concurrency: [16],
    seconds: 1,
    warmupSeconds: 0.3,
    procs: 1,
  });
  assert.deepEqual(
    results.map((r) => r.target),
    ['ours', 'coap-server-notls'],
  );
  for (const r of results) {
    assert.equal(r.note, undefined, `${r.target}: ${r.note}`);
    assert.ok(r.ok > 0 && (r.rate ?? 0) > 0, `${r.target} answered GETs`);
    assert.ok((r.serverCpu ?? 0) > 0, `${r.target}: server CPU read from /proc`);
    assert.ok((r.perCpuSecond ?? 0) > 0, `${r.target}: work per CPU-second`);
    assert.ok(r.p50Ms !== undefined && r.p99Ms !== undefined && r.p50Ms <= r.p99Ms, `${r.target}: latencies`);
    assert.ok((r.serverIdleRssMb ?? 0) > 0 && (r.serverRssMb ?? 0) > 0, `${r.target}: RSS before and under load`);
    assert.equal(r.errors, 0, `${r.target}: no errors`);
  }
  const table = formatTable(results);
  assert.match(table, /\| CoAP CON GET, UDP \| 16 \| coap-server-notls \|/);
  assert.match(table, /ours ÷ this/);
});

test('bench load: DTLS PSK handshakes against coap-server-gnutls, each one closed and counted', async (t) => {
  if (!requireBinary(t, 'coap-server-gnutls') || !requireBinary(t, 'cc')) return;
  const [r] = await runLoad({
    rows: [row('psk')],
    targets: ['gnutls'],
    concurrency: [4],
    seconds: 1,
    warmupSeconds: 0.3,
    procs: 2,
  });
  assert.equal(r.target, 'coap-server-gnutls');
  assert.equal(r.note, undefined, r.note);
  assert.ok(r.ok > 0 && (r.perCpuSecond ?? 0) > 0, 'handshakes completed, per server CPU-second');
  assert.equal(r.errors, 0);
});

test('the generator sends to loopback only and names what it refuses', () => {
  const bin = buildLoadGen();
  const out = spawnSync(bin, ['--kind', 'coap', '--sec', 'none', '--host', '192.0.2.1', '--port', '5683'], {
    encoding: 'utf8',
    timeout: 5000,
  });
  assert.equal(out.status, 2);
  assert.match(out.stderr, /--host: a loopback address/);
  const bad = spawnSync(bin, ['--kind', 'hs', '--sec', 'none', '--port', '5684'], { encoding: 'utf8', timeout: 5000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--kind hs needs --sec/);
});

test('server CPU counts the processes a wrapper started, and connections are shared out among generators', async (t) => {
  // A wrapper (sh) whose child burns CPU for a second or two, bounded: the child is in the tree and
  // its CPU is counted. Its own process group, so that the cleanup reaches the child too.
  const sh = spawn('sh', ['-c', "sh -c 'i=0; while [ $i -lt 3000000 ]; do i=$((i+1)); done' & wait"], {
    stdio: 'ignore',
    detached: true,
  });
  t.after(() => {
    try {
      process.kill(-(sh.pid ?? 0), 'SIGKILL');
    } catch {}
  });
  await new Promise((r) => setTimeout(r, 150));
  const tree = processTree(sh.pid ?? 0);
  assert.ok(tree.length >= 2, `sh and its child: ${tree.join(', ')}`);
  const before = sampleCpu(tree);
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(sampleCpu(tree).cpuSeconds > before.cpuSeconds, "the child's CPU is counted");
  assert.deepEqual(shareOut(16, 3), [6, 5, 5]);
  assert.deepEqual(shareOut(1, 4), [1]);
  assert.equal(sampleCpu([]).cpuSeconds, 0);
});

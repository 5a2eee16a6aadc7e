/** The progress line of long commands: plain lines off a terminal, one redrawn line on it, nothing when quiet. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressStep, startProgress } from '../../src/util/progress.ts';
import { runCli } from '../support/cli.ts';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, out: { isTTY, write: (s: string) => chunks.push(s) } };
}

test('off a terminal: one plain line per step and a last line; steps from the working code reach it', () => {
  let t = 0;
  const s = sink(false);
  const p = startProgress({ label: 'eval', total: 3, out: s.out, now: () => t });
  t = 1500;
  p.step('handshake');
  t = 2500;
  progressStep('energy'); // what a benchmark module calls: no handle needed
  p.end();
  progressStep('after the end'); // no command shows progress: ignored
  assert.deepEqual(s.chunks, [
    'eval: 1/3 handshake · 1.5 s\n',
    'eval: 2/3 energy · 2.5 s\n',
    'eval: 2/3 energy, done · 2.5 s\n',
  ]);
});

test('on a terminal: the line is redrawn in place and ends with a newline', () => {
  let t = 0;
  const s = sink(true);
  const p = startProgress({ label: 'bench dtls', out: s.out, now: () => t });
  t = 200;
  p.step('psk');
  p.end();
  assert.ok(
    s.chunks.every((c) => c.startsWith('\r\x1b[2K')),
    JSON.stringify(s.chunks),
  );
  assert.equal(s.chunks[0], '\r\x1b[2Kbench dtls: 1 steps psk · 0.2 s');
  assert.ok(s.chunks.at(-1)?.endsWith('done · 0.2 s\n'));
});

test('no step yet: the heartbeat says running, the end says done', () => {
  const s = sink(false);
  const p = startProgress({ label: 'bench runtime', out: s.out, now: () => 0 });
  assert.equal(p.text(), 'bench runtime: running · 0.0 s');
  p.end();
  assert.deepEqual(s.chunks, ['bench runtime: done · 0.0 s\n']);
});

test('quiet writes nothing', () => {
  const s = sink(true);
  const p = startProgress({ label: 'x', quiet: true, out: s.out });
  p.step('a');
  p.end();
  assert.deepEqual(s.chunks, []);
});

test('securesense eval shows its progress on stderr, stdout unchanged; --quiet silences it', async () => {
  const r = await runCli(['eval', 'transcript-free-check-that-does-not-exist']);
  assert.equal(r.code, 2); // unknown experiment: a usage error, no progress started
  const name = 'lifetime';
  const loud = await runCli(['eval', name, '--json', '--out', '/tmp/ss-progress-eval'], { timeoutMs: 120_000 });
  assert.equal(loud.code, 0, loud.stderr);
  assert.match(loud.stderr, /eval: 1\/1 lifetime · [\d.]+ s\n/);
  assert.equal(JSON.parse(loud.stdout.trim().split('\n')[0]).name, name);
  const quiet = await runCli(['eval', name, '--json', '--quiet', '--out', '/tmp/ss-progress-eval'], {
    timeoutMs: 120_000,
  });
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stderr, '');
  assert.equal(JSON.parse(quiet.stdout.trim().split('\n')[0]).name, name); // stdout as without --quiet
});

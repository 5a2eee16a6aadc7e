import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SecurityMode } from '../dtls/credentials/identity.ts';
import { EXPERIMENTS, findExperiment, renderText, runExperiment } from '../eval/index.ts';
import { formatTable } from '../eval/table.ts';
import { EngineUnavailableError, recordTranscript, type Transcript } from '../sim/transcript.ts';
import { startProgress } from '../util/progress.ts';
import { command, type OptionTable, UsageError } from './args.ts';

/**
 * `securesense eval NAME|all [--out DIR] [--json]` — runs the paper's experiments: prints
 * each table and writes DIR/NAME.svg and DIR/NAME.md (default docs/evaluation/ of this checkout).
 * `securesense eval transcript [psk|rpk|x509] [--json]` prints the recorded transcript itself: what
 * our engine put on the wire and computed, flight by flight — the input of every experiment.
 */
const DEFAULT_OUT = fileURLToPath(new URL('../../docs/evaluation/', import.meta.url));

const OPTIONS = {
  out: { type: 'string', arg: 'DIR', help: 'where the SVG charts and tables go (default docs/evaluation/)' },
  json: { type: 'boolean', help: 'one JSON line per experiment (or the transcript) instead of tables' },
  quiet: { type: 'boolean', help: 'no progress line on stderr' },
} as const satisfies OptionTable;

export const run = command(
  {
    name: 'eval',
    usage: ['<name>…|all [--out DIR] [--json]', 'transcript [psk|rpk|x509] [--json]'],
    about: `experiments:\n${EXPERIMENTS.map((e) => `  ${e.name.padEnd(15)} ${e.title}`).join('\n')}`,
    options: OPTIONS,
    positionals: { min: 1, max: Number.POSITIVE_INFINITY },
  },
  async ({ values, positionals: names }) => {
    const out = values.out !== undefined ? resolve(values.out) : DEFAULT_OUT;
    const json = values.json ?? false;
    if (names[0] === 'transcript') {
      if (names.length > 2) throw new UsageError(`unexpected argument '${names[2]}'`);
      return printTranscript(names[1] ?? 'psk', json);
    }
    const unknown = names.filter((n) => n !== 'all' && !findExperiment(n));
    if (unknown.length) throw new UsageError(`unknown experiment ${unknown.join(', ')}`);
    const chosen = names.includes('all') ? EXPERIMENTS : names.map((n) => findExperiment(n));
    const t0 = Date.now();
    // Progress on stderr, so that stdout stays the tables (or one JSON line per experiment).
    const progress = startProgress({ label: 'eval', total: chosen.length, quiet: values.quiet === true });
    try {
      for (const e of chosen) {
        if (!e) continue;
        const started = Date.now();
        const r = await runExperiment(e, { outDir: out });
        progress.step(e.name);
        if (json) process.stdout.write(`${JSON.stringify({ name: r.name, table: r.table, notes: r.notes })}\n`);
        else {
          process.stdout.write(`${renderText(r)}  → ${resolve(out, `${e.name}.svg`)} (${Date.now() - started} ms)\n\n`);
        }
      }
    } finally {
      progress.end();
    }
    if (!values.quiet)
      process.stderr.write(
        `eval: ${chosen.length} experiment(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s → ${out}\n`,
      );
    return 0;
  },
);

/** `op×n` per operation, with what the engine said it computed: `prf×4 (master_secret 1, key_block 1, finished 2)`. */
function cryptoText(t: Transcript['flights'][number], side: 'client' | 'server', phase: 'prepare' | 'process'): string {
  const counts = new Map<string, { n: number; purposes: Map<string, number> }>();
  for (const c of t.crypto) {
    if (c.side !== side || c.phase !== phase) continue;
    const e = counts.get(c.op) ?? { n: 0, purposes: new Map<string, number>() };
    e.n += c.count;
    if (c.purpose) e.purposes.set(c.purpose, (e.purposes.get(c.purpose) ?? 0) + c.count);
    counts.set(c.op, e);
  }
  const purposes = (m: Map<string, number>) =>
    m.size === 0 ? '' : ` (${[...m].map(([p, n]) => `${p} ${n}`).join(', ')})`;
  return [...counts].map(([op, e]) => `${op}×${e.n}${purposes(e.purposes)}`).join(' ') || '-';
}

async function printTranscript(mode: string, json: boolean): Promise<number> {
  if (mode !== 'psk' && mode !== 'rpk' && mode !== 'x509') {
    throw new UsageError(`transcript: unknown mode '${mode}' (psk | rpk | x509)`);
  }
  let t: Transcript;
  try {
    t = await recordTranscript(mode as SecurityMode);
  } catch (err) {
    if (err instanceof EngineUnavailableError) {
      process.stderr.write(`securesense eval transcript: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(t)}\n`);
    return 0;
  }
  const rows = [
    ...t.flights.map((f) => ['handshake', f] as const),
    ...t.application.map((f) => ['application', f] as const),
  ].map(([phase, f]) => {
    const receiver = f.from === 'client' ? 'server' : 'client';
    return [
      `${phase} ${f.number}`,
      f.from,
      f.messages.map((m) => `${m.type}(${m.bodyBytes})`).join(' ') || '-',
      f.records.map((r) => r.bytes).join('+'),
      cryptoText(f, f.from, 'prepare'),
      cryptoText(f, receiver, 'process'),
    ];
  });
  process.stdout.write(
    `${t.mode} transcript of our engine (${t.cipherSuite ?? 'unknown suite'})\n\n${formatTable({
      columns: ['flight', 'from', 'messages (body bytes)', 'record bytes', 'sender crypto', 'receiver crypto'],
      rows,
    })}\n`,
  );
  return 0;
}

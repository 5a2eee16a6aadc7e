import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SecurityMode } from '../dtls/credentials/identity.ts';
import { EXPERIMENTS, findExperiment, renderText, runExperiment } from '../eval/index.ts';
import { formatTable } from '../eval/table.ts';
import { EngineUnavailableError, recordTranscript, type Transcript } from '../sim/transcript.ts';

/**
 * `securesense eval NAME|all [--out DIR] [--json]` — runs the paper's experiments (issue 7): prints
 * each table and writes DIR/NAME.svg and DIR/NAME.md (default docs/evaluation/ of this checkout).
 * `securesense eval transcript [psk|rpk|x509] [--json]` prints the recorded transcript itself: what
 * our engine put on the wire and computed, flight by flight — the input of every experiment.
 */
export const summary = "the paper's experiments as tables and charts";

const DEFAULT_OUT = fileURLToPath(new URL('../../docs/evaluation/', import.meta.url));

function usage(): string {
  const list = EXPERIMENTS.map((e) => `  ${e.name.padEnd(15)} ${e.title}`).join('\n');
  return `usage: securesense eval <name>|all [--out DIR] [--json]\n       securesense eval transcript [psk|rpk|x509] [--json]\n\n${list}\n`;
}

export async function run(args: string[]): Promise<number> {
  let out = DEFAULT_OUT;
  let json = false;
  const names: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--out') {
      const v = args[++i];
      if (!v) {
        process.stderr.write('securesense eval: --out needs a directory\n');
        return 2;
      }
      out = resolve(v);
    } else if (a === '--json') json = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(usage());
      return 0;
    } else if (a.startsWith('-')) {
      process.stderr.write(`securesense eval: unknown option ${a}\n${usage()}`);
      return 2;
    } else names.push(a);
  }
  if (names.length === 0) {
    process.stderr.write(usage());
    return 2;
  }
  if (names[0] === 'transcript') return printTranscript(names[1] ?? 'psk', json);
  const unknown = names.filter((n) => n !== 'all' && !findExperiment(n));
  if (unknown.length) {
    process.stderr.write(`securesense eval: unknown experiment ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  const chosen = names.includes('all') ? EXPERIMENTS : names.map((n) => findExperiment(n));
  const t0 = Date.now();
  for (const [k, e] of chosen.entries()) {
    if (!e) continue;
    const started = Date.now();
    // Progress on stderr, so that stdout stays the tables (or one JSON line per experiment).
    process.stderr.write(`[${k + 1}/${chosen.length}] ${e.name} …\n`);
    const r = await runExperiment(e, { outDir: out });
    if (json) process.stdout.write(`${JSON.stringify({ name: r.name, table: r.table, notes: r.notes })}\n`);
    else {
      process.stdout.write(`${renderText(r)}  → ${resolve(out, `${e.name}.svg`)} (${Date.now() - started} ms)\n\n`);
    }
  }
  process.stderr.write(`eval: ${chosen.length} experiment(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s → ${out}\n`);
  return 0;
}

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
    process.stderr.write(`securesense eval transcript: unknown mode '${mode}' (psk | rpk | x509)\n`);
    return 2;
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

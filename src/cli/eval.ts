import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXPERIMENTS, findExperiment, renderText, runExperiment } from '../eval/index.ts';

/**
 * `securesense eval NAME|all [--out DIR] [--json]` — runs the paper's experiments (issue 7): prints
 * each table and writes DIR/NAME.svg and DIR/NAME.md (default docs/evaluation/ of this checkout).
 */
export const summary = "the paper's experiments as tables and charts";

const DEFAULT_OUT = fileURLToPath(new URL('../../docs/evaluation/', import.meta.url));

function usage(): string {
  const list = EXPERIMENTS.map((e) => `  ${e.name.padEnd(15)} ${e.title}`).join('\n');
  return `usage: securesense eval <name>|all [--out DIR] [--json]\n\n${list}\n`;
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
  const unknown = names.filter((n) => n !== 'all' && !findExperiment(n));
  if (unknown.length) {
    process.stderr.write(`securesense eval: unknown experiment ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  const chosen = names.includes('all') ? EXPERIMENTS : names.map((n) => findExperiment(n));
  for (const e of chosen) {
    if (!e) continue;
    const started = Date.now();
    const r = await runExperiment(e, { outDir: out });
    if (json) process.stdout.write(`${JSON.stringify({ name: r.name, table: r.table, notes: r.notes })}\n`);
    else {
      process.stdout.write(`${renderText(r)}  → ${resolve(out, `${e.name}.svg`)} (${Date.now() - started} ms)\n\n`);
    }
  }
  return 0;
}

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderChart } from './chart.ts';
import { distributions } from './distributions.ts';
import { ecc } from './ecc.ts';
import { eccSweep } from './ecc-sweep.ts';
import { energy } from './energy.ts';
import { type EvalContext, type Experiment, type ExperimentResult, engineContext } from './experiment.ts';
import { handshakeTime } from './handshake-time.ts';
import { lifetime } from './lifetime.ts';
import { memory } from './memory.ts';
import { messageTime } from './message-time.ts';
import { oscoreEnergy } from './oscore.ts';
import { rdcCrossover } from './rdc-crossover.ts';
import { rttHops } from './rtt-hops.ts';
import { rttSize } from './rtt-size.ts';
import { formatTable, markdownTable } from './table.ts';
import { whatIf } from './whatif.ts';

export type { EvalContext, Experiment, ExperimentResult } from './experiment.ts';
export { engineContext, fixedContext, NOT_MEASURED } from './experiment.ts';

/** The paper's experiments, in the order of its section 5. */
export const EXPERIMENTS: Experiment[] = [
  handshakeTime,
  rdcCrossover,
  messageTime,
  ecc,
  eccSweep,
  energy,
  rttSize,
  rttHops,
  memory,
  distributions,
  lifetime,
  whatIf,
  oscoreEnergy,
];

export function findExperiment(name: string): Experiment | undefined {
  return EXPERIMENTS.find((e) => e.name === name);
}

/** The experiment's table and notes as plain text, for the terminal. */
export function renderText(r: ExperimentResult): string {
  const notes = r.notes.map((n) => `  note: ${n}`).join('\n');
  return `${r.title}\n\n${formatTable(r.table)}\n${notes ? `\n${notes}\n` : ''}`;
}

/** The same as Markdown, written beside the chart so that docs can link both. */
export function renderMarkdown(r: ExperimentResult): string {
  const notes = r.notes.map((n) => `- ${n}`).join('\n');
  return `### ${r.title}\n\n![${r.name}](${r.name}.svg)\n\n${markdownTable(r.table)}\n${notes ? `\n${notes}\n` : ''}`;
}

/** Runs one experiment and writes `<outDir>/<name>.svg` and `<outDir>/<name>.md`. */
export async function runExperiment(e: Experiment, opts: { ctx?: EvalContext; outDir?: string } = {}) {
  const result = await e.run(opts.ctx ?? engineContext());
  if (opts.outDir) {
    await mkdir(opts.outDir, { recursive: true });
    await writeFile(join(opts.outDir, `${e.name}.svg`), renderChart(result.chart));
    await writeFile(join(opts.outDir, `${e.name}.md`), renderMarkdown(result));
  }
  return result;
}

import type { SecurityMode } from '../dtls/credentials/identity.ts';
import { EngineUnavailableError, type Transcript, transcriptFor } from '../sim/transcript.ts';
import type { ChartSpec, PanelSpec } from './chart.ts';
import type { Table } from './table.ts';

/** One of the paper's experiments as a command: a table, a chart, and the notes that go with them. */
export interface ExperimentResult {
  name: string;
  title: string;
  table: Table;
  chart: ChartSpec | PanelSpec;
  notes: string[];
}

export interface Experiment {
  name: string;
  title: string;
  run(ctx: EvalContext): Promise<ExperimentResult>;
}

/** `exp`'s result: its own name and title with what its run produced. */
export function resultOf(exp: Experiment, r: Omit<ExperimentResult, 'name' | 'title'>): ExperimentResult {
  return { name: exp.name, title: exp.title, ...r };
}

/** Where experiments get transcripts: recorded from our engine (default) or injected by tests. */
export interface EvalContext {
  /** `profile: 'lean'`: both sides in the lean handshake profile (fewest bytes on the air). */
  transcript(mode: SecurityMode, opts?: { profile?: 'lean' }): Promise<Transcript | EngineUnavailableError>;
}

export const MODES: SecurityMode[] = ['psk', 'rpk', 'x509'];

/** What a row prints when the engine cannot run the mode yet — never an invented number. */
export const NOT_MEASURED = 'not yet measured (engine lacks mode)';

export function engineContext(): EvalContext {
  return {
    async transcript(mode, opts) {
      try {
        return await transcriptFor(mode, { profile: opts?.profile });
      } catch (err) {
        if (err instanceof EngineUnavailableError) return err;
        return new EngineUnavailableError(mode, (err as Error).message);
      }
    },
  };
}

/** A context over fixed transcripts (tests); modes without one are "not yet measured". */
export function fixedContext(transcripts: Partial<Record<SecurityMode, Transcript>>): EvalContext {
  return {
    async transcript(mode, opts) {
      if (opts?.profile === 'lean') return new EngineUnavailableError(mode, 'no lean transcript given');
      return transcripts[mode] ?? new EngineUnavailableError(mode, 'no transcript given');
    },
  };
}

export const ms = (s: number): number => Number((s * 1000).toFixed(3));
export const mJ = (j: number): number => Number((j * 1000).toFixed(4));

import type { SecurityMode } from '../dtls/credentials/identity.ts';
import type { RdcName } from '../sim/mac.ts';
import { type LossModel, type MonteCarloResult, monteCarloHandshake } from '../sim/montecarlo.ts';
import { CC2538_HW } from '../sim/profiles/index.ts';
import { EngineUnavailableError, type Transcript } from '../sim/transcript.ts';
import type { ChartSpec, Series } from './chart.ts';
import { type Experiment, MODES, mJ, ms, NOT_MEASURED, resultOf } from './experiment.ts';

/**
 * Handshake time and energy as distributions: Monte-Carlo trials over frame loss — independent
 * (Bernoulli) and bursty (Gilbert–Elliott, mean burst of 4 attempts) at the same mean rate — against
 * the loss rate (one hop) and the number of hops (10% loss). p50 and p95 of each; seeds are fixed,
 * so the output is reproducible. Device as client, cc2538-hw (PKA estimate), NullRDC + CSMA.
 */
const TRIALS = 300;
const LOSSES = [0, 0.05, 0.1, 0.2, 0.3];
const HOPS = [1, 2, 3, 4];
const HOPS_LOSS = 0.1;
const MEAN_BURST = 4;
const RDC: RdcName = 'nullrdc';

const models = (p: number): LossModel[] => [
  { kind: 'bernoulli', p },
  { kind: 'gilbert-elliott', p, meanBurst: MEAN_BURST },
];
const short = (m: LossModel) => (m.kind === 'bernoulli' ? 'Bernoulli' : 'Gilbert–Elliott');

/** A fixed seed per configuration, so that adding a point does not move the others. */
function seedOf(mode: SecurityMode, m: LossModel, hops: number): number {
  let h = 2166136261;
  for (const c of `${mode}|${m.kind}|${m.p}|${hops}`) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return h;
}

function run(t: Transcript, mode: SecurityMode, m: LossModel, hops: number): MonteCarloResult {
  return monteCarloHandshake(t, {
    role: 'client',
    profile: CC2538_HW,
    rdc: RDC,
    hops,
    loss: m,
    trials: TRIALS,
    seed: seedOf(mode, m, hops),
  });
}

/** One table row: the configuration, then time and energy at p50 and p95, then the failed trials. */
function row(mode: SecurityMode, m: LossModel, hops: number, r: MonteCarloResult): (string | number)[] {
  return [
    mode,
    short(m),
    m.p,
    hops,
    ms(r.seconds.p50),
    ms(r.seconds.p95),
    mJ(r.energyJ.p50),
    mJ(r.energyJ.p95),
    r.failed,
  ];
}

/** A chart line of p50 dots with whiskers to p95, of one quantity of the runs in the given unit. */
function spread(
  name: string,
  runs: MonteCarloResult[],
  quantity: (r: MonteCarloResult) => MonteCarloResult['seconds'],
  unit: (x: number) => number,
  dashed: boolean,
): Series {
  return {
    name,
    values: runs.map((r) => unit(quantity(r).p50)),
    ranges: runs.map((r) => [unit(quantity(r).p50), unit(quantity(r).p95)]),
    dashed,
  };
}

export const distributions: Experiment = {
  name: 'distributions',
  title: 'Handshake time and energy over lossy links: p50/p95 of Monte-Carlo trials (Bernoulli vs bursty loss)',
  async run(ctx) {
    const rows: (string | number | null)[][] = [];
    const notes: string[] = [];
    const timeByLoss: Series[] = [];
    const energyByLoss: Series[] = [];
    const timeByHops: Series[] = [];
    const energyByHops: Series[] = [];
    for (const mode of MODES) {
      const t = await ctx.transcript(mode);
      if (t instanceof EngineUnavailableError) {
        rows.push([mode, '-', '-', '-', NOT_MEASURED, null, null, null, null]);
        notes.push(`${mode}: ${t.message}`);
        continue;
      }
      for (const kind of ['bernoulli', 'gilbert-elliott'] as const) {
        const name = `${mode}, ${kind === 'bernoulli' ? 'Bernoulli' : 'Gilbert–Elliott'}`;
        const lossRuns = LOSSES.map((p) => {
          const m = models(p).find((x) => x.kind === kind)!;
          const r = run(t, mode, m, 1);
          rows.push(row(mode, m, 1, r));
          return r;
        });
        const hopRuns = HOPS.map((h) => {
          const m = models(HOPS_LOSS).find((x) => x.kind === kind)!;
          const r = h === 1 ? lossRuns[LOSSES.indexOf(HOPS_LOSS)] : run(t, mode, m, h);
          if (h !== 1) rows.push(row(mode, m, h, r));
          return r;
        });
        const dashed = kind === 'gilbert-elliott';
        timeByLoss.push(spread(name, lossRuns, (r) => r.seconds, ms, dashed));
        energyByLoss.push(spread(name, lossRuns, (r) => r.energyJ, mJ, dashed));
        timeByHops.push(spread(name, hopRuns, (r) => r.seconds, ms, dashed));
        energyByHops.push(spread(name, hopRuns, (r) => r.energyJ, mJ, dashed));
      }
    }
    const panel = (
      title: string,
      categories: string[],
      series: Series[],
      yLabel: string,
      xLabel: string,
    ): ChartSpec => ({
      title,
      kind: 'line',
      categories,
      series,
      yLabel,
      xLabel,
      logY: true,
      height: 360,
    });
    notes.push(
      `${TRIALS} trials per point, seeds fixed per configuration (mulberry32); dots are p50, whiskers run to p95. Gilbert–Elliott lines are dashed: same mean loss, bursts of ${MEAN_BURST} attempts on average, which defeat CSMA's quick retries and so cost whole DTLS timeouts (1 s, doubling).`,
      'Losses are drawn per transmission attempt on every hop; DTLS resends the whole flight; the busy-receiver effect (rdc-crossover) is left out here.',
    );
    return resultOf(this, {
      table: {
        columns: [
          'mode',
          'loss model',
          'mean loss',
          'hops',
          'time p50 ms',
          'time p95 ms',
          'energy p50 mJ',
          'energy p95 mJ',
          'failed trials',
        ],
        rows,
      },
      chart: {
        title: 'Handshake distributions, device = client, cc2538-hw (PKA estimate), NullRDC + CSMA',
        panels: [
          panel(
            'Time vs mean frame loss (1 hop): p50, whisker to p95',
            LOSSES.map((p) => `${p * 100}%`),
            timeByLoss,
            'ms',
            'mean loss per transmission attempt',
          ),
          panel(
            'Device energy vs mean frame loss (1 hop): p50, whisker to p95',
            LOSSES.map((p) => `${p * 100}%`),
            energyByLoss,
            'mJ',
            'mean loss per transmission attempt',
          ),
          panel(
            `Time vs hops (${HOPS_LOSS * 100}% loss): p50, whisker to p95`,
            HOPS.map(String),
            timeByHops,
            'ms',
            'hops',
          ),
          panel(
            `Device energy vs hops (${HOPS_LOSS * 100}% loss): p50, whisker to p95`,
            HOPS.map(String),
            energyByHops,
            'mJ',
            'hops',
          ),
        ],
        note: 'Monte-Carlo over our engine’s transcripts; dashed = Gilbert–Elliott (bursty). The paper reports averages only (no spread).',
      },
      notes,
    });
  },
};

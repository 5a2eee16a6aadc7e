import { simulateHandshake } from '../sim/handshake.ts';
import type { RdcName } from '../sim/mac.ts';
import { CC2538_HW, CPI_RANGE, cc2538WithPkaSpeedup, type DeviceProfile } from '../sim/profiles/index.ts';
import { EngineUnavailableError, type Transcript } from '../sim/transcript.ts';
import { type Experiment, ms, NOT_MEASURED, resultOf } from './experiment.ts';

/**
 * The paper's "certificate handshake < 4 s with hardware crypto", tested rather than assumed: the
 * X.509 handshake (device as client, one hop) with the ECC costs of our measured software P-256
 * divided by a PKA speed-up that nobody here has measured — swept from 1 (pure software) to the
 * paper's 18 — and with the profile's PKA estimate for comparison.
 */
const SPEEDUPS = [1, 2, 4, 8, 18];
const RDCS: RdcName[] = ['nullrdc', 'contikimac'];

function handshakeMs(t: Transcript, profile: DeviceProfile, rdc: RdcName): number {
  return ms(simulateHandshake(t, { role: 'client', profile, rdc, hops: 1, lossRate: 0 }).totalSeconds);
}

export const eccSweep: Experiment = {
  name: 'ecc-sweep',
  title: 'X.509 handshake time vs the PKA speed-up over measured software ECC ("< 4 s" tested)',
  async run(ctx) {
    const t = await ctx.transcript('x509');
    const categories = SPEEDUPS.map((r) => (r === 1 ? '1 (software only)' : `${r}×`));
    if (t instanceof EngineUnavailableError) {
      return resultOf(this, {
        table: { columns: ['ECC costs', 'rdc', 'handshake ms'], rows: [['x509', '-', NOT_MEASURED]] },
        chart: {
          title: 'X.509 handshake vs PKA speed-up',
          kind: 'line',
          categories,
          series: RDCS.map((r) => ({ name: r, values: SPEEDUPS.map(() => null) })),
          yLabel: 'ms',
        },
        notes: [t.message],
      });
    }
    const rows: (string | number)[][] = [];
    const series = RDCS.map((rdc) => ({
      name: `${rdc} (CPI 1.4–2.1 as whiskers)`,
      values: SPEEDUPS.map((r) => handshakeMs(t, cc2538WithPkaSpeedup(r), rdc)),
      ranges: SPEEDUPS.map((r): [number, number] => [
        handshakeMs(t, cc2538WithPkaSpeedup(r, CPI_RANGE.low), rdc),
        handshakeMs(t, cc2538WithPkaSpeedup(r, CPI_RANGE.high), rdc),
      ]),
    }));
    SPEEDUPS.forEach((r, i) => {
      for (const [k, rdc] of RDCS.entries()) {
        const [lo, hi] = series[k].ranges[i];
        rows.push([r === 1 ? 'software (measured)' : `software ÷ ${r}`, rdc, series[k].values[i], `${lo} – ${hi}`]);
      }
    });
    for (const rdc of RDCS) rows.push(['PKA estimate (profile cc2538-hw)', rdc, handshakeMs(t, CC2538_HW, rdc), '-']);
    // Where does software-only ECC (speed-up 1) stand against the paper's 4 s?
    const over = RDCS.flatMap((rdc, k) => {
      const [lo, hi] = series[k].ranges[0];
      const mid = series[k].values[0];
      return [`${rdc} ${(mid / 1000).toFixed(2)} s (${(lo / 1000).toFixed(2)}–${(hi / 1000).toFixed(2)})`];
    });
    const verdict = series.every((s) => s.ranges[0][1] < 4000)
      ? 'under 4 s even at the slowest CPI'
      : series.every((s) => s.values[0] < 4000)
        ? 'under 4 s at the middle CPI, at the limit at the slowest'
        : 'over 4 s';
    return resultOf(this, {
      table: { columns: ['ECC costs', 'rdc', 'handshake ms (CPI 1.75)', 'range ms (CPI 1.4–2.1)'], rows },
      chart: {
        title: 'X.509 handshake (device = client, 1 hop) vs PKA speed-up over our measured software',
        kind: 'line',
        categories,
        series,
        refs: [{ label: 'paper: < 4 s with hardware crypto', value: 4000 }],
        yLabel: 'ms',
        xLabel: 'PKA speed-up over our software P-256 (estimate swept: not measured)',
        note: 'Software ECC measured on a Cortex-M3 (eval/device-ecc); the speed-up of the CC2538 PKA is swept, not known.',
      },
      notes: [
        `With no hardware ECC at all (speed-up 1) our measured software P-256 gives an X.509 handshake of ${over.join(', ')}: ${verdict}. Any PKA speed-up ≥ 2 keeps it under 4 s with either RDC, so the paper's "< 4 s" no longer rests on the PKA estimate.`,
        'ContikiMAC adds about one second over NullRDC on a clean link (each datagram waits half a wake-up interval); see rdc-crossover for loss.',
      ],
    });
  },
};

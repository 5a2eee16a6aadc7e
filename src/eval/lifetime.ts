import type { SecurityMode } from '../dtls/credentials/identity.ts';
import { CC2538_HW, type SleepMode } from '../sim/profiles/index.ts';
import { EngineUnavailableError, transcriptFor } from '../sim/transcript.ts';
import type { Series } from './chart.ts';
import { type Experiment, NOT_MEASURED, resultOf } from './experiment.ts';
import { plan } from './plan.ts';

/**
 * `plan` over a device's life: battery days against how often the device re-handshakes, with full
 * handshakes or session resumptions (RFC 5246 §7.3, recorded from our engine), sleeping in the
 * paper's PM1 (0.6 mA) or in PM2 (1.3 µA, CC2538 datasheet). 64 B every 60 s, one hop, ContikiMAC,
 * cc2538-hw (PKA estimate), 2 400 mAh.
 */
const INTERVALS_H = [1, 6, 24, 168, 0];
const CASES: { mode: SecurityMode; kind: 'full' | 'resume'; sleep: SleepMode }[] = [
  { mode: 'x509', kind: 'full', sleep: 'pm1' },
  { mode: 'x509', kind: 'full', sleep: 'pm2' },
  { mode: 'x509', kind: 'resume', sleep: 'pm2' },
  { mode: 'psk', kind: 'full', sleep: 'pm2' },
  { mode: 'psk', kind: 'resume', sleep: 'pm2' },
];

export const lifetime: Experiment = {
  name: 'lifetime',
  title: 'Battery life vs re-handshake interval: full handshake vs resumption, PM1 vs PM2 (plan)',
  async run(ctx) {
    const rows: (string | number)[][] = [];
    const series: Series[] = [];
    const notes: string[] = [];
    for (const c of CASES) {
      const full = await ctx.transcript(c.mode);
      const resume =
        c.kind === 'resume'
          ? await transcriptFor(c.mode, { resume: true }).catch((e: unknown) =>
              e instanceof EngineUnavailableError ? e : new EngineUnavailableError(c.mode, (e as Error).message),
            )
          : undefined;
      const name = `${c.mode}, ${c.kind === 'full' ? 'full re-handshake' : 'resumption'}, ${c.sleep.toUpperCase()}`;
      if (full instanceof EngineUnavailableError) {
        rows.push([name, NOT_MEASURED]);
        series.push({ name, values: INTERVALS_H.map(() => null) });
        continue;
      }
      const days = INTERVALS_H.map((h) => {
        const r = plan(
          {
            mode: c.mode,
            role: 'client',
            hops: 1,
            payloadBytes: 64,
            intervalSeconds: 60,
            rdc: 'contikimac',
            profile: CC2538_HW,
            batteryMah: 2400,
            rehandshakeHours: h,
            lossRate: 0,
            sleepMode: c.sleep,
            rehandshakeKind: c.kind,
          },
          full,
          resume,
        );
        return Number(r.batteryDays.toFixed(1));
      });
      rows.push([name, ...days]);
      series.push({ name, values: days, dashed: c.kind === 'resume' });
    }
    notes.push(
      'PM1 is the paper’s LPM (0.6 mA); PM2 (1.3 µA) keeps the sleep timer ContikiMAC needs. The CPU time of each channel-check wake-up is not counted, which flatters PM2.',
      'The first handshake is always a full one; "resumption" re-handshakes with the abbreviated handshake our engine performs when offered the session (no ECC, 5 flights).',
    );
    return resultOf(this, {
      table: {
        columns: ['case', ...INTERVALS_H.map((h) => (h === 0 ? 'never (days)' : `every ${h} h (days)`))],
        rows,
      },
      chart: {
        title: 'Battery life (2 400 mAh, 64 B/min, 1 hop, ContikiMAC, PKA estimate) vs re-handshake interval',
        kind: 'line',
        categories: INTERVALS_H.map((h) => (h === 0 ? 'never' : `${h} h`)),
        series,
        yLabel: 'days',
        xLabel: 're-handshake interval',
        logY: true,
        note: 'PM currents: CC2538 datasheet (SWRS096). The paper’s battery figures are not stated; its PM1-only assumption is the lowest line.',
      },
      notes,
    });
  },
};

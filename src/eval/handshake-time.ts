import { simulateHandshake } from '../sim/handshake.ts';
import type { RdcName } from '../sim/mac.ts';
import { CC2538_HW } from '../sim/profiles/index.ts';
import { EngineUnavailableError } from '../sim/transcript.ts';
import { type Experiment, MODES, ms, NOT_MEASURED } from './experiment.ts';

/**
 * Paper Fig. 9: handshake completion time, device as DTLS client with hardware crypto, cloud as
 * server, one hop, ContikiMAC vs NullRDC ("NullMAC" in the paper).
 */
const RDCS: RdcName[] = ['contikimac', 'nullrdc'];

export const handshakeTime: Experiment = {
  name: 'handshake-time',
  title: 'DTLS handshake completion time, device as client (cc2538-hw, 1 hop) — Fig. 9',
  async run(ctx) {
    const rows: (string | number | null)[][] = [];
    const series = RDCS.map((r) => ({ name: r, values: [] as (number | null)[] }));
    const notes: string[] = [];
    for (const mode of MODES) {
      const t = await ctx.transcript(mode);
      RDCS.forEach((rdc, k) => {
        if (t instanceof EngineUnavailableError) {
          rows.push([mode, rdc, NOT_MEASURED, null, null, null]);
          series[k].values.push(null);
          return;
        }
        const r = simulateHandshake(t, { role: 'client', profile: CC2538_HW, rdc, hops: 1 });
        const ecc = r.flights.reduce((s, f) => s + f.deviceEcc, 0);
        const bytes = r.flights.reduce((s, f) => s + f.bytes, 0);
        rows.push([mode, rdc, ms(r.totalSeconds), ms(ecc), t.flights.length, bytes]);
        series[k].values.push(ms(r.totalSeconds));
      });
      if (t instanceof EngineUnavailableError) notes.push(`${mode}: ${t.message}`);
    }
    return {
      name: this.name,
      title: this.title,
      table: { columns: ['mode', 'rdc', 'handshake ms', 'device ECC ms', 'flights', 'handshake bytes'], rows },
      chart: {
        title: 'Handshake completion time (device = DTLS client, HW crypto, 1 hop)',
        kind: 'bar',
        categories: MODES,
        series,
        yLabel: 'ms',
        xLabel: 'CoAP security mode',
        note: 'Model: our engine’s transcript replayed on the CC2538 profile over 802.15.4/6LoWPAN.',
      },
      notes,
    };
  },
};

import { simulateHandshake } from '../sim/handshake.ts';
import { CC2538_HW } from '../sim/profiles/index.ts';
import { EngineUnavailableError, type Side } from '../sim/transcript.ts';
import type { Series } from './chart.ts';
import { type Experiment, MODES, mJ, ms, NOT_MEASURED, resultOf } from './experiment.ts';

/**
 * Paper Fig. 15: device energy per handshake flight, per mode, device as DTLS client and as server,
 * ContikiMAC, hardware crypto, one hop. A flight's window runs from the start of its preparation to
 * the end of its processing at the far end; the paper's windows instead span a flight and the next
 * one (it could not time-synchronise both ends) — ours need no synchronisation, so each flight stands
 * alone and the flights add up to the whole handshake.
 */
const ROLES: Side[] = ['client', 'server'];

const SHORT: Record<string, string> = {
  client_hello: 'CH',
  hello_verify_request: 'HVR',
  server_hello: 'SH',
  certificate: 'Cert',
  server_key_exchange: 'SKE',
  certificate_request: 'CR',
  server_hello_done: 'SHD',
  client_key_exchange: 'CKE',
  certificate_verify: 'CV',
  change_cipher_spec: 'CCS',
  finished: 'Fin',
};

/** The flight's messages, abbreviated (CH, HVR, SH, Cert, SKE, CR, SHD, CKE, CV, CCS, Fin). */
function flightLabel(messages: string[]): string {
  return messages.map((m) => SHORT[m] ?? m).join(' ');
}

export const energy: Experiment = {
  name: 'energy',
  title: 'Device energy per handshake flight (cc2538-hw, ContikiMAC, 1 hop) — Fig. 15',
  async run(ctx) {
    const rows: (string | number | null)[][] = [];
    const series: Series[] = [];
    const notes: string[] = [];
    let flightsMax = 0;
    const flightNames = new Map<number, string>();
    const perSeries: { name: string; byFlight: Map<number, number> }[] = [];
    for (const mode of MODES) {
      const t = await ctx.transcript(mode);
      if (t instanceof EngineUnavailableError) {
        for (const role of ROLES) rows.push([mode, role, '-', NOT_MEASURED, null, null, null]);
        notes.push(`${mode}: ${t.message}`);
        continue;
      }
      for (const role of ROLES) {
        const r = simulateHandshake(t, { role, profile: CC2538_HW, rdc: 'contikimac', hops: 1 });
        const byFlight = new Map<number, number>();
        for (const f of r.flights) {
          rows.push([
            mode,
            role,
            f.number,
            `${f.from}: ${f.messages.join(', ')}`,
            f.bytes,
            ms(f.seconds),
            mJ(f.energyJ),
          ]);
          byFlight.set(f.number, mJ(f.energyJ));
          if (mode === 'x509' || !flightNames.has(f.number)) flightNames.set(f.number, flightLabel(f.messages));
          flightsMax = Math.max(flightsMax, f.number);
        }
        rows.push([mode, role, 'all', 'whole handshake', null, ms(r.totalSeconds), mJ(r.energyJ)]);
        perSeries.push({ name: `${mode}, device = ${role}`, byFlight });
      }
    }
    const categories = Array.from(
      { length: Math.max(1, flightsMax) },
      (_, i) => `${i + 1}: ${flightNames.get(i + 1) ?? 'flight'}`,
    );
    for (const s of perSeries) {
      series.push({ name: s.name, values: categories.map((_, i) => s.byFlight.get(i + 1) ?? null) });
    }
    if (series.length === 0) series.push({ name: NOT_MEASURED, values: categories.map(() => null) });
    return resultOf(this, {
      table: { columns: ['mode', 'device role', 'flight', 'messages', 'bytes', 'ms', 'device mJ'], rows },
      chart: {
        title: 'Device energy per handshake flight (HW crypto, ContikiMAC, 1 hop)',
        kind: 'bar',
        categories,
        series,
        yLabel: 'mJ',
        width: 1000,
        height: 480,
        xLabel:
          'flight window: from its preparation to its processing at the far end (the paper’s windows spanned a flight and the next)',
        note: 'Energy = Σ I·V·t over Energest states (paper §5.2, Table 1 at 3 V); PKA = estimate. Paper Fig. 15: no values in its text.',
      },
      notes,
    });
  },
};

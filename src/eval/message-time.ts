import type { SecurityMode } from '../dtls/credentials/identity.ts';
import { messageTimes } from '../sim/handshake.ts';
import { CC2538_HW } from '../sim/profiles/index.ts';
import { EngineUnavailableError, type Side, type Transcript } from '../sim/transcript.ts';
import { type Experiment, ms, NOT_MEASURED, resultOf } from './experiment.ts';

/**
 * Paper Figs. 10–13: time to prepare (outgoing) or process (incoming) each handshake message on the
 * device, as DTLS server and as DTLS client, with the ECC functions and without them. The paper
 * shows certificate mode; we show every mode the engine can run, and chart the most demanding one.
 */
const ROLES: Side[] = ['server', 'client'];
const PREFERENCE: SecurityMode[] = ['x509', 'rpk', 'psk'];

export const messageTime: Experiment = {
  name: 'message-time',
  title: 'Prepare/process time per handshake message on the device (cc2538-hw) — Figs. 10–13',
  async run(ctx) {
    const rows: (string | number | null)[][] = [];
    const notes: string[] = [];
    const got: Partial<Record<SecurityMode, Transcript>> = {};
    for (const mode of PREFERENCE) {
      const t = await ctx.transcript(mode);
      if (t instanceof EngineUnavailableError) {
        rows.push([mode, '-', '-', NOT_MEASURED, '-', null, null, null]);
        notes.push(`${mode}: ${t.message}`);
        continue;
      }
      got[mode] = t;
      for (const role of ROLES) {
        for (const m of messageTimes(t, role, CC2538_HW)) {
          rows.push([mode, role, m.flight, m.message, m.phase, ms(m.withoutEcc + m.ecc), ms(m.ecc), ms(m.withoutEcc)]);
        }
      }
    }
    const chartMode = PREFERENCE.find((m) => got[m]);
    const categories: string[] = [];
    const withoutEcc: (number | null)[] = [];
    const ecc: (number | null)[] = [];
    if (chartMode) {
      const t = got[chartMode] as Transcript;
      for (const role of ROLES) {
        for (const m of messageTimes(t, role, CC2538_HW)) {
          categories.push(`${role === 'server' ? 'S' : 'C'}:${m.phase === 'prepare' ? '→' : '←'}${m.message}`);
          withoutEcc.push(ms(m.withoutEcc));
          ecc.push(ms(m.withoutEcc + m.ecc));
        }
      }
    } else {
      categories.push(NOT_MEASURED);
      withoutEcc.push(null);
      ecc.push(null);
    }
    return resultOf(this, {
      table: {
        columns: ['mode', 'device role', 'flight', 'message', 'phase', 'total ms', 'ECC ms', 'without ECC ms'],
        rows,
      },
      chart: {
        title: `Per-message time on the device, ${chartMode ?? 'no mode measured yet'} (S = device as server, C = as client)`,
        // Log scale: the paper needed two figures (10 and 11) to show ECC and non-ECC times at once.
        kind: 'bar',
        logY: true,
        categories,
        series: [
          { name: 'with ECC functions (Figs. 10, 12)', values: ecc },
          { name: 'without ECC functions (Figs. 11, 13)', values: withoutEcc },
        ],
        yLabel: 'ms',
        refs: [{ label: 'paper: 0.1–2.7 ms per message without ECC (§5.1.2)', value: 0.1, to: 2.7 }],
        width: Math.max(900, categories.length * 34 + 300),
        height: 560,
        note: '→ prepared (sent) by the device, ← processed (received). ECC: PKA estimate; per-message cost calibrated to the paper’s range (estimate).',
      },
      notes,
    });
  },
};

import { CC2538_HW } from '../sim/profiles/index.ts';
import { simulateRtt } from '../sim/rtt.ts';
import { type Experiment, ms, resultOf } from './experiment.ts';

/** Paper Fig. 17: round-trip time of 128 bytes over 1–4 hops, UDP vs DTLS, hardware AES, NullRDC. */
const HOPS = [1, 2, 3, 4];
const PAYLOAD = 128;

export const rttHops: Experiment = {
  name: 'rtt-hops',
  title: 'Round-trip time of 128 bytes vs hops, HW AES, NullRDC + CSMA — Fig. 17',
  async run() {
    const rows: (string | number | null)[][] = [];
    const udp: number[] = [];
    const dtls: number[] = [];
    let prevU = 0;
    let prevD = 0;
    for (const hops of HOPS) {
      const u = simulateRtt({ protocol: 'udp', payloadBytes: PAYLOAD, profile: CC2538_HW, rdc: 'nullrdc', hops });
      const d = simulateRtt({ protocol: 'dtls', payloadBytes: PAYLOAD, profile: CC2538_HW, rdc: 'nullrdc', hops });
      rows.push([
        hops,
        ms(u.seconds),
        ms(d.seconds),
        hops === 1 ? null : ms(u.seconds - prevU),
        hops === 1 ? null : ms(d.seconds - prevD),
      ]);
      prevU = u.seconds;
      prevD = d.seconds;
      udp.push(ms(u.seconds));
      dtls.push(ms(d.seconds));
    }
    return resultOf(this, {
      table: { columns: ['hops', 'UDP ms', 'DTLS ms', 'UDP +ms/hop', 'DTLS +ms/hop'], rows },
      chart: {
        title: 'Round-trip time of 128 B vs hops (HW AES, NullRDC + CSMA)',
        kind: 'line',
        categories: HOPS.map(String),
        series: [
          { name: 'UDP', values: udp },
          { name: 'DTLS', values: dtls },
        ],
        yLabel: 'ms',
        xLabel: 'hops between device and border router',
        note: 'Each mote reassembles and re-fragments (forwarding CPU per byte: estimate). Paper Fig. 17: no values in its text — shape only.',
      },
      notes: [],
    });
  },
};

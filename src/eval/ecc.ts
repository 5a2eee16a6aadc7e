import { CC2538_HW, CC2538_SW, ECC_OPS } from '../sim/profiles/index.ts';
import { type Experiment, ms } from './experiment.ts';

/** Paper Fig. 14: each ECC function, hardware (PKA) vs software. Profile data only — no engine. */
const LABEL: Record<(typeof ECC_OPS)[number], string> = {
  ecdh_keygen: 'key pair generation',
  ecdsa_sign: 'ECDSA sign',
  ecdh_agree: 'ECDH agreement (master secret)',
  ecdsa_verify: 'ECDSA verify',
};

export const ecc: Experiment = {
  name: 'ecc',
  title: 'ECC functions on the CC2538, hardware vs software (P-256) — Fig. 14',
  async run() {
    const rows = ECC_OPS.map((op) => {
      const hw = CC2538_HW.crypto[op];
      const sw = CC2538_SW.crypto[op];
      return [op, LABEL[op], ms(hw), ms(sw), Number((sw / hw).toFixed(1))];
    });
    return {
      name: this.name,
      title: this.title,
      table: { columns: ['op', 'function', 'hardware ms', 'software ms', 'sw / hw'], rows },
      chart: {
        title: 'ECC functions on the CC2538: hardware (PKA) vs software',
        kind: 'bar',
        categories: ECC_OPS.map((o) => LABEL[o]),
        series: [
          { name: 'hardware (cc2538-hw)', values: ECC_OPS.map((o) => ms(CC2538_HW.crypto[o])) },
          { name: 'software (cc2538-sw)', values: ECC_OPS.map((o) => ms(CC2538_SW.crypto[o])) },
        ],
        yLabel: 'ms',
        logY: true,
        note: 'Profile data (src/sim/profiles/cc2538.ts): see its comments for the source of every figure.',
      },
      notes: [
        'The paper states the shape of Fig. 14 (verify slowest, agreement second, keygen ≈ sign; software up to 18×) but not its values; the profile documents how each figure was set.',
      ],
    };
  },
};

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ECC_OPS, type EccOp } from './types.ts';

/**
 * Software P-256 on the device, from measurement: instructions executed by our own portable C P-256
 * (eval/device-ecc/p256.c) built for a Cortex-M3 and run under qemu with `-icount`
 * (`node eval/device-ecc/measure.mjs` re-measures and rewrites the JSON beside this file).
 * Instructions become time through a cycles-per-instruction range, which is a stated model input:
 *
 * CPI 1.4–2.1 on the CC2538 at 32 MHz. The arithmetic is dominated by the 9-instruction inner loop
 * of the Montgomery multiplication (eval/device-ecc: ldr, ldr, umlal, adds, adc, cmp, str, bne, mov).
 * Cortex-M3 timings (ARM DDI 0337, instruction timing): UMLAL 4–7 cycles, LDR 2 (1 when pipelined
 * after another load), STR 1–2, a taken branch 2–4 (pipeline refill), the rest 1: 14–19 cycles per
 * 9 instructions, CPI 1.55–2.1 for that loop; the carry/compare code around it is mostly
 * single-cycle, hence 1.4 at the low end. The profile uses the middle, 1.75, and the charts draw the range.
 */
export const CPI_RANGE = { low: 1.4, mid: 1.75, high: 2.1 } as const;

export interface OpInstructions {
  mean: number;
  min: number;
  max: number;
  runs: number[];
}

export interface MeasuredEcc {
  what: string;
  how: string;
  toolchain: string;
  emulator: string;
  measured: string;
  algorithm: string;
  checks: Record<string, boolean | string>;
  codeBytes: number;
  instructions: Record<EccOp, OpInstructions>;
  x86CallgrindInstructions: Record<EccOp, number> | null;
}

/** Checks the data file's shape: every ECC op with positive, ordered instruction counts. */
export function parseMeasuredEcc(json: unknown): MeasuredEcc {
  const d = json as Partial<MeasuredEcc> | null;
  if (!d || typeof d !== 'object') throw new TypeError('measured ECC data: not an object');
  for (const k of ['what', 'how', 'toolchain', 'emulator', 'measured', 'algorithm'] as const) {
    if (typeof d[k] !== 'string' || d[k] === '') throw new TypeError(`measured ECC data: '${k}' must be a string`);
  }
  if (!d.instructions || typeof d.instructions !== 'object') throw new TypeError('measured ECC data: no instructions');
  for (const op of ECC_OPS) {
    const s = d.instructions[op];
    if (!s || !Array.isArray(s.runs) || s.runs.length === 0)
      throw new TypeError(`measured ECC data: '${op}' has no runs`);
    const ok =
      [s.mean, s.min, s.max, ...s.runs].every((v) => Number.isInteger(v) && v > 0) &&
      s.min <= s.mean &&
      s.mean <= s.max &&
      s.runs.every((v) => v >= s.min && v <= s.max);
    if (!ok) throw new TypeError(`measured ECC data: '${op}' counts are not positive and ordered min ≤ mean ≤ max`);
  }
  return d as MeasuredEcc;
}

/**
 * The data file sits beside this module in src/; the compiled module (dist/sim/profiles/) reads the
 * same file from src/, which the package ships.
 */
function readMeasured(): unknown {
  const here = new URL('./cc2538-p256-measured.json', import.meta.url);
  const fromDist = new URL('../../../src/sim/profiles/cc2538-p256-measured.json', import.meta.url);
  for (const url of [here, fromDist]) {
    if (existsSync(url)) return JSON.parse(readFileSync(url, 'utf8'));
  }
  throw new Error(`measured ECC data not found: ${fileURLToPath(here)}`);
}

export const MEASURED_ECC: MeasuredEcc = parseMeasuredEcc(readMeasured());

/** Seconds per operation at `hz` for a CPI. */
export function softwareEccSeconds(op: EccOp, cpi: number, hz: number, which: 'mean' | 'min' | 'max' = 'mean'): number {
  return (MEASURED_ECC.instructions[op][which] * cpi) / hz;
}

import { CC2538_HW, CC2538_SW } from './cc2538.ts';
import type { DeviceProfile } from './types.ts';

export {
  CC2538_HW,
  CC2538_PKA_ESTIMATE,
  CC2538_POWER,
  CC2538_SLEEP_MA,
  CC2538_SW,
  CC2538_TICKS_PER_SECOND,
  cc2538WithPkaSpeedup,
  PAPER_SOFTWARE_ECC_FACTOR,
  PAPER_STATIC_RAM_KB,
  PKA_POINT_MUL_SECONDS,
  type SleepMode,
} from './cc2538.ts';
export { CPI_RANGE, MEASURED_ECC, type MeasuredEcc, parseMeasuredEcc, softwareEccSeconds } from './measured-ecc.ts';
export type { CryptoCosts, DeviceProfile, EccOp, PowerTable } from './types.ts';
export { ECC_OPS, isEccOp } from './types.ts';

export const PROFILES: Record<string, DeviceProfile> = {
  [CC2538_HW.name]: CC2538_HW,
  [CC2538_SW.name]: CC2538_SW,
};

export function getProfile(name: string): DeviceProfile {
  const p = PROFILES[name];
  if (!p) throw new Error(`unknown device profile '${name}' (known: ${Object.keys(PROFILES).join(', ')})`);
  return p;
}

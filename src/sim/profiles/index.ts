import { CC2538_HW, CC2538_SW } from './cc2538.ts';
import type { DeviceProfile } from './types.ts';

export { CC2538_HW, CC2538_POWER, CC2538_SW, CC2538_TICKS_PER_SECOND, PAPER_STATIC_RAM_KB } from './cc2538.ts';
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

import type { CryptoOp } from '../../dtls/meter.ts';

/**
 * A constrained device as the model sees it: what each crypto operation and each byte of protocol
 * processing costs in CPU time, how much memory it has, and what it draws in each power state.
 * Profiles are data (src/sim/profiles/*.ts) with their sources cited beside every figure.
 */
export interface PowerTable {
  /** Supply voltage, volts. */
  voltage: number;
  /** Current draw per Energest state, milliamperes. */
  currentMa: {
    cpu: number;
    lpm: number;
    tx: number;
    rxIdle: number;
    rxActive: number;
  };
}

/** Seconds of CPU time per operation, keyed by the meter's CryptoOp names (src/dtls/meter.ts). */
export type CryptoCosts = Record<CryptoOp, number>;

export interface DeviceProfile {
  /** Short name used on the command line, e.g. 'cc2538-hw'. */
  name: string;
  description: string;
  cpuHz: number;
  /**
   * CPU seconds per crypto operation. `sha256_block` is one 64-byte compression; `aes_block` one
   * 16-byte AES-128 block; `hmac` one whole HMAC-SHA256 call (the engine counts its compressions
   * under the call, not as sha256_block); `prf` the per-call overhead beyond its counted HMACs.
   */
  crypto: CryptoCosts;
  /** Fixed CPU seconds to prepare or process one handshake message (state machine, buffers). */
  perMessageSeconds: number;
  /** CPU seconds per byte parsed or serialised (record layer, handshake codec, copying). */
  perByteSeconds: number;
  /** CPU seconds per datagram at the 6LoWPAN/IPv6/UDP layers (compression, checksum, queueing). */
  perDatagramSeconds: number;
  /** Extra CPU seconds per byte when a router forwards a datagram (copying, reassembly). */
  forwardPerByteSeconds: number;
  ramBytes: number;
  romBytes: number;
  power: PowerTable;
  /** Energest/rtimer resolution, ticks per second. */
  ticksPerSecond: number;
}

/** The ECC subset of CryptoOp, in the order the paper's Fig. 14 lists them. */
export const ECC_OPS = ['ecdh_keygen', 'ecdsa_sign', 'ecdh_agree', 'ecdsa_verify'] as const;
export type EccOp = (typeof ECC_OPS)[number];

export function isEccOp(op: CryptoOp): op is EccOp {
  return (ECC_OPS as readonly string[]).includes(op);
}

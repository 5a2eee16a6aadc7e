import { CPI_RANGE, softwareEccSeconds } from './measured-ecc.ts';
import { type CryptoCosts, type DeviceProfile, ECC_OPS, type EccOp, type PowerTable } from './types.ts';

/**
 * TI CC2538 (ARM Cortex-M3 at 32 MHz, 32 KB RAM, 512 KB flash, IEEE 802.15.4 radio) as used on the
 * OpenMote in the SecureSense paper (§4.1), with and without its crypto engines.
 *
 * Where each figure comes from — in this order of preference:
 *  1. the paper itself (/work/shared/paper/securesense-paper.md, cited as "paper §x");
 *  2. published measurements on the same chip;
 *  3. a stated model estimate, when neither gives a number. These are marked ESTIMATE and the
 *     reasoning is written beside them, so that a reader can replace them with a measurement.
 *
 * The paper's Fig. 14 (ECC functions, hardware vs software) is an image whose bar values are not
 * in the text we have; the text gives only its shape: verification is the slowest function, the
 * master-secret computation (ECDH agreement) second, key generation and signing similar, and
 * software "up to 18 times" slower than hardware (paper §5.1.3); and a certificate handshake with
 * hardware crypto completes in "less than 4 s" (paper, Evaluation Synthesis). Neither claim is an
 * input here: software ECC is measured (measured-ecc.ts) and the hardware figure is a labelled estimate.
 */

/** Paper Table 1: CC2538 at 3 V. Tx 28.3 mA is the paper's linear interpolation to 3 dBm. */
export const CC2538_POWER: PowerTable = {
  voltage: 3,
  currentMa: { cpu: 13, lpm: 0.6, tx: 28.3, rxIdle: 24, rxActive: 20 },
};

/**
 * CC2538 power-mode currents (datasheet SWRS096, "Electrical characteristics: current consumption"):
 * PM1 0.6 mA (the paper's LPM: 4 µs wake-up, all RAM kept), PM2 1.3 µA (sleep timer running, 16 KB
 * RAM kept), PM3 0.4 µA (no sleep timer: only an external interrupt wakes it). The paper allowed PM1
 * only (§5.2); `plan --sleep` chooses. Wake-up overheads are not modelled.
 */
export const CC2538_SLEEP_MA = { pm1: 0.6, pm2: 0.0013, pm3: 0.0004 } as const;
export type SleepMode = keyof typeof CC2538_SLEEP_MA;

/** Contiki's rtimer on the CC2538/OpenMote: 32 768 ticks per second (paper §5.2). */
export const CC2538_TICKS_PER_SECOND = 32_768;

const CPU_HZ = 32_000_000;
const cycles = (n: number): number => n / CPU_HZ;

/**
 * ESTIMATE — one P-256 scalar multiplication on the CC2538 PKA engine: 0.35 s. The PKA runs the
 * whole ECC-MUL sequence in hardware (CC2538 user's guide SWRU319, PKA chapter). This figure was
 * first sized so that an X.509 handshake stays under the paper's "< 4 s" — so it cannot confirm that
 * claim. What checks it from outside: Mössinger et al., "Towards quantifying the cost of a secure
 * IoT" (2016), report for a CC2538 (Zolertia RE-Mote, Contiki, using "the cryptographic
 * capabilities" of the chip, in their abstract's words) that a secp192r1 signature adds roughly
 * 200 ms of runtime; scaled to P-256 by the field-multiplication cost ((256/192)² ≈ 1.8) and the
 * scalar length (× 256/192) that is ≈ 0.36–0.47 s, around this estimate — a check of scale only.
 * The ecc-sweep experiment also varies the PKA's speed-up over our measured software instead of trusting it.
 */
export const PKA_POINT_MUL_SECONDS = 0.35;

const ECC_HW = {
  // Key generation: one multiplication of the base point (paper: similar to signing).
  ecdh_keygen: PKA_POINT_MUL_SECONDS,
  // Signing: one base-point multiplication plus a modular inversion and two field products (PKA).
  ecdsa_sign: PKA_POINT_MUL_SECONDS + 0.01,
  // Agreement ("the master secret", paper §5.1.3: second slowest): one multiplication of the peer's
  // point plus validating that point is on the curve and the premaster/PRF set-up around it.
  ecdh_agree: PKA_POINT_MUL_SECONDS * 1.5,
  // Verification (paper: the slowest): u1·G + u2·Q — two multiplications and a point addition.
  ecdsa_verify: PKA_POINT_MUL_SECONDS * 2 + 0.02,
} as const;

/** The hardware ECC figures above, per operation (seconds): an estimate, see PKA_POINT_MUL_SECONDS. */
export const CC2538_PKA_ESTIMATE: Readonly<Record<EccOp, number>> = ECC_HW;

/**
 * Software ECC, MEASURED: our portable C P-256 counted instruction by instruction on a Cortex-M3
 * (measured-ecc.ts, eval/device-ecc/), at CPI 1.75 (range 1.4–2.1) and 32 MHz. This replaces the
 * earlier "18 × hardware", which took the paper's "up to 18 times" as an input and so made it true by
 * construction. The paper's own software library [13] is not this one; a slower library gives a
 * larger ratio (docs/evaluation.md).
 */
const ECC_SW: Record<EccOp, number> = Object.fromEntries(
  ECC_OPS.map((op) => [op, softwareEccSeconds(op, CPI_RANGE.mid, CPU_HZ)]),
) as Record<EccOp, number>;

/** The paper's "up to 18 times" (§5.1.3), kept only as a reference mark on charts — never as an input. */
export const PAPER_SOFTWARE_ECC_FACTOR = 18;

/**
 * Hardware AES and SHA-256 (CC2538 AES/SHA engine through Contiki's driver). Published measurement:
 * Contiki-NG PR #2773 (2023) ran the IEEE 802.15.4-2020 CCM* test vector C.2.2.2.1 a thousand times
 * in 90 ms on a CC2538, i.e. 90 µs per CCM* operation of about four AES blocks, driver overhead
 * included; hence ≈ 25 µs per AES block. The SHA-256 engine shares the same DMA path; ESTIMATE 30 µs
 * per 64-byte block, overhead included.
 */
const AES_BLOCK_HW = 25e-6;
const SHA256_BLOCK_HW = 30e-6;

/**
 * ESTIMATE — software AES-128 and SHA-256 in portable C (tinyDTLS's rijndael.c and sha2.c) on a
 * Cortex-M3: about 1 800 cycles per AES block (table-based C; optimised assembly reaches ~650,
 * Schwabe & Stoffelen, SAC 2016) and about 3 500 cycles per SHA-256 compression.
 */
const AES_BLOCK_SW = cycles(1_800);
const SHA256_BLOCK_SW = cycles(3_500);

function costs(ecc: Record<EccOp, number>, sym: 'hw' | 'sw'): CryptoCosts {
  const sha = sym === 'hw' ? SHA256_BLOCK_HW : SHA256_BLOCK_SW;
  return {
    ...ecc,
    sha256_block: sha,
    aes_block: sym === 'hw' ? AES_BLOCK_HW : AES_BLOCK_SW,
    // The engine counts HMAC calls without their SHA-256 compressions (src/dtls/crypto/prf.ts), so one
    // call carries them: HMAC-SHA256 (RFC 2104) of a PRF step (≤ 64-byte input) is the inner hash over
    // the padded key block and the message (2 compressions) plus the outer hash over the padded key
    // block and the 32-byte inner digest (2 compressions) — 4 in all.
    hmac: 4 * sha,
    // Per PRF call: label/seed concatenation and output copying; its HMACs are counted separately.
    prf: cycles(2_000),
  };
}

/**
 * Protocol processing outside crypto. The paper measures 0.1–2.7 ms per handshake message once the
 * ECC functions are removed (paper §5.1.2, Fig. 11); a fixed 0.1 ms per message plus ~64 cycles per
 * byte (parse, copy, state) reproduces that range for messages of 10–600 bytes with the hash blocks
 * counted separately. ESTIMATE: 0.5 ms per datagram for uIP + 6LoWPAN (compression, checksum,
 * queueing) and 2 µs per forwarded byte (per-hop reassembly and re-fragmentation in Contiki).
 */
const PROCESSING = {
  perMessageSeconds: 0.1e-3,
  perByteSeconds: cycles(64),
  perDatagramSeconds: 0.5e-3,
  forwardPerByteSeconds: 2e-6,
};

/**
 * A hardware profile whose PKA is `speedup` times faster than our measured software (at `cpi`):
 * for sweeping the one figure nobody has measured here instead of trusting an estimate.
 */
export function cc2538WithPkaSpeedup(speedup: number, cpi: number = CPI_RANGE.mid): DeviceProfile {
  if (!(speedup > 0)) throw new RangeError('PKA speed-up must be positive');
  const ecc = Object.fromEntries(ECC_OPS.map((op) => [op, softwareEccSeconds(op, cpi, CPU_HZ) / speedup])) as Record<
    EccOp,
    number
  >;
  return { ...CC2538_HW, name: `cc2538-pka-x${speedup}`, crypto: costs(ecc, 'hw') };
}

/** Paper §4.1: 32 KB on-chip RAM and 512 KB flash. */
const MEMORY = { ramBytes: 32 * 1024, romBytes: 512 * 1024 };

export const CC2538_HW: DeviceProfile = {
  name: 'cc2538-hw',
  description: 'CC2538 @ 32 MHz with hardware AES-128, SHA-256 and P-256 ECC (PKA)',
  cpuHz: CPU_HZ,
  crypto: costs(ECC_HW, 'hw'),
  ...PROCESSING,
  ...MEMORY,
  power: CC2538_POWER,
  ticksPerSecond: CC2538_TICKS_PER_SECOND,
};

export const CC2538_SW: DeviceProfile = {
  name: 'cc2538-sw',
  description: 'CC2538 @ 32 MHz with software AES-128, SHA-256 and P-256 ECC',
  cpuHz: CPU_HZ,
  crypto: costs(ECC_SW, 'sw'),
  ...PROCESSING,
  ...MEMORY,
  power: CC2538_POWER,
  ticksPerSecond: CC2538_TICKS_PER_SECOND,
};

/**
 * Static RAM of the paper's firmware images (paper §5.4, Fig. 18), as far as the text states it:
 * CoAP in certificate mode leaves ~8 KB of 32 KB with a 4 KB stack (⇒ ~20 KB static); DTLS-PSK adds
 * 3.3 KB to the UDP application and DTLS-certificate 6.6 KB; CoAP adds ~2 KB; UDP → CoAP-certificate
 * is +75% (⇒ UDP ≈ 20 / 1.75 ≈ 11.4 KB, and 11.4 + 2 + 6.6 = 20.0 agrees). The RPK bar has no number
 * in the text.
 */
export const PAPER_STATIC_RAM_KB: Record<string, number | undefined> = {
  udp: 11.4,
  'udp+dtls-psk': 11.4 + 3.3,
  'udp+dtls-rpk': undefined,
  'udp+dtls-x509': 11.4 + 6.6,
  coap: 11.4 + 2,
  'coap+dtls-psk': 11.4 + 2 + 3.3,
  'coap+dtls-rpk': undefined,
  'coap+dtls-x509': 11.4 + 2 + 6.6,
};

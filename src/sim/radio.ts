/**
 * IEEE 802.15.4-2006 2.4 GHz O-QPSK PHY and the unslotted CSMA-CA MAC, as constants and pure
 * functions of frame sizes. Times are seconds.
 *
 * PHY (IEEE 802.15.4-2006 §6.5): 250 kbit/s, 62.5 ksymbol/s, 2 symbols (32 µs) per octet; every
 * PPDU carries a synchronisation header (4-octet preamble + 1-octet SFD) and a 1-octet PHY header
 * (the frame length) in front of the PSDU, whose largest size is aMaxPHYPacketSize = 127 octets.
 */
export const BITRATE = 250_000;
export const SYMBOL_SECONDS = 16e-6;
export const OCTET_SECONDS = 8 / BITRATE; // 32 µs
/** Preamble (4) + SFD (1) + PHR (1). */
export const PHY_OVERHEAD_BYTES = 6;
/** aMaxPHYPacketSize (§6.4.1). */
export const MAX_PSDU_BYTES = 127;

/**
 * MAC header and footer of a Contiki data frame: frame control 2 + sequence number 1 + destination
 * PAN 2 + destination and source 64-bit addresses 8 + 8 (PAN ID compression) + FCS 2 = 23 octets,
 * which leaves 127 − 23 = 104 octets of MAC payload — the figure the paper uses (§5.3).
 */
export const MAC_OVERHEAD_BYTES = 2 + 1 + 2 + 8 + 8 + 2;
export const MAX_MAC_PAYLOAD_BYTES = MAX_PSDU_BYTES - MAC_OVERHEAD_BYTES; // 104
/** Immediate acknowledgment frame PSDU: frame control 2 + sequence 1 + FCS 2 (§7.2.2.3). */
export const ACK_PSDU_BYTES = 5;

/** aTurnaroundTime: 12 symbols for RX↔TX switching (§6.4.1). */
export const TURNAROUND_SECONDS = 12 * SYMBOL_SECONDS;
/** aUnitBackoffPeriod: 20 symbols (§7.4.1). */
export const UNIT_BACKOFF_SECONDS = 20 * SYMBOL_SECONDS;
/** CCA detection time: 8 symbols (§6.9.9). */
export const CCA_SECONDS = 8 * SYMBOL_SECONDS;
/**
 * macAckWaitDuration = aUnitBackoffPeriod + aTurnaroundTime + phySHRDuration + ⌈6·phySymbolsPerOctet⌉
 * = 20 + 12 + 10 + 12 = 54 symbols (§7.4.2).
 */
export const ACK_WAIT_SECONDS = 54 * SYMBOL_SECONDS;

/** CSMA-CA defaults (§7.4.2): macMinBE 3, macMaxBE 5, macMaxCSMABackoffs 4, macMaxFrameRetries 3. */
export const CSMA_DEFAULTS = { minBE: 3, maxBE: 5, maxBackoffs: 4, maxFrameRetries: 3 } as const;

/** Time on air of a PSDU of `psduBytes` octets, PHY header included. */
export function airtime(psduBytes: number): number {
  if (!Number.isInteger(psduBytes) || psduBytes < 1 || psduBytes > MAX_PSDU_BYTES) {
    throw new RangeError(`PSDU of ${psduBytes} octets is outside 1..${MAX_PSDU_BYTES}`);
  }
  return (PHY_OVERHEAD_BYTES + psduBytes) * OCTET_SECONDS;
}

/** PSDU size of a data frame carrying `macPayloadBytes` of MAC payload. */
export function dataFramePsdu(macPayloadBytes: number): number {
  if (!Number.isInteger(macPayloadBytes) || macPayloadBytes < 0 || macPayloadBytes > MAX_MAC_PAYLOAD_BYTES) {
    throw new RangeError(`MAC payload of ${macPayloadBytes} octets is outside 0..${MAX_MAC_PAYLOAD_BYTES}`);
  }
  return macPayloadBytes + MAC_OVERHEAD_BYTES;
}

export const ACK_AIRTIME = airtime(ACK_PSDU_BYTES);

/**
 * Mean random backoff before the CCA of attempt `nb` (0-based) on an idle channel: the backoff is
 * uniform in 0..2^BE − 1 unit periods with BE = min(macMinBE + nb, macMaxBE) (§7.5.1.4).
 */
export function meanBackoff(nb: number, minBE: number = CSMA_DEFAULTS.minBE, maxBE: number = CSMA_DEFAULTS.maxBE) {
  const be = Math.min(minBE + nb, maxBE);
  return ((2 ** be - 1) / 2) * UNIT_BACKOFF_SECONDS;
}

/** Radio state times of one node during an exchange, seconds. */
export interface RadioTimes {
  tx: number;
  rxIdle: number;
  rxActive: number;
}

export function addRadio(a: RadioTimes, b: RadioTimes): RadioTimes {
  return { tx: a.tx + b.tx, rxIdle: a.rxIdle + b.rxIdle, rxActive: a.rxActive + b.rxActive };
}

export const NO_RADIO: RadioTimes = { tx: 0, rxIdle: 0, rxActive: 0 };

/** The outcome of sending one unicast data frame over one link (expected values). */
export interface FrameExchange {
  /** Wall-clock seconds from the decision to send until the ACK (or the last failure). */
  duration: number;
  sender: RadioTimes;
  receiver: RadioTimes;
  /** Expected number of transmissions of the frame (1 without loss). */
  attempts: number;
  /** Probability that the frame was acknowledged within macMaxFrameRetries retransmissions. */
  delivered: number;
}

/**
 * One acknowledged frame with unslotted CSMA-CA on an idle channel and an always-on receiver, in
 * expected values: each attempt costs a mean backoff, a CCA, the RX→TX turnaround, the frame on air
 * and then either the ACK (turnaround + ACK airtime) or, when the frame is lost (probability
 * `lossRate`, independent per attempt), the full macAckWaitDuration. Attempt k happens with
 * probability lossRate^(k−1), up to 1 + macMaxFrameRetries attempts (§7.5.6.4).
 */
export function csmaUnicast(psduBytes: number, lossRate = 0, maxFrameRetries: number = CSMA_DEFAULTS.maxFrameRetries) {
  if (!(lossRate >= 0 && lossRate < 1)) throw new RangeError(`loss rate ${lossRate} is outside [0, 1)`);
  const frame = airtime(psduBytes);
  const out: FrameExchange = {
    duration: 0,
    sender: { ...NO_RADIO },
    receiver: { ...NO_RADIO },
    attempts: 0,
    delivered: 0,
  };
  for (let k = 0; k <= maxFrameRetries; k++) {
    const pHappens = lossRate ** k;
    const backoff = meanBackoff(k);
    const common = backoff + CCA_SECONDS + TURNAROUND_SECONDS + frame;
    const okTail = TURNAROUND_SECONDS + ACK_AIRTIME;
    const lostTail = ACK_WAIT_SECONDS;
    const pOk = 1 - lossRate;
    out.attempts += pHappens;
    out.duration += pHappens * (common + pOk * okTail + lossRate * lostTail);
    out.sender.tx += pHappens * frame;
    // The sender listens during backoff, CCA and turnarounds, then for the ACK or until timeout.
    out.sender.rxIdle +=
      pHappens * (backoff + CCA_SECONDS + TURNAROUND_SECONDS + lossRate * lostTail + pOk * TURNAROUND_SECONDS);
    out.sender.rxActive += pHappens * pOk * ACK_AIRTIME;
    // The receiver hears the frame it gets and transmits the ACK (the CC2538 auto-acknowledges).
    out.receiver.rxActive += pHappens * pOk * frame;
    out.receiver.tx += pHappens * pOk * ACK_AIRTIME;
    out.receiver.rxIdle += pHappens * pOk * TURNAROUND_SECONDS;
    out.delivered += pHappens * pOk;
  }
  return out;
}

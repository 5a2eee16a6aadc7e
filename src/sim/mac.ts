import {
  ACK_AIRTIME,
  airtime,
  CCA_SECONDS,
  csmaUnicast,
  type FrameExchange,
  NO_RADIO,
  TURNAROUND_SECONDS,
} from './radio.ts';

/**
 * Radio duty cycling (RDC) under CSMA, as Contiki layers them. Two drivers:
 *  - NullRDC: the radio is always on; a frame goes out after CSMA-CA and is acknowledged at once.
 *  - ContikiMAC (Dunkels, "The ContikiMAC radio duty cycling protocol", SICS T2011:13): every node
 *    wakes at a fixed channel-check rate (8 Hz in Contiki's default) and performs two CCAs; a sender
 *    repeats ("strobes") the full frame back to back until the receiver wakes, hears it and ACKs it.
 *    With phase-lock the sender learns the receiver's wake-up phase and starts strobing just before it.
 * Times are seconds; every result is an expected value.
 */
export type RdcName = 'nullrdc' | 'contikimac';

export interface RdcModel {
  readonly name: RdcName;
  /**
   * Send one unicast frame of `psduBytes`. `burst` is true for the second and later frames of one
   * datagram: ContikiMAC sets the frame-pending bit on fragments so the receiver stays awake, and the
   * burst goes out without strobing.
   */
  sendFrame(psduBytes: number, lossRate: number, burst: boolean): FrameExchange;
  /** Seconds of radio idle listening per second of otherwise idle time (1 for an always-on radio). */
  idleListenDutyCycle(): number;
  /**
   * How long a sender keeps offering one frame to a receiver that does not acknowledge it (for
   * instance because its CPU is blocked in an ECC computation and cannot empty the radio's one-frame
   * receive FIFO) before the MAC gives up and the datagram is lost.
   */
  retryWindowSeconds(): number;
}

/**
 * Contiki's CSMA MAC layer (core/net/mac/csma.c), which sits on either RDC: up to
 * CSMA_MAX_MAC_TRANSMISSIONS = 3 transmissions of a frame that is not acknowledged; before
 * retransmission n it waits T + U[0, min(n + 1, 3)·T) with the time base T = the RDC's channel-check
 * interval — or, when the RDC never sleeps (NullRDC), CLOCK_SECOND / NETSTACK_RDC_CHANNEL_CHECK_RATE,
 * i.e. the same 1/8 s by default. Mean waits: 2T after the first transmission, 2.5T after the second.
 */
export const CONTIKI_CSMA = { maxTransmissions: 3 } as const;

/** Mean seconds from the first to the last transmission of an unacknowledged frame (sum of the backoffs). */
export function csmaRetrySpanSeconds(timebase: number): number {
  let span = 0;
  for (let n = 1; n < CONTIKI_CSMA.maxTransmissions; n++) span += timebase + (Math.min(n + 1, 3) * timebase) / 2;
  return span;
}

export class NullRdc implements RdcModel {
  readonly name = 'nullrdc' as const;
  /** NETSTACK_RDC_CHANNEL_CHECK_RATE still sets Contiki CSMA's retransmission time base under NullRDC. */
  readonly checkRate: number;
  constructor(opts: ContikiMacOptions = {}) {
    this.checkRate = opts.channelCheckRate ?? CONTIKIMAC.channelCheckRate;
    if (!(this.checkRate > 0)) throw new RangeError('channel check rate must be positive');
  }
  retryWindowSeconds(): number {
    return csmaRetrySpanSeconds(1 / this.checkRate);
  }
  sendFrame(psduBytes: number, lossRate: number): FrameExchange {
    return csmaUnicast(psduBytes, lossRate);
  }
  idleListenDutyCycle(): number {
    return 1;
  }
}

/** Contiki 2.7/3.0 contikimac.c constants (RTIMER_ARCH_SECOND-based) used below. */
export const CONTIKIMAC = {
  /** NETSTACK_RDC_CHANNEL_CHECK_RATE default: 8 Hz. */
  channelCheckRate: 8,
  /** CCA_CHECK_TIME = RTIMER_ARCH_SECOND / 8192. */
  ccaCheckSeconds: 1 / 8192,
  /** CCA_SLEEP_TIME = RTIMER_ARCH_SECOND / 2000: the gap between the two CCAs of a wake-up. */
  ccaSleepSeconds: 1 / 2000,
  /** CCA_COUNT_MAX: CCAs per periodic wake-up. */
  ccaCountMax: 2,
  /** CCA_COUNT_MAX_TX: CCAs a sender performs to find the channel clear before strobing. */
  ccaCountMaxTx: 6,
  /** INTER_PACKET_INTERVAL = RTIMER_ARCH_SECOND / 2500: gap between strobed copies (ACK window). */
  interPacketSeconds: 1 / 2500,
  /**
   * GUARD_TIME = 10·CHECK_TIME + CHECK_TIME_TX, with CHECK_TIME = CCA_COUNT_MAX·(CCA_CHECK_TIME +
   * CCA_SLEEP_TIME) and CHECK_TIME_TX = CCA_COUNT_MAX_TX·(…): with phase-lock, strobing starts this
   * early before the receiver's expected wake-up (≈ 16.2 ms).
   */
  phaseLockGuardSeconds: 10 * (2 * (1 / 8192 + 1 / 2000)) + 6 * (1 / 8192 + 1 / 2000),
} as const;

export interface ContikiMacOptions {
  channelCheckRate?: number;
  phaseLock?: boolean;
}

export class ContikiMac implements RdcModel {
  readonly name = 'contikimac' as const;
  readonly checkRate: number;
  readonly phaseLock: boolean;

  constructor(opts: ContikiMacOptions = {}) {
    this.checkRate = opts.channelCheckRate ?? CONTIKIMAC.channelCheckRate;
    this.phaseLock = opts.phaseLock ?? false;
    if (!(this.checkRate > 0)) throw new RangeError('channel check rate must be positive');
  }

  /** Radio-on time of one periodic wake-up that finds the channel clear: CCA_COUNT_MAX CCAs. */
  wakeupRadioSeconds(): number {
    return CONTIKIMAC.ccaCountMax * CONTIKIMAC.ccaCheckSeconds;
  }

  idleListenDutyCycle(): number {
    return this.checkRate * this.wakeupRadioSeconds();
  }

  /**
   * Each transmission strobes for STROBE_TIME = the cycle time plus two check times (contikimac.c)
   * before it counts as not acknowledged; CSMA then backs off as under NullRDC.
   */
  retryWindowSeconds(): number {
    const period = 1 / this.checkRate;
    const checkTime = CONTIKIMAC.ccaCountMax * (CONTIKIMAC.ccaCheckSeconds + CONTIKIMAC.ccaSleepSeconds);
    const strobe = period + 2 * checkTime;
    return CONTIKI_CSMA.maxTransmissions * strobe + csmaRetrySpanSeconds(period);
  }

  /**
   * Expected wait of a strobing sender for the receiver to wake: uniform over one wake-up interval
   * (mean T/2) without phase-lock; with phase-lock, the guard time (mean half of it) — the sender
   * sleeps until then, so the latency is still ~T/2 but the radio is on only for the guard.
   */
  private strobeWait(): { latency: number; radioOn: number } {
    const period = 1 / this.checkRate;
    if (!this.phaseLock) return { latency: period / 2, radioOn: period / 2 };
    const guard = CONTIKIMAC.phaseLockGuardSeconds;
    return { latency: period / 2, radioOn: guard / 2 };
  }

  sendFrame(psduBytes: number, lossRate: number, burst: boolean): FrameExchange {
    if (burst) return csmaUnicast(psduBytes, lossRate);
    if (!(lossRate >= 0 && lossRate < 1)) throw new RangeError(`loss rate ${lossRate} is outside [0, 1)`);
    const frame = airtime(psduBytes);
    const unit = frame + CONTIKIMAC.interPacketSeconds;
    // Clear-channel assessment before the first copy.
    const ccaPhase = CONTIKIMAC.ccaCountMaxTx * (CONTIKIMAC.ccaCheckSeconds + CONTIKIMAC.ccaSleepSeconds);
    const ccaRadio = CONTIKIMAC.ccaCountMaxTx * CCA_SECONDS;
    const wait = this.strobeWait();
    // After waking, the receiver's CCA catches a copy in flight; it then needs one whole copy
    // (on average half a unit until the next copy starts, plus the copy itself) and ACKs it.
    // A lost copy is simply followed by the next one: loss adds 1/(1 − p) − 1 extra units.
    const extraUnits = lossRate / (1 - lossRate);
    const catchUp = unit / 2 + frame + extraUnits * unit;
    const ack = TURNAROUND_SECONDS + ACK_AIRTIME;
    const strobing = wait.radioOn + catchUp;
    const txShare = frame / unit;
    return {
      duration: ccaPhase + (wait.latency - wait.radioOn) + strobing + ack,
      sender: {
        tx: strobing * txShare,
        rxIdle: ccaRadio + strobing * (1 - txShare) + TURNAROUND_SECONDS,
        rxActive: ACK_AIRTIME,
      },
      receiver: {
        // The wake-up CCAs are charged by idleListenDutyCycle(); here the time it stays on for the copy.
        rxIdle: unit / 2 + extraUnits * unit + TURNAROUND_SECONDS,
        rxActive: frame,
        tx: ACK_AIRTIME,
      },
      attempts: strobing / unit,
      delivered: 1,
    };
  }
}

export function makeRdc(name: RdcName, opts: ContikiMacOptions = {}): RdcModel {
  if (name === 'nullrdc') return new NullRdc(opts);
  if (name === 'contikimac') return new ContikiMac(opts);
  throw new RangeError(`unknown RDC '${String(name)}' (nullrdc | contikimac)`);
}

export { NO_RADIO };

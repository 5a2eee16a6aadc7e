import type { PowerTable } from './profiles/types.ts';
import type { RadioTimes } from './radio.ts';

/**
 * Energest-style accounting (Dunkels et al., "Software-based on-line energy estimation for sensor
 * nodes", EmNets 2007) combined by the paper's formula (§5.2).
 *
 * Contiki's Energest counts ticks of the rtimer (32 768/s on the CC2538) spent in each state: CPU and
 * LPM are exclusive and together make up the elapsed time; the radio states (Tx, Rx-idle listening,
 * Rx-active receiving) are counted alongside them. The paper assumes the chip is in CPU mode whenever
 * the radio is used: radio time is first taken out of CPU time and, if radio time is left over, out
 * of LPM time. With P = I·V per state:
 *
 *   if t_CPU − t_radio > 0:  E = (t_CPU − t_radio)·P_CPU + t_LPM·P_LPM + t_Tx·P_Tx + t_RxA·P_RxA + t_RxI·P_RxI
 *   otherwise:               E = (t_LPM − (t_radio − t_CPU))·P_LPM + t_Tx·P_Tx + t_RxA·P_RxA + t_RxI·P_RxI
 *
 * and each t = T / T_s for a tick count T (Energy = (T/T_s)·(I·V)).
 */
export interface StateTimes extends RadioTimes {
  cpu: number;
  lpm: number;
}

export const ZERO_STATES: StateTimes = { cpu: 0, lpm: 0, tx: 0, rxIdle: 0, rxActive: 0 };

export function addStates(a: StateTimes, b: Partial<StateTimes>): StateTimes {
  return {
    cpu: a.cpu + (b.cpu ?? 0),
    lpm: a.lpm + (b.lpm ?? 0),
    tx: a.tx + (b.tx ?? 0),
    rxIdle: a.rxIdle + (b.rxIdle ?? 0),
    rxActive: a.rxActive + (b.rxActive ?? 0),
  };
}

export function subStates(a: StateTimes, b: StateTimes): StateTimes {
  return {
    cpu: a.cpu - b.cpu,
    lpm: a.lpm - b.lpm,
    tx: a.tx - b.tx,
    rxIdle: a.rxIdle - b.rxIdle,
    rxActive: a.rxActive - b.rxActive,
  };
}

/** Power per state in watts: P = I·V. */
export function statePowerW(power: PowerTable): Record<keyof StateTimes, number> {
  const v = power.voltage;
  const i = power.currentMa;
  return {
    cpu: (i.cpu / 1000) * v,
    lpm: (i.lpm / 1000) * v,
    tx: (i.tx / 1000) * v,
    rxIdle: (i.rxIdle / 1000) * v,
    rxActive: (i.rxActive / 1000) * v,
  };
}

/** Energest tick counts → seconds (t = T / T_s). */
export function ticksToSeconds(ticks: StateTimes, ticksPerSecond: number): StateTimes {
  if (!(ticksPerSecond > 0)) throw new RangeError('ticks per second must be positive');
  return {
    cpu: ticks.cpu / ticksPerSecond,
    lpm: ticks.lpm / ticksPerSecond,
    tx: ticks.tx / ticksPerSecond,
    rxIdle: ticks.rxIdle / ticksPerSecond,
    rxActive: ticks.rxActive / ticksPerSecond,
  };
}

/** Seconds → whole Energest ticks, as a node would report them. */
export function secondsToTicks(t: StateTimes, ticksPerSecond: number): StateTimes {
  const r = (x: number) => Math.round(x * ticksPerSecond);
  return { cpu: r(t.cpu), lpm: r(t.lpm), tx: r(t.tx), rxIdle: r(t.rxIdle), rxActive: r(t.rxActive) };
}

/** Energy in joules of state times in seconds, by the paper's formula (§5.2). */
export function energyJoules(t: StateTimes, power: PowerTable): number {
  for (const [k, v] of Object.entries(t)) {
    if (!(v >= -1e-12)) throw new RangeError(`state time ${k} = ${v} is negative`);
  }
  const p = statePowerW(power);
  const radio = t.tx + t.rxIdle + t.rxActive;
  const radioEnergy = t.tx * p.tx + t.rxActive * p.rxActive + t.rxIdle * p.rxIdle;
  if (t.cpu - radio > 0) return (t.cpu - radio) * p.cpu + t.lpm * p.lpm + radioEnergy;
  return Math.max(0, t.lpm - (radio - t.cpu)) * p.lpm + radioEnergy;
}

/** Energy in joules of Energest tick counts, by the paper's formula with t = T / T_s. */
export function energyFromTicks(ticks: StateTimes, power: PowerTable, ticksPerSecond: number): number {
  return energyJoules(ticksToSeconds(ticks, ticksPerSecond), power);
}

/**
 * A node's running Energest counters (seconds), with the elapsed time they cover.
 *
 * As on the device, the MCU stays in CPU mode while it drives the radio through a frame exchange
 * (Contiki busy-waits on the CC2538's transmit, CCA and ACK), so Energest's CPU counter includes
 * those radio periods — which is exactly why the paper's formula takes radio time out of CPU time.
 * Background listening (an always-on NullRDC radio while the MCU sleeps) does not count as CPU.
 */
export class EnergestLedger {
  private times: StateTimes = { ...ZERO_STATES };
  private elapsed = 0;

  /** CPU busy for `seconds` (crypto, parsing, forwarding). */
  cpu(seconds: number): void {
    this.times = addStates(this.times, { cpu: seconds });
  }

  /** A frame exchange: the radio states, with the MCU awake (CPU) throughout. */
  radio(r: RadioTimes): void {
    this.times = addStates(this.times, { ...r, cpu: r.tx + r.rxIdle + r.rxActive });
  }

  /** Background idle listening with the MCU asleep (an always-on radio, RDC channel checks). */
  listen(seconds: number): void {
    this.times = addStates(this.times, { rxIdle: seconds });
  }

  /** Advance the node's clock to `now`; LPM is whatever is not CPU. */
  setElapsed(now: number): void {
    this.elapsed = Math.max(this.elapsed, now);
  }

  /** The state times so far; LPM = elapsed − CPU (Energest: CPU and LPM partition the time). */
  snapshot(): StateTimes {
    return { ...this.times, lpm: Math.max(0, this.elapsed - this.times.cpu) };
  }
}

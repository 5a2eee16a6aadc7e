import { energyJoules, statePowerW } from './energy.ts';
import { type FlightResult, simulateHandshake } from './handshake.ts';
import { CONTIKIMAC, makeRdc, type RdcName } from './mac.ts';
import type { DeviceProfile } from './profiles/types.ts';
import {
  ACK_WAIT_SECONDS,
  airtime,
  CCA_SECONDS,
  CSMA_DEFAULTS,
  dataFramePsdu,
  meanBackoff,
  TURNAROUND_SECONDS,
} from './radio.ts';
import { fragment } from './sixlowpan.ts';
import type { Side, Transcript } from './transcript.ts';

/**
 * Monte-Carlo handshakes over a lossy link: the clean replay (simulateHandshake) gives every
 * flight's time and energy; each trial then draws, frame by frame and attempt by attempt, which
 * transmissions are lost, and adds what the MAC and DTLS do about it — a CSMA retry (ACK wait,
 * backoff, the frame again), another ContikiMAC strobe copy, or, when CSMA gives up on a frame,
 * the loss of the flight: the sender's DTLS timer (1 s, doubling) and a resend of the flight.
 * Losses follow a Bernoulli process or a Gilbert–Elliott channel (bursts), from a seeded PRNG so
 * that every run prints the same numbers.
 */
export type LossModel = { kind: 'bernoulli'; p: number } | { kind: 'gilbert-elliott'; p: number; meanBurst: number };

export interface MonteCarloSetup {
  role: Side;
  profile: DeviceProfile;
  rdc: RdcName;
  hops: number;
  loss: LossModel;
  trials: number;
  seed: number;
  retransmitInitialSeconds?: number;
  maxRetransmits?: number;
}

export interface Quantiles {
  p50: number;
  p95: number;
  mean: number;
}

export interface MonteCarloResult {
  seconds: Quantiles;
  energyJ: Quantiles;
  /** Trials in which a flight was lost more often than maxRetransmits allows. */
  failed: number;
  trials: number;
}

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A loss channel: `lost()` says whether the next transmission attempt is lost. Gilbert–Elliott with
 * a Good state that loses nothing and a Bad state that loses everything; the mean burst length L sets
 * P(Bad → Good) = 1/L and the mean loss p sets P(Good → Bad) = p/(L(1 − p)), so that the long-run
 * loss rate is p, as for the Bernoulli channel of the same p.
 */
export function lossChannel(model: LossModel, rand: () => number): () => boolean {
  if (!(model.p >= 0 && model.p < 1)) throw new RangeError(`loss rate ${model.p} is outside [0, 1)`);
  if (model.kind === 'bernoulli') return () => rand() < model.p;
  if (!(model.meanBurst >= 1)) throw new RangeError('mean burst length must be ≥ 1');
  const toGood = 1 / model.meanBurst;
  const toBad = model.p / (model.meanBurst * (1 - model.p));
  let bad = rand() < model.p;
  return () => {
    bad = bad ? rand() >= toGood : rand() < toBad;
    return bad;
  };
}

export function quantiles(xs: number[]): Quantiles {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  return { p50: at(0.5), p95: at(0.95), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

interface FlightShape {
  clean: FlightResult;
  /** PSDU sizes of each datagram's frames. */
  datagrams: number[][];
  deviceSends: boolean;
  /** Seconds and device joules of putting the flight on the air once more (a DTLS resend). */
  resendSeconds: number;
  resendJ: number;
}

export function monteCarloHandshake(t: Transcript, setup: MonteCarloSetup): MonteCarloResult {
  if (!(Number.isInteger(setup.trials) && setup.trials > 0)) throw new RangeError('trials must be a positive integer');
  const clean = simulateHandshake(t, {
    role: setup.role,
    profile: setup.profile,
    rdc: setup.rdc,
    hops: setup.hops,
    lossRate: 0,
  });
  const w = statePowerW(setup.profile.power);
  const idleW = energyJoules(
    { cpu: 0, lpm: 1, tx: 0, rxIdle: makeRdc(setup.rdc).idleListenDutyCycle(), rxActive: 0 },
    setup.profile.power,
  );
  const shapes: FlightShape[] = t.flights.map((f, i) => {
    const c = clean.flights[i];
    const air = Math.max(0, c.seconds - c.deviceCpu);
    return {
      clean: c,
      datagrams: f.records.map((r) => fragment(r.bytes).frames.map(dataFramePsdu)),
      deviceSends: f.from === setup.role,
      resendSeconds: air,
      resendJ: Math.max(0, c.energyJ - c.deviceCpu * w.cpu),
    };
  });
  const rand = prng(setup.seed);
  const rto0 = setup.retransmitInitialSeconds ?? 1;
  const maxRetx = setup.maxRetransmits ?? 6;
  const times: number[] = [];
  const energies: number[] = [];
  let failed = 0;
  for (let trial = 0; trial < setup.trials; trial++) {
    const lost = lossChannel(setup.loss, rand);
    let seconds = clean.totalSeconds;
    let joules = clean.energyJ;
    let gaveUp = false;
    for (const fl of shapes) {
      let rto = rto0;
      for (let attempt = 0; ; attempt++) {
        const x = transmitFlight(fl, setup, lost, w);
        seconds += x.seconds;
        joules += x.joules;
        if (x.delivered) break;
        if (attempt >= maxRetx) {
          gaveUp = true;
          break;
        }
        // The sender's timer fires, then it puts the whole flight on the air again.
        seconds += rto + fl.resendSeconds;
        joules += rto * idleW + fl.resendJ;
        rto = Math.min(2 * rto, 60);
      }
      if (gaveUp) break;
    }
    if (gaveUp) failed++;
    times.push(seconds);
    energies.push(joules);
  }
  return { seconds: quantiles(times), energyJ: quantiles(energies), failed, trials: setup.trials };
}

/**
 * Extra time and device energy of one transmission of a flight beyond the clean replay, and whether
 * every datagram got through. Hop 0 is the device's own link (its radio pays there); the other hops
 * only add time.
 */
function transmitFlight(
  fl: FlightShape,
  setup: MonteCarloSetup,
  lost: () => boolean,
  w: ReturnType<typeof statePowerW>,
): { seconds: number; joules: number; delivered: boolean } {
  let seconds = 0;
  let joules = 0;
  for (const frames of fl.datagrams) {
    for (let hop = 0; hop < setup.hops; hop++) {
      const deviceHop = hop === 0;
      for (let k = 0; k < frames.length; k++) {
        const frame = airtime(frames[k]);
        if (setup.rdc === 'contikimac' && k === 0) {
          // Strobing: a lost copy is followed by the next one 0.4 ms later (bounded by one cycle's worth).
          const unit = frame + CONTIKIMAC.interPacketSeconds;
          let extra = 0;
          while (lost() && extra < 1000) extra++;
          seconds += extra * unit;
          if (deviceHop)
            joules +=
              extra * (fl.deviceSends ? frame * w.tx + CONTIKIMAC.interPacketSeconds * w.rxIdle : unit * w.rxIdle);
          continue;
        }
        // CSMA: up to 1 + macMaxFrameRetries attempts; each failed one costs the ACK wait, a backoff, CCA, the frame.
        let ok = false;
        for (let a = 0; a <= CSMA_DEFAULTS.maxFrameRetries; a++) {
          if (!lost()) {
            ok = true;
            break;
          }
          const retry = ACK_WAIT_SECONDS + meanBackoff(a + 1) + CCA_SECONDS + TURNAROUND_SECONDS + frame;
          seconds += retry;
          if (deviceHop && fl.deviceSends) joules += frame * w.tx + (retry - frame) * w.rxIdle;
        }
        if (!ok) return { seconds, joules, delivered: false };
      }
    }
  }
  return { seconds, joules, delivered: true };
}

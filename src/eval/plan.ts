import type { SecurityMode } from '../dtls/credentials/identity.ts';
import { energyJoules, subStates } from '../sim/energy.ts';
import { type HandshakeResult, simulateHandshake } from '../sim/handshake.ts';
import { makeRdc, type RdcName } from '../sim/mac.ts';
import { Network } from '../sim/network.ts';
import { CC2538_SLEEP_MA, type SleepMode } from '../sim/profiles/index.ts';
import type { DeviceProfile } from '../sim/profiles/types.ts';
import { ccmAesBlocks, dtlsRecordBytes } from '../sim/sixlowpan.ts';
import { EngineUnavailableError, type Side, type Transcript } from '../sim/transcript.ts';

/**
 * `securesense plan`: what a deployment costs one device — the handshake (time, energy), each report
 * (a CoAP message of `payloadBytes` up, answered by a 4-byte empty ACK, RFC 7252 §4.2, each in one
 * DTLS record), and the battery life that follows at the given reporting interval, with one full
 * handshake every `rehandshakeHours` (0: a single handshake for the battery's life).
 */
export interface PlanInput {
  mode: SecurityMode;
  role: Side;
  hops: number;
  payloadBytes: number;
  intervalSeconds: number;
  rdc: RdcName;
  /** ContikiMAC only: senders know their neighbours' wake-up phase (after a first exchange). */
  phaseLock?: boolean;
  profile: DeviceProfile;
  batteryMah: number;
  rehandshakeHours: number;
  lossRate: number;
  /** CC2538 power mode between activities (default pm1, the paper's LPM at 0.6 mA). */
  sleepMode?: SleepMode;
  /** What the periodic re-handshake is: a full handshake (default) or a session resumption. */
  rehandshakeKind?: 'full' | 'resume';
}

export interface PlanResult {
  input: Omit<PlanInput, 'profile'> & { profile: string };
  handshake: { seconds: number; energyMj: number; bytes: number } | { notMeasured: string };
  /** The periodic re-handshake when it is a resumption (the first handshake is always full). */
  resumption?: { seconds: number; energyMj: number; bytes: number } | { notMeasured: string };
  report: { seconds: number; energyMj: number; framesUp: number };
  idlePowerMw: number;
  averagePowerMw: number;
  batteryDays: number;
  /** What the battery life leaves out. */
  caveats: string[];
}

const COAP_EMPTY_ACK_BYTES = 4;
/** Nominal cell voltage for the battery energy: the profile's supply (2 × AA at 1.5 V = 3 V). */
/** One simulated handshake as the plan reports it: time, energy in mJ and the bytes of all its flights. */
function handshakeCost(hs: HandshakeResult): {
  seconds: number;
  energyMj: number;
  bytes: number;
} {
  return {
    seconds: hs.totalSeconds,
    energyMj: hs.energyJ * 1000,
    bytes: hs.flights.reduce((s, f) => s + f.bytes, 0),
  };
}

function batteryJoules(mah: number, volts: number): number {
  return (mah / 1000) * 3600 * volts;
}

export function plan(
  input: PlanInput,
  transcript: Transcript | EngineUnavailableError,
  resumeTranscript?: Transcript | EngineUnavailableError,
): PlanResult {
  const sleep = input.sleepMode ?? 'pm1';
  if (!(sleep in CC2538_SLEEP_MA))
    throw new RangeError(`--sleep must be one of ${Object.keys(CC2538_SLEEP_MA).join(', ')}`);
  const p: DeviceProfile = {
    ...input.profile,
    power: { ...input.profile.power, currentMa: { ...input.profile.power.currentMa, lpm: CC2538_SLEEP_MA[sleep] } },
  };
  if (!(input.intervalSeconds > 0)) throw new RangeError('--interval must be a positive number of seconds');
  if (!(input.batteryMah > 0)) throw new RangeError('--battery-mah must be positive');
  if (!Number.isInteger(input.payloadBytes) || input.payloadBytes < 0)
    throw new RangeError('--payload must be a byte count');
  const rdc = makeRdc(input.rdc, { phaseLock: input.phaseLock });

  // Idle power: LPM plus the RDC's background listening (always-on radio under NullRDC).
  const idle = energyJoules({ cpu: 0, lpm: 1, tx: 0, rxIdle: rdc.idleListenDutyCycle(), rxActive: 0 }, p.power);

  // One report: encrypt, send up, receive the ACK, decrypt.
  const net = new Network({ hops: input.hops, rdc, profile: p, lossRate: input.lossRate });
  const upBytes = dtlsRecordBytes(input.payloadBytes);
  const downBytes = dtlsRecordBytes(COAP_EMPTY_ACK_BYTES);
  const before = net.states();
  net.deviceCompute(ccmAesBlocks(input.payloadBytes) * p.crypto.aes_block + upBytes * p.perByteSeconds);
  const up = net.sendDatagram('up', upBytes);
  net.cloudCompute(0.5e-3);
  net.sendDatagram('down', downBytes);
  net.deviceCompute(ccmAesBlocks(COAP_EMPTY_ACK_BYTES) * p.crypto.aes_block + downBytes * p.perByteSeconds);
  const reportSeconds = net.now;
  const reportJ = energyJoules(subStates(net.states(), before), p.power);
  const reportExtra = Math.max(0, reportJ - idle * reportSeconds);

  const caveats: string[] = [
    'sensor reading and application code are not counted',
    'battery self-discharge is ignored',
  ];
  if (sleep !== 'pm1')
    caveats.push(
      `sleeping in ${sleep.toUpperCase()} (${CC2538_SLEEP_MA[sleep] * 1000} µA); the CPU time of each wake-up is not counted`,
    );
  if (sleep === 'pm3')
    caveats.push('PM3 stops the sleep timer: only an external interrupt (e.g. an RTC) can wake the device');
  if (sleep !== 'pm1' && input.rdc === 'nullrdc')
    caveats.push('NullRDC keeps the radio on, so the deep sleep mode barely matters');
  let handshake: PlanResult['handshake'];
  let resumption: PlanResult['resumption'];
  let hsExtraPerSecond = 0;
  if (transcript instanceof EngineUnavailableError) {
    handshake = { notMeasured: transcript.message };
    caveats.push('handshakes are left out of the battery life: not yet measured for this mode');
  } else {
    // The full handshake and the resumption run over the same link.
    const link = {
      role: input.role,
      profile: p,
      rdc: input.rdc,
      phaseLock: input.phaseLock,
      hops: input.hops,
      lossRate: input.lossRate,
    };
    const hs = simulateHandshake(transcript, link);
    handshake = handshakeCost(hs);
    let hsExtra = Math.max(0, hs.energyJ - idle * hs.totalSeconds);
    if (input.rehandshakeKind === 'resume') {
      if (!resumeTranscript || resumeTranscript instanceof EngineUnavailableError) {
        resumption = { notMeasured: resumeTranscript?.message ?? 'no resumption transcript given' };
        caveats.push('resumption not measured: the re-handshakes are counted as full handshakes');
      } else {
        const rs = simulateHandshake(resumeTranscript, link);
        resumption = handshakeCost(rs);
        hsExtra = Math.max(0, rs.energyJ - idle * rs.totalSeconds);
      }
    }
    if (input.rehandshakeHours > 0) hsExtraPerSecond = hsExtra / (input.rehandshakeHours * 3600);
  }
  const avgW = idle + reportExtra / input.intervalSeconds + hsExtraPerSecond;
  const lifeSeconds = batteryJoules(input.batteryMah, p.power.voltage) / avgW;
  return {
    input: { ...input, profile: p.name, sleepMode: sleep },
    handshake,
    ...(resumption ? { resumption } : {}),
    report: { seconds: reportSeconds, energyMj: reportJ * 1000, framesUp: up.framesPerHop },
    idlePowerMw: idle * 1000,
    averagePowerMw: avgW * 1000,
    batteryDays: lifeSeconds / 86400,
    caveats,
  };
}

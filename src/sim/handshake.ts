import type { CryptoOp, CryptoPurpose } from '../dtls/meter.ts';
import { energyJoules, type StateTimes, subStates } from './energy.ts';
import { makeRdc, type RdcName } from './mac.ts';
import { Network } from './network.ts';
import { type DeviceProfile, isEccOp } from './profiles/types.ts';
import type { CryptoUse, Side, Transcript, TranscriptFlight, TranscriptMessage } from './transcript.ts';

/**
 * Replays a recorded transcript on a device profile over the network model: the device plays one
 * role of the handshake, the cloud (a server-class host, fast enough to leave out, paper §5.1.1)
 * the other. Each DTLS record travels in its own datagram, as tinyDTLS — the paper's device
 * stack — sends them.
 */
export interface DeviceSetup {
  role: Side;
  profile: DeviceProfile;
  rdc: RdcName;
  phaseLock?: boolean;
  hops: number;
  lossRate?: number;
  /** Cloud CPU seconds per flight it prepares or processes. Default 1 ms. */
  cloudSecondsPerFlight?: number;
  /** DTLS initial retransmission timeout, seconds (RFC 6347 §4.2.4.1 and our engine: 1 s). */
  retransmitInitialSeconds?: number;
  /** Retransmissions before the handshake fails (our engine's default: 6). */
  maxRetransmits?: number;
  /** Channel-check rate, Hz (ContikiMAC's wake-ups; under NullRDC, Contiki CSMA's retry time base). */
  channelCheckRate?: number;
  /**
   * Model the busy receiver: the device handles each record as it arrives and its CPU is blocked
   * during an ECC operation, so frames sent to it meanwhile are acknowledged only if it is free again
   * within the sender MAC's retry window; otherwise they are lost and the flight's sender resends
   * the flight when its DTLS timer fires. Default off.
   */
  busyReceiver?: boolean;
}

/** Cap of the doubling retransmission timeout (RFC 6347 §4.2.4.1: at least 60 s). */
const RETRANSMIT_MAX_SECONDS = 60;

export interface FlightResult {
  number: number;
  from: Side;
  messages: string[];
  /** Record bytes of the flight on the wire (DTLS records, headers included). */
  bytes: number;
  datagrams: number;
  /** Radio frames per hop. */
  frames: number;
  /** Device CPU seconds spent on this flight (preparing or processing it), of which ECC. */
  deviceCpu: number;
  deviceEcc: number;
  /** Seconds from the start of the flight's preparation until it is processed at the far end. */
  seconds: number;
  /** Device energy over that window, joules (paper §5.2 formula). */
  energyJ: number;
  /** Probability that a datagram of the flight was lost beyond the MAC's retries. */
  lossProbability: number;
  /** Expected number of DTLS retransmissions of the flight. */
  expectedRetransmissions: number;
  /** Of those, retransmissions because records reached the device while it was busy (busy-receiver model). */
  busyRetransmissions: number;
}

/**
 * The busy receiver in one flight the device receives: message i keeps the device's CPU busy for
 * busy[i] seconds; the records behind it wait in the sender's MAC for at most `window` seconds and
 * are lost if it is busy longer. The flight's sender then resends the whole flight after its DTLS
 * timer (doubling from `rto`); the device skips what it already handled and resumes at the first
 * lost message. Returns the extra wait and the number of resends (Infinity if the handshake fails).
 */
export function busyReceiverRounds(busy: number[], window: number, rto: number, maxRetransmits: number) {
  let next = 0;
  let wait = 0;
  let resends = 0;
  while (next < busy.length) {
    let elapsed = 0;
    let i = next;
    for (;;) {
      elapsed += busy[i];
      if (i === busy.length - 1) {
        next = busy.length;
        break;
      }
      if (busy[i] > window) {
        next = i + 1;
        break;
      }
      i++;
    }
    if (next >= busy.length) break;
    if (resends >= maxRetransmits) return { waitSeconds: wait, resends: Number.POSITIVE_INFINITY };
    wait += Math.max(0, rto - elapsed);
    resends++;
    rto = Math.min(2 * rto, RETRANSMIT_MAX_SECONDS);
  }
  return { waitSeconds: wait, resends };
}

export interface HandshakeResult {
  totalSeconds: number;
  energyJ: number;
  device: StateTimes;
  flights: FlightResult[];
}

export function cryptoSeconds(profile: DeviceProfile, uses: Iterable<{ op: CryptoOp; count: number }>, ecc?: boolean) {
  let s = 0;
  for (const u of uses) {
    if (ecc === undefined || isEccOp(u.op) === ecc) s += profile.crypto[u.op] * u.count;
  }
  return s;
}

/** CPU seconds to parse or serialise one handshake message, crypto aside. */
export function codecSeconds(profile: DeviceProfile, m: TranscriptMessage): number {
  return profile.perMessageSeconds + profile.perByteSeconds * m.bodyBytes;
}

function deviceUses(f: TranscriptFlight, role: Side): CryptoUse[] {
  return f.crypto.filter((c) => c.side === role);
}

export function simulateHandshake(t: Transcript, setup: DeviceSetup): HandshakeResult {
  const rdc = makeRdc(setup.rdc, { phaseLock: setup.phaseLock, channelCheckRate: setup.channelCheckRate });
  const net = new Network({
    hops: setup.hops,
    rdc,
    lossRate: setup.lossRate,
    profile: setup.profile,
  });
  const cloudCpu = setup.cloudSecondsPerFlight ?? 1e-3;
  const p = setup.profile;
  const flights: FlightResult[] = [];
  const power = p.power;
  for (const f of t.flights) {
    const before = net.states();
    const t0 = net.now;
    const uses = deviceUses(f, setup.role);
    const codec = f.messages.reduce((s, m) => s + codecSeconds(p, m), 0);
    const crypto = cryptoSeconds(p, uses);
    const deviceSends = f.from === setup.role;
    // Preparation at the sender, transmission record by record, processing at the receiver.
    if (deviceSends)
      net.deviceCompute(
        codec +
          cryptoSeconds(
            p,
            uses.filter((u) => u.phase === 'prepare'),
          ),
      );
    else net.cloudCompute(cloudCpu);
    let frames = 0;
    let delivered = 1;
    const sendStart = net.now;
    const radioBefore = { ...net.device.radio };
    for (const r of f.records) {
      const d = net.sendDatagram(deviceSends ? 'up' : 'down', r.bytes);
      frames += d.framesPerHop;
      delivered *= d.delivered;
    }
    const airSeconds = net.now - sendStart;
    // A datagram lost beyond the MAC's retries costs the flight's sender a DTLS timeout and a resend
    // of the whole flight (RFC 6347 §4.2.4), the timeout doubling each time: expected values.
    const pFail = 1 - delivered;
    let retransmissions = 0;
    if (pFail > 0) {
      const sendTime = net.now - sendStart;
      const r0 = net.device.radio;
      const radio = {
        tx: r0.tx - radioBefore.tx,
        rxIdle: r0.rxIdle - radioBefore.rxIdle,
        rxActive: r0.rxActive - radioBefore.rxActive,
      };
      let wait = 0;
      let rto = setup.retransmitInitialSeconds ?? 1;
      for (let k = 1; k <= (setup.maxRetransmits ?? 6); k++) {
        const w = pFail ** k;
        retransmissions += w;
        wait += w * (rto + sendTime);
        rto = Math.min(2 * rto, RETRANSMIT_MAX_SECONDS);
      }
      net.charge(net.device, {
        tx: radio.tx * retransmissions,
        rxIdle: radio.rxIdle * retransmissions,
        rxActive: radio.rxActive * retransmissions,
      });
      net.clock.idle(wait);
    }
    let busyResends = 0;
    if (!deviceSends && setup.busyReceiver) {
      const busy = f.messages.map(
        (m) =>
          codecSeconds(p, m) +
          cryptoSeconds(
            p,
            uses.filter((u) => u.phase === 'process' && u.message === m.type),
          ),
      );
      const rounds = busyReceiverRounds(
        busy,
        rdc.retryWindowSeconds(),
        setup.retransmitInitialSeconds ?? 1,
        setup.maxRetransmits ?? 6,
      );
      busyResends = rounds.resends;
      // Each resend puts the flight on the air again (time and radio energy of one transmission).
      const resendAir = Number.isFinite(rounds.resends) ? rounds.resends * airSeconds : 0;
      net.clock.idle(rounds.waitSeconds + resendAir);
    }
    if (deviceSends) {
      net.deviceCompute(
        cryptoSeconds(
          p,
          uses.filter((u) => u.phase === 'process'),
        ),
      );
      net.cloudCompute(cloudCpu);
    } else net.deviceCompute(codec + crypto);
    const delta = subStates(net.states(), before);
    flights.push({
      number: f.number,
      from: f.from,
      messages: f.messages.map((m) => m.type),
      bytes: f.records.reduce((s, r) => s + r.bytes, 0),
      datagrams: f.records.length,
      frames,
      deviceCpu: codec + crypto,
      deviceEcc: cryptoSeconds(p, uses, true),
      seconds: net.now - t0,
      energyJ: energyJoules(delta, power),
      lossProbability: pFail,
      expectedRetransmissions: retransmissions + busyResends,
      busyRetransmissions: busyResends,
    });
  }
  const device = net.states();
  return { totalSeconds: net.now, energyJ: energyJoules(device, power), device, flights };
}

/** Prepare/process time of each handshake message on the device (the paper's Figs. 10–13). */
export interface MessageTime {
  flight: number;
  /** A handshake message type, or an item of its own: 'master secret', 'key block', 'record protection'. */
  message: string;
  phase: 'prepare' | 'process';
  /** Codec + non-ECC crypto seconds. */
  withoutEcc: number;
  ecc: number;
}

/**
 * Crypto the per-message table shows as items of their own rather than inside the message the
 * engine charged it to (ClientKeyExchange, or ServerHello on resumption): the paper's Figs. 10–13
 * show the master secret apart. With the extended master secret (RFC 7627) the session hash over
 * the handshake messages is its input, so it belongs to that item too.
 */
const ITEMS: Partial<Record<CryptoPurpose, string>> = {
  session_hash: 'master secret',
  master_secret: 'master secret',
  key_block: 'key block',
  record: 'record protection',
};

export function messageTimes(t: Transcript, role: Side, profile: DeviceProfile): MessageTime[] {
  const rows: MessageTime[] = [];
  for (const f of t.flights) {
    const phase = f.from === role ? 'prepare' : 'process';
    const uses = deviceUses(f, role);
    const named = new Set(f.messages.map((m) => m.type));
    const itemOf = (u: CryptoUse) => (u.purpose ? ITEMS[u.purpose] : undefined);
    const row = (message: string, codec: number, mine: CryptoUse[]) =>
      rows.push({
        flight: f.number,
        message,
        phase,
        withoutEcc: codec + cryptoSeconds(profile, mine, false),
        ecc: cryptoSeconds(profile, mine, true),
      });
    for (const m of f.messages) {
      row(
        m.type,
        codecSeconds(profile, m),
        uses.filter((u) => u.message === m.type && !itemOf(u)),
      );
    }
    const items = new Map<string, CryptoUse[]>();
    for (const u of uses) {
      // Crypto tied to no message of this flight, nor to an item, is shown as what it is not: other.
      const item = itemOf(u) ?? (u.message && named.has(u.message) ? undefined : `other crypto (flight ${f.number})`);
      if (item) items.set(item, [...(items.get(item) ?? []), u]);
    }
    for (const [item, mine] of items) row(item, 0, mine);
  }
  return rows;
}

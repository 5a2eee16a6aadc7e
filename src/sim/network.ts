import { EnergestLedger, type StateTimes } from './energy.ts';
import type { RdcModel } from './mac.ts';
import type { DeviceProfile } from './profiles/types.ts';
import { addRadio, dataFramePsdu, NO_RADIO, type RadioTimes } from './radio.ts';
import { fragment, UNCOMPRESSED_IPV6_UDP_BYTES } from './sixlowpan.ts';

/**
 * The paper's testbed (Fig. 8) as a static route: the device, `hops − 1` forwarding motes, the
 * 6LoWPAN border router (6BR, also a mote) and the cloud host behind the 6BR's serial line.
 *
 *   device ──802.15.4── router1 ── … ──802.15.4── 6BR ══SLIP 115200══ cloud
 *
 * `hops` counts radio links between the device and the 6BR. Each mote forwards a datagram only once
 * it has all of its fragments (Contiki's sicslowpan reassembles at every hop) and then sends it on,
 * fragment by fragment. Events run on a discrete-event clock; every mote keeps Energest counters.
 */
export interface NetworkOptions {
  hops: number;
  rdc: RdcModel;
  /** Per-frame loss probability on every radio link (independent per transmission). */
  lossRate?: number;
  /** CPU costs of the motes (device, routers, 6BR). */
  profile: DeviceProfile;
  /** Baud rate of the 6BR's serial line to the cloud host (SLIP, 10 bits per byte). Default 115 200. */
  serialBaud?: number;
  /** Host-side latency of the cloud's network stack per datagram. Default 0.2 ms. */
  cloudStackSeconds?: number;
}

type Event = { at: number; seq: number; run: () => void };

/** A minimal discrete-event scheduler: events run in time order, ties in scheduling order. */
export class EventClock {
  now = 0;
  private queue: Event[] = [];
  private seq = 0;

  schedule(delay: number, run: () => void): void {
    if (!(delay >= 0)) throw new RangeError(`cannot schedule ${delay} s into the past`);
    this.queue.push({ at: this.now + delay, seq: this.seq++, run });
    this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
  }

  /** Run events until none is left. */
  run(): void {
    for (let e = this.queue.shift(); e; e = this.queue.shift()) {
      this.now = e.at;
      e.run();
    }
  }

  /** Let `seconds` pass with nothing happening. */
  idle(seconds: number): void {
    this.schedule(seconds, () => {});
    this.run();
  }
}

export interface Mote {
  readonly name: string;
  readonly ledger: EnergestLedger;
  /** Radio time already charged by exchanges (background listening fills the rest). */
  radioBusy: number;
  /** The radio state times charged by exchanges so far. */
  radio: RadioTimes;
}

export interface DatagramDelivery {
  /** Seconds from the sender handing the datagram down until the far end has it. */
  latency: number;
  /** Frames per radio hop. */
  framesPerHop: number;
  /** Total frames sent over all radio hops. */
  frames: number;
  /** Probability that every frame got through the MAC retries. */
  delivered: number;
}

export class Network {
  readonly clock = new EventClock();
  readonly motes: Mote[];
  private readonly opts: Required<NetworkOptions>;

  constructor(opts: NetworkOptions) {
    if (!Number.isInteger(opts.hops) || opts.hops < 1)
      throw new RangeError(`hops must be an integer ≥ 1, got ${opts.hops}`);
    this.opts = {
      ...opts,
      lossRate: opts.lossRate ?? 0,
      serialBaud: opts.serialBaud ?? 115_200,
      cloudStackSeconds: opts.cloudStackSeconds ?? 0.2e-3,
    };
    const names = ['device'];
    for (let i = 1; i < opts.hops; i++) names.push(`router${i}`);
    names.push('border-router');
    this.motes = names.map((name) => ({ name, ledger: new EnergestLedger(), radioBusy: 0, radio: { ...NO_RADIO } }));
  }

  get device(): Mote {
    return this.motes[0];
  }

  get now(): number {
    return this.clock.now;
  }

  /** The device's CPU is busy for `seconds` (the clock advances; other motes sleep). */
  deviceCompute(seconds: number): void {
    if (seconds <= 0) return;
    this.device.ledger.cpu(seconds);
    this.clock.idle(seconds);
  }

  /** The cloud computes for `seconds` (the clock advances; motes sleep). */
  cloudCompute(seconds: number): void {
    if (seconds > 0) this.clock.idle(seconds);
  }

  private serialSeconds(udpPayloadBytes: number): number {
    // SLIP frames the uncompressed IPv6 datagram between two END bytes (RFC 1055).
    return ((UNCOMPRESSED_IPV6_UDP_BYTES + udpPayloadBytes + 2) * 10) / this.opts.serialBaud;
  }

  /** Charge radio time of an exchange to a mote (also used for expected retransmissions). */
  charge(m: Mote, r: RadioTimes): void {
    m.ledger.radio(r);
    m.radio = addRadio(m.radio, r);
    m.radioBusy += r.tx + r.rxIdle + r.rxActive;
  }

  /** Send one UDP datagram of `udpPayloadBytes` from the device to the cloud or back. */
  sendDatagram(direction: 'up' | 'down', udpPayloadBytes: number): DatagramDelivery {
    const { frames } = fragment(udpPayloadBytes);
    const psdus = frames.map((f) => dataFramePsdu(f));
    const compressed = frames.reduce((a, b) => a + b, 0);
    const p = this.opts.profile;
    const start = this.clock.now;
    let delivered = 1;
    const path = direction === 'up' ? this.motes : [...this.motes].reverse();

    // One radio hop: the frames go back to back; the receiver then reassembles and processes.
    const radioHop = (i: number, done: () => void): void => {
      const from = path[i];
      const to = path[i + 1];
      let t = 0;
      let sender = { ...NO_RADIO };
      let receiver = { ...NO_RADIO };
      psdus.forEach((psdu, k) => {
        const x = this.opts.rdc.sendFrame(psdu, this.opts.lossRate, k > 0);
        t += x.duration;
        sender = addRadio(sender, x.sender);
        receiver = addRadio(receiver, x.receiver);
        delivered *= x.delivered;
      });
      this.clock.schedule(t, () => {
        this.charge(from, sender);
        this.charge(to, receiver);
        const isEndpoint = to === this.device;
        const cpu = p.perDatagramSeconds + (isEndpoint ? 0 : p.forwardPerByteSeconds * compressed);
        to.ledger.cpu(cpu);
        this.clock.schedule(cpu, done);
      });
    };

    const serialHop = (done: () => void): void => {
      this.clock.schedule(this.serialSeconds(udpPayloadBytes) + this.opts.cloudStackSeconds, done);
    };

    const finish = (): void => {};
    if (direction === 'up') {
      // The device's own uIP/6LoWPAN work precedes the first frame.
      this.device.ledger.cpu(p.perDatagramSeconds);
      const step = (i: number): void => {
        if (i === path.length - 1) serialHop(finish);
        else radioHop(i, () => step(i + 1));
      };
      this.clock.schedule(p.perDatagramSeconds, () => step(0));
    } else {
      // The 6BR receives the datagram on its serial line and compresses it before the first frame.
      const step = (i: number): void => {
        if (i < path.length - 1) radioHop(i, () => step(i + 1));
      };
      serialHop(() => {
        path[0].ledger.cpu(p.perDatagramSeconds);
        this.clock.schedule(p.perDatagramSeconds, () => step(0));
      });
    }
    this.clock.run();
    return {
      latency: this.clock.now - start,
      framesPerHop: frames.length,
      frames: frames.length * this.opts.hops,
      delivered,
    };
  }

  /** Energest counters of a mote at the current time, with background listening filled in. */
  states(m: Mote = this.device): StateTimes {
    m.ledger.setElapsed(this.clock.now);
    const snap = m.ledger.snapshot();
    const idle = Math.max(0, this.clock.now - m.radioBusy);
    return { ...snap, rxIdle: snap.rxIdle + idle * this.opts.rdc.idleListenDutyCycle() };
  }
}

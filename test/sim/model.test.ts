import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { energyFromTicks, energyJoules, secondsToTicks, statePowerW } from '../../src/sim/energy.ts';
import { CONTIKIMAC, ContikiMac, NullRdc } from '../../src/sim/mac.ts';
import { Network } from '../../src/sim/network.ts';
import { CC2538_HW, CC2538_POWER, CC2538_SW, getProfile } from '../../src/sim/profiles/index.ts';
import {
  ACK_AIRTIME,
  airtime,
  CCA_SECONDS,
  csmaUnicast,
  dataFramePsdu,
  MAX_MAC_PAYLOAD_BYTES,
  meanBackoff,
  TURNAROUND_SECONDS,
} from '../../src/sim/radio.ts';
import { simulateRtt } from '../../src/sim/rtt.ts';
import { ccmAesBlocks, DTLS_CCM8_OVERHEAD_BYTES, dtlsRecordBytes, fragment } from '../../src/sim/sixlowpan.ts';

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} ≉ ${b}`);

describe('6LoWPAN frame counts (issue 7 test cases)', () => {
  it('DTLS adds 29 bytes per record: 13 header + 8 explicit nonce + 8 MIC', () => {
    assert.equal(DTLS_CCM8_OVERHEAD_BYTES, 29);
    assert.equal(dtlsRecordBytes(64), 93);
  });
  it('UDP 64 B → 1 frame (18 + 64 = 82 ≤ 104)', () => {
    const f = fragment(64);
    assert.deepEqual(f.frames, [82]);
  });
  it('DTLS 64 B → 2 frames (18 + 93 = 111 > 104: FRAG1 4+18+80, FRAGN 5+13)', () => {
    assert.deepEqual(fragment(dtlsRecordBytes(64)).frames, [102, 18]);
  });
  it('UDP 128 B → 2 frames, DTLS 128 B → 2 frames', () => {
    assert.deepEqual(fragment(128).frames, [102, 53]);
    assert.deepEqual(fragment(dtlsRecordBytes(128)).frames, [102, 82]);
  });
  it('UDP 86 B is the largest unfragmented payload; 87 B fragments', () => {
    assert.equal(fragment(86).frames.length, 1);
    assert.equal(fragment(87).frames.length, 2);
  });
  it('large datagrams use 96-byte middle fragments, every frame within 104 bytes', () => {
    const f = fragment(500);
    assert.ok(f.frames.every((n) => n <= MAX_MAC_PAYLOAD_BYTES));
    // Payload carried: 80 + 96·k + last = 500
    const carried = f.frames[0] - 22 + f.frames.slice(1).reduce((s, n) => s + n - 5, 0);
    assert.equal(carried, 500);
    assert.deepEqual(f.frames, [102, 101, 101, 101, 101, 41]);
  });
  it('rejects datagrams beyond the IPv6 MTU and bad sizes', () => {
    assert.throws(() => fragment(1233), /MTU/);
    assert.throws(() => fragment(-1), /byte count/);
  });
  it('AES-CCM block count follows RFC 3610: 2⌈L/16⌉ + 3', () => {
    assert.equal(ccmAesBlocks(64), 11);
    assert.equal(ccmAesBlocks(1), 5);
  });
});

describe('802.15.4 airtime at 250 kbit/s', () => {
  it('32 µs per octet plus 6 octets of preamble, SFD and PHY header', () => {
    close(airtime(127), (127 + 6) * 32e-6); // 4.256 ms
    close(airtime(127), 4.256e-3);
    close(ACK_AIRTIME, 11 * 32e-6); // 352 µs
    assert.equal(dataFramePsdu(104), 127);
    assert.throws(() => dataFramePsdu(105), /outside/);
    assert.throws(() => airtime(128), /outside/);
  });
  it('CSMA without loss: mean backoff 3.5 units + CCA + turnaround + frame + turnaround + ACK', () => {
    const x = csmaUnicast(127);
    close(meanBackoff(0), 3.5 * 320e-6);
    close(x.duration, 1.12e-3 + 128e-6 + 192e-6 + 4.256e-3 + 192e-6 + 352e-6);
    assert.equal(x.attempts, 1);
    assert.equal(x.delivered, 1);
    close(x.sender.tx, 4.256e-3);
    close(x.receiver.rxActive, 4.256e-3);
  });
  it('loss adds expected retries: 10% loss → 1.111 attempts, delivery 1 − 0.1⁴', () => {
    const x = csmaUnicast(50, 0.1);
    close(x.attempts, 1 + 0.1 + 0.01 + 0.001);
    close(x.delivered, 1 - 1e-4);
    assert.ok(x.duration > csmaUnicast(50).duration);
  });
});

describe('energy by the paper formula on Table 1 values', () => {
  const P = statePowerW(CC2538_POWER);
  it('Table 1 powers at 3 V: 39, 1.8, 84.9, 72, 60 mW', () => {
    close(P.cpu, 0.039);
    close(P.lpm, 0.0018);
    close(P.tx, 0.0849);
    close(P.rxIdle, 0.072);
    close(P.rxActive, 0.06);
  });
  it('one second of CPU (32 768 ticks) costs 39 mJ', () => {
    const e = energyFromTicks({ cpu: 32768, lpm: 0, tx: 0, rxIdle: 0, rxActive: 0 }, CC2538_POWER, 32768);
    close(e, 0.039);
  });
  it('t_CPU > t_radio: radio time comes out of CPU time', () => {
    // CPU 1 s, Tx 0.5 s, LPM 1 s: (1 − 0.5)·39 + 1·1.8 + 0.5·84.9 = 19.5 + 1.8 + 42.45 = 63.75 mJ
    close(energyJoules({ cpu: 1, lpm: 1, tx: 0.5, rxIdle: 0, rxActive: 0 }, CC2538_POWER), 0.06375);
  });
  it('t_CPU ≤ t_radio: the remaining radio time comes out of LPM time', () => {
    // CPU 0.1 s, LPM 1.9 s, Rx-idle 0.5 s: (1.9 − 0.4)·1.8 + 0.5·72 = 2.7 + 36 = 38.7 mJ
    close(energyJoules({ cpu: 0.1, lpm: 1.9, tx: 0, rxIdle: 0.5, rxActive: 0 }, CC2538_POWER), 0.0387);
    // In ticks: the same, via T / T_s
    const ticks = secondsToTicks({ cpu: 0.1, lpm: 1.9, tx: 0, rxIdle: 0.5, rxActive: 0 }, 32768);
    close(energyFromTicks(ticks, CC2538_POWER, 32768), 0.0387, 1e-5);
  });
  it('rejects negative state times', () => {
    assert.throws(() => energyJoules({ cpu: -1, lpm: 0, tx: 0, rxIdle: 0, rxActive: 0 }, CC2538_POWER), /negative/);
  });
});

describe('ContikiMAC', () => {
  it('expected wake-up cost: 8 Hz × 2 CCAs × 1/8192 s = 1/512 s of listening per second = 0.140625 mJ/s', () => {
    const m = new ContikiMac();
    close(m.idleListenDutyCycle(), 1 / 512);
    const e = energyJoules({ cpu: 0, lpm: 1, tx: 0, rxIdle: m.idleListenDutyCycle(), rxActive: 0 }, CC2538_POWER);
    // (1 − 1/512)·1.8 mW + (1/512)·72 mW
    close(e, (1 - 1 / 512) * 0.0018 + (1 / 512) * 0.072);
    close((1 / 512) * 0.072, 0.140625e-3);
  });
  it('an unlocked strobe waits half a wake-up interval on average; phase-lock keeps latency but cuts radio time', () => {
    const psdu = dataFramePsdu(82);
    const plain = new ContikiMac().sendFrame(psdu, 0, false);
    const locked = new ContikiMac({ phaseLock: true }).sendFrame(psdu, 0, false);
    assert.ok(plain.duration > 1 / 16, `strobe ${plain.duration}`);
    close(plain.duration, locked.duration, 1e-12);
    assert.ok(locked.sender.tx + locked.sender.rxIdle < (plain.sender.tx + plain.sender.rxIdle) / 3);
    // A burst (later fragments) is sent without strobing.
    const burst = new ContikiMac().sendFrame(psdu, 0, true);
    close(burst.duration, csmaUnicast(psdu).duration);
  });
  it('uses the Contiki constants', () => {
    assert.equal(CONTIKIMAC.channelCheckRate, 8);
    close(CONTIKIMAC.interPacketSeconds, 0.4e-3);
    close(CCA_SECONDS + TURNAROUND_SECONDS, 320e-6);
  });
});

describe('network and round trips', () => {
  it('a two-frame datagram takes longer per hop than a one-frame one, and hops add up', () => {
    const one = new Network({ hops: 1, rdc: new NullRdc(), profile: CC2538_HW });
    const a = one.sendDatagram('up', 64);
    const b = one.sendDatagram('up', 93);
    assert.equal(a.framesPerHop, 1);
    assert.equal(b.framesPerHop, 2);
    assert.ok(b.latency > a.latency);
    // Each radio hop adds the same forwarding delay; the serial line to the cloud is paid once.
    const lat = (hops: number) => new Network({ hops, rdc: new NullRdc(), profile: CC2538_HW }).sendDatagram('up', 64);
    const perHop = lat(2).latency - lat(1).latency;
    assert.ok(perHop > 0);
    close(lat(4).latency - lat(1).latency, 3 * perHop, 1e-9);
    assert.equal(new Network({ hops: 3, rdc: new NullRdc(), profile: CC2538_HW }).motes.length, 4);
  });
  it('NullRDC keeps the radio on: Rx-idle fills the time the radio is not otherwise busy', () => {
    const n = new Network({ hops: 1, rdc: new NullRdc(), profile: CC2538_HW });
    n.sendDatagram('up', 64);
    n.deviceCompute(1);
    const s = n.states();
    close(s.tx + s.rxIdle + s.rxActive, n.now, 1e-9);
    close(s.cpu + s.lpm, n.now, 1e-9);
  });
  it('Energest CPU includes the frame exchanges the MCU drives, not NullRDC background listening', () => {
    const n = new Network({ hops: 1, rdc: new ContikiMac(), profile: CC2538_HW });
    n.deviceCompute(0.5);
    n.sendDatagram('up', 64);
    const s = n.states();
    const exchange = n.device.radio.tx + n.device.radio.rxIdle + n.device.radio.rxActive;
    close(s.cpu, 0.5 + CC2538_HW.perDatagramSeconds + exchange, 1e-12);
    const nr = new Network({ hops: 1, rdc: new NullRdc(), profile: CC2538_HW });
    nr.sendDatagram('up', 64);
    nr.deviceCompute(1);
    const x = nr.states();
    const ex = nr.device.radio.tx + nr.device.radio.rxIdle + nr.device.radio.rxActive;
    close(x.cpu, 1 + CC2538_HW.perDatagramSeconds + ex, 1e-12);
    assert.ok(x.rxIdle > 1); // listening through the second of processing as well
  });

  it('RTT: DTLS is longer than UDP; 64 B is where DTLS fragments and UDP does not', () => {
    const base = { profile: CC2538_HW, rdc: 'nullrdc' as const, hops: 1 };
    const u64 = simulateRtt({ ...base, protocol: 'udp', payloadBytes: 64 });
    const d64 = simulateRtt({ ...base, protocol: 'dtls', payloadBytes: 64 });
    assert.equal(u64.framesPerHop, 1);
    assert.equal(d64.framesPerHop, 2);
    assert.ok(d64.seconds > u64.seconds);
    const d64sw = simulateRtt({ ...base, profile: CC2538_SW, protocol: 'dtls', payloadBytes: 64 });
    assert.ok(d64sw.seconds > d64.seconds);
  });
  it('profiles resolve by name, unknown names give a clear error', () => {
    assert.equal(getProfile('cc2538-hw'), CC2538_HW);
    assert.throws(() => getProfile('esp32'), /unknown device profile 'esp32'/);
    assert.throws(() => new Network({ hops: 0, rdc: new NullRdc(), profile: CC2538_HW }), /hops/);
  });
});

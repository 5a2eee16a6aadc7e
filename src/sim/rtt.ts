import { makeRdc, type RdcName } from './mac.ts';
import { Network } from './network.ts';
import type { DeviceProfile } from './profiles/types.ts';
import { ccmAesBlocks, dtlsRecordBytes, fragment } from './sixlowpan.ts';

/**
 * Round-trip time of one payload from the device to the cloud and back (paper §5.3, Figs. 16–17):
 * plain UDP, or one DTLS 1.2 AES-128-CCM-8 record each way (RFC 6655). The device encrypts before
 * sending and decrypts the echo; the cloud's echo costs `cloudEchoSeconds`.
 */
export interface RttSetup {
  protocol: 'udp' | 'dtls';
  payloadBytes: number;
  profile: DeviceProfile;
  rdc: RdcName;
  hops: number;
  lossRate?: number;
  cloudEchoSeconds?: number;
}

export interface RttResult {
  seconds: number;
  /** UDP payload bytes each way and the frames each takes per hop. */
  datagramBytes: number;
  framesPerHop: number;
  deviceCpu: number;
}

export function simulateRtt(s: RttSetup): RttResult {
  const net = new Network({ hops: s.hops, rdc: makeRdc(s.rdc), lossRate: s.lossRate, profile: s.profile });
  const p = s.profile;
  const bytes = s.protocol === 'dtls' ? dtlsRecordBytes(s.payloadBytes) : s.payloadBytes;
  // Record protection: CCM's AES blocks plus handling every record byte once.
  const protect =
    s.protocol === 'dtls' ? ccmAesBlocks(s.payloadBytes) * p.crypto.aes_block + bytes * p.perByteSeconds : 0;
  net.deviceCompute(protect);
  const up = net.sendDatagram('up', bytes);
  net.cloudCompute(s.cloudEchoSeconds ?? 0.5e-3);
  net.sendDatagram('down', bytes);
  net.deviceCompute(protect);
  return { seconds: net.now, datagramBytes: bytes, framesPerHop: up.framesPerHop, deviceCpu: 2 * protect };
}

export { fragment };

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { busyReceiverRounds } from '../../src/sim/handshake.ts';
import { ContikiMac, csmaRetrySpanSeconds, NullRdc } from '../../src/sim/mac.ts';

describe('busy receiver: how long a sender keeps a frame alive', () => {
  it('Contiki CSMA: 3 transmissions, mean backoffs 2T then 2.5T, T = 1/channel-check rate', () => {
    assert.equal(csmaRetrySpanSeconds(0.125), 0.5625);
    assert.equal(new NullRdc().retryWindowSeconds(), 0.5625);
    assert.equal(new NullRdc({ channelCheckRate: 16 }).retryWindowSeconds(), 0.28125);
    // ContikiMAC adds a whole strobe (one cycle plus two check times) per transmission.
    const cm = new ContikiMac().retryWindowSeconds();
    assert.ok(cm > 3 * 0.125 + 0.5625 && cm < 3 * 0.13 + 0.5625, String(cm));
  });
});

describe('busy receiver: resend rounds of one flight', () => {
  it('nothing is lost while every busy period fits in the window', () => {
    assert.deepEqual(busyReceiverRounds([0.001, 0.72, 0.72, 0.001], 0.9, 1, 6), { waitSeconds: 0, resends: 0 });
  });
  it('a long check loses the records behind it; the resend resumes where the device stopped', () => {
    // X.509 flight 4 seen by the client: ServerHello, Certificate (0.72 s check), SKE (0.72 s), CR, SHD.
    const r = busyReceiverRounds([0.001, 0.72, 0.72, 0.0005, 0.0002], 0.5625, 1, 6);
    assert.equal(r.resends, 2);
    // 1 s timer − 0.721 s of work, then 2 s − 0.72 s.
    assert.ok(Math.abs(r.waitSeconds - (1 - 0.721 + (2 - 0.72))) < 1e-9, String(r.waitSeconds));
  });
  it('the last message may take as long as it likes; too many resends fail the handshake', () => {
    assert.deepEqual(busyReceiverRounds([0.001, 5], 0.1, 1, 6), { waitSeconds: 0, resends: 0 });
    assert.equal(busyReceiverRounds([2, 2, 2, 0], 0.1, 1, 1).resends, Number.POSITIVE_INFINITY);
  });
});

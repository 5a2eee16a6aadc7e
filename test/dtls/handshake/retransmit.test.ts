/** The flight retransmission timer on node:test's mock clock: each expiry lands at its exact instant. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RetransmitTimer } from '../../../src/dtls/handshake/retransmit.ts';

test('retransmission timer doubles up to the cap, then gives up after the bounded tries (RFC 6347 §4.2.4.1)', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const fired: number[] = [];
  let gaveUp = false;
  const timer = new RetransmitTimer(
    { initialMs: 1000, maxMs: 4000, maxRetransmits: 4 },
    () => fired.push(timer.currentMs),
    () => {
      gaveUp = true;
    },
  );
  timer.startFlight();
  // Expiries at 1 s, then 2 s, 4 s, 4 s (capped) later; the fifth expiry (4 s after the fourth) gives up.
  t.mock.timers.tick(999);
  assert.deepEqual(fired, []);
  t.mock.timers.tick(1);
  assert.deepEqual(fired, [2000]);
  t.mock.timers.tick(1999);
  assert.deepEqual(fired, [2000]);
  t.mock.timers.tick(1);
  assert.deepEqual(fired, [2000, 4000]);
  t.mock.timers.tick(4000);
  t.mock.timers.tick(4000);
  assert.deepEqual(fired, [2000, 4000, 4000, 4000]);
  assert.equal(gaveUp, false);
  assert.equal(timer.running, true);
  t.mock.timers.tick(3999);
  assert.equal(gaveUp, false);
  t.mock.timers.tick(1);
  assert.equal(gaveUp, true);
  assert.equal(timer.running, false);
  assert.equal(fired.length, 4, 'no retransmission after giving up');
});

test('a new flight resets the timeout to its initial value; stop() cancels the pending expiry', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const fired: number[] = [];
  let gaveUp = false;
  const timer = new RetransmitTimer(
    { initialMs: 500, maxMs: 60_000, maxRetransmits: 6 },
    () => fired.push(timer.currentMs),
    () => {
      gaveUp = true;
    },
  );
  timer.startFlight();
  t.mock.timers.tick(500);
  t.mock.timers.tick(1000);
  assert.deepEqual(fired, [1000, 2000]);
  timer.startFlight();
  assert.equal(timer.currentMs, 500);
  t.mock.timers.tick(500);
  assert.deepEqual(fired, [1000, 2000, 1000]);
  timer.stop();
  t.mock.timers.tick(120_000);
  assert.deepEqual(fired, [1000, 2000, 1000]);
  assert.equal(gaveUp, false);
  assert.equal(timer.running, false);
});

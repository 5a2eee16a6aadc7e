/** The flight retransmission timer on node:test's mock clock: each expiry lands at its exact instant. */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { type RetransmitOptions, RetransmitTimer } from '../../../src/dtls/handshake/retransmit.ts';

/** A timer on the mock clock that records the timeout in force at each expiry, and whether it gave up. */
function mockTimer(t: TestContext, opts: RetransmitOptions) {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const fired: number[] = [];
  const state = { gaveUp: false };
  const timer = new RetransmitTimer(
    opts,
    () => fired.push(timer.currentMs),
    () => {
      state.gaveUp = true;
    },
  );
  return { timer, fired, state };
}

test('retransmission timer doubles up to the cap, then gives up after the bounded tries (RFC 6347 §4.2.4.1)', (t) => {
  const { timer, fired, state } = mockTimer(t, { initialMs: 1000, maxMs: 4000, maxRetransmits: 4 });
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
  assert.equal(state.gaveUp, false);
  assert.equal(timer.running, true);
  t.mock.timers.tick(3999);
  assert.equal(state.gaveUp, false);
  t.mock.timers.tick(1);
  assert.equal(state.gaveUp, true);
  assert.equal(timer.running, false);
  assert.equal(fired.length, 4, 'no retransmission after giving up');
});

test('a new flight resets the timeout to its initial value; stop() cancels the pending expiry', (t) => {
  const { timer, fired, state } = mockTimer(t, { initialMs: 500, maxMs: 60_000, maxRetransmits: 6 });
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
  assert.equal(state.gaveUp, false);
  assert.equal(timer.running, false);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RetransmitTimer } from '../../../src/dtls/handshake/retransmit.ts';

test('retransmission timer doubles up to the cap, then gives up after the bounded tries (RFC 6347 §4.2.4.1)', async () => {
  const fired: number[] = [];
  const start = Date.now();
  const done = new Promise<void>((resolve) => {
    const t = new RetransmitTimer(
      { initialMs: 10, maxMs: 40, maxRetransmits: 4 },
      () => fired.push(t.currentMs),
      () => resolve(),
    );
    t.startFlight();
  });
  await done;
  assert.deepEqual(fired, [20, 40, 40, 40]);
  assert.ok(Date.now() - start >= 10 + 20 + 40 + 40 + 40 - 5);
});

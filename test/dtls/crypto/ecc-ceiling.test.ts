import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ceilingFromRates, formatCeiling, opsPerSide, parseOpensslSpeed } from '../../../src/bench/p256-ceiling.ts';

test('the P-256 ceiling adds both sides of the handshake and charges each operation at its rate', () => {
  assert.deepEqual(opsPerSide('rpk'), { keygen: 1, derive: 1, sign: 1, verify: 1 });
  assert.deepEqual(opsPerSide('x509', 2), { keygen: 1, derive: 1, sign: 1, verify: 3 });
  // Round numbers: sign (and keygen) 1 ms, derive 2 ms, verify 4 ms.
  const c = ceilingFromRates({ signPerSec: 1000, ecdhPerSec: 500, verifyPerSec: 250 });
  // rpk per side: 2×1 + 2 + 4 = 8 ms → 125/s server only; both sides 16 ms → 62.5/s.
  assert.equal(c.rpk.serverOnly, 125);
  assert.equal(c.rpk.bothSides, 62.5);
  // x509 mutual with one chain signature each: per side 12 ms.
  assert.ok(Math.abs(c.x509Mutual.serverOnly - 1000 / 12) < 1e-9);
  assert.ok(Math.abs(c.x509Mutual.bothSides - 1000 / 24) < 1e-9);
  assert.match(formatCeiling(c), /rpk \(client auth\)[\s\S]+63 handshakes\/s both sides/);
});

test('openssl speed -mr output is parsed; anything else is refused', () => {
  const out = '+DTP:256:ecdsa\n+F4:3:256:72724.742268:24982.857143\n+F5:3:256:33490.476190:0.000030\n';
  assert.deepEqual(parseOpensslSpeed(out), {
    signPerSec: 72724.742268,
    verifyPerSec: 24982.857143,
    ecdhPerSec: 33490.47619,
  });
  assert.throws(() => parseOpensslSpeed('nothing here'), /unexpected/);
});

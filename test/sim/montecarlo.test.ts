import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simulateHandshake } from '../../src/sim/handshake.ts';
import { lossChannel, monteCarloHandshake, prng, quantiles } from '../../src/sim/montecarlo.ts';
import { CC2538_HW } from '../../src/sim/profiles/index.ts';
import { transcriptFor } from '../../src/sim/transcript.ts';

describe('Monte-Carlo loss channels', () => {
  it('a seeded PRNG repeats itself; quantiles pick order statistics', () => {
    const a = prng(42);
    const b = prng(42);
    for (let i = 0; i < 5; i++) assert.equal(a(), b());
    assert.deepEqual(quantiles([5, 1, 4, 2, 3, 6, 7, 8, 9, 10]), { p50: 5, p95: 10, mean: 5.5 });
  });

  it('Bernoulli and Gilbert–Elliott lose the same share in the long run; GE in bursts', () => {
    const n = 200_000;
    const runs = (lost: () => boolean) => {
      let losses = 0;
      let bursts = 0;
      let prev = false;
      for (let i = 0; i < n; i++) {
        const l = lost();
        if (l) losses++;
        if (l && !prev) bursts++;
        prev = l;
      }
      return { rate: losses / n, meanBurst: losses / bursts };
    };
    const be = runs(lossChannel({ kind: 'bernoulli', p: 0.2 }, prng(1)));
    const ge = runs(lossChannel({ kind: 'gilbert-elliott', p: 0.2, meanBurst: 4 }, prng(1)));
    assert.ok(Math.abs(be.rate - 0.2) < 0.01 && Math.abs(ge.rate - 0.2) < 0.01, `${be.rate} ${ge.rate}`);
    assert.ok(Math.abs(be.meanBurst - 1.25) < 0.05, String(be.meanBurst));
    assert.ok(Math.abs(ge.meanBurst - 4) < 0.3, String(ge.meanBurst));
    assert.throws(() => lossChannel({ kind: 'bernoulli', p: 1 }, prng(1)), RangeError);
  });
});

describe('Monte-Carlo handshakes', () => {
  it('no loss reproduces the clean replay; the same seed gives the same distribution; bursts widen the tail', async () => {
    const t = await transcriptFor('psk');
    const base = { role: 'client' as const, profile: CC2538_HW, rdc: 'nullrdc' as const, hops: 1, trials: 100 };
    const clean = simulateHandshake(t, { ...base, lossRate: 0 });
    const zero = monteCarloHandshake(t, { ...base, loss: { kind: 'bernoulli', p: 0 }, seed: 7 });
    assert.equal(zero.seconds.p95, clean.totalSeconds);
    assert.equal(zero.energyJ.p50, clean.energyJ);
    const a = monteCarloHandshake(t, { ...base, loss: { kind: 'gilbert-elliott', p: 0.1, meanBurst: 4 }, seed: 7 });
    const b = monteCarloHandshake(t, { ...base, loss: { kind: 'gilbert-elliott', p: 0.1, meanBurst: 4 }, seed: 7 });
    assert.deepEqual(a, b);
    const bern = monteCarloHandshake(t, { ...base, loss: { kind: 'bernoulli', p: 0.1 }, seed: 7 });
    // Bursts of 4 outlast CSMA's 4 quick attempts: some flights need a DTLS timeout (≥ 1 s).
    assert.ok(a.seconds.p95 > clean.totalSeconds + 1, String(a.seconds.p95));
    assert.ok(bern.seconds.p95 < a.seconds.p95);
    assert.throws(() => monteCarloHandshake(t, { ...base, trials: 0, loss: { kind: 'bernoulli', p: 0 }, seed: 1 }));
  });
});

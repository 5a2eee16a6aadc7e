import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  CC2538_SW,
  CPI_RANGE,
  cc2538WithPkaSpeedup,
  ECC_OPS,
  MEASURED_ECC,
  parseMeasuredEcc,
} from '../../src/sim/profiles/index.ts';

const file = new URL('../../src/sim/profiles/cc2538-p256-measured.json', import.meta.url);

describe('measured software P-256 (eval/device-ecc)', () => {
  it('the committed data file has every ECC operation, checked and ordered', () => {
    const d = parseMeasuredEcc(JSON.parse(readFileSync(file, 'utf8')));
    for (const op of ECC_OPS) assert.ok(d.instructions[op].runs.length >= 3, op);
    assert.equal(d.checks.signaturesVerifiedByOpenSSL, '4/4');
    assert.equal(d.checks.cortexM3MatchesHost, true);
    // Shamir's trick: a verification costs more than one scalar multiplication, less than two.
    const mul = d.instructions.ecdh_keygen.mean;
    assert.ok(d.instructions.ecdsa_verify.mean > mul && d.instructions.ecdsa_verify.mean < 2 * mul);
    // The x86 cross-check (callgrind) sees the same proportions within 10%.
    if (d.x86CallgrindInstructions) {
      const armRatio = d.instructions.ecdsa_verify.mean / mul;
      const x86Ratio = d.x86CallgrindInstructions.ecdsa_verify / d.x86CallgrindInstructions.ecdh_keygen;
      assert.ok(Math.abs(armRatio / x86Ratio - 1) < 0.1, `${armRatio} vs ${x86Ratio}`);
    }
  });

  it('refuses a data file with missing or disordered counts', () => {
    const good = JSON.parse(readFileSync(file, 'utf8'));
    const noVerify = structuredClone(good);
    delete noVerify.instructions.ecdsa_verify;
    assert.throws(() => parseMeasuredEcc(noVerify), /ecdsa_verify/);
    const disordered = structuredClone(good);
    disordered.instructions.ecdh_agree.min = disordered.instructions.ecdh_agree.max + 1;
    assert.throws(() => parseMeasuredEcc(disordered), /ordered/);
    assert.throws(() => parseMeasuredEcc(null), /not an object/);
  });

  it('the software profile is instructions × CPI / clock, and the PKA sweep divides it', () => {
    const op = 'ecdsa_sign';
    assert.equal(CC2538_SW.crypto[op], (MEASURED_ECC.instructions[op].mean * CPI_RANGE.mid) / 32e6);
    const x4 = cc2538WithPkaSpeedup(4);
    assert.ok(Math.abs(x4.crypto[op] * 4 - CC2538_SW.crypto[op]) < 1e-12);
    // Symmetric crypto stays on the hardware engines in the sweep.
    assert.ok(x4.crypto.aes_block < CC2538_SW.crypto.aes_block);
    assert.throws(() => cc2538WithPkaSpeedup(0), RangeError);
  });
});

/**
 * The OSCORE/EDHOC energy experiment: its bytes come from our EDHOC, OSCORE and CoAP stacks on
 * loopback and our DTLS engine's transcripts, its energy from the shared device model.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { engineContext, findExperiment, fixedContext, NOT_MEASURED, runExperiment } from '../../src/eval/index.ts';
import {
  DEVICE,
  edhocTranscript,
  initiatorEcc,
  keyExchangeCost,
  oscoreEnergyRows,
  recordOverhead,
} from '../../src/eval/oscore.ts';
import { recordWire } from '../../src/eval/oscore-wire.ts';
import { transcriptFor } from '../../src/sim/transcript.ts';

describe('eval oscore', () => {
  it('a larger payload grows the OSCORE request by exactly its size; the key exchange does not change', async () => {
    const { rows, notes, missing } = await oscoreEnergyRows(fixedContext({}), [
      Buffer.alloc(10, 1),
      Buffer.alloc(50, 1),
    ]);
    // No DTLS transcript given: those modes are listed as missing, none is invented.
    assert.equal(rows.length, 4);
    assert.equal(missing.length, 6);
    assert.equal(notes.filter((n) => /no transcript given/.test(n)).length, 3);
    for (const m of ['OSCORE + EDHOC m3', 'OSCORE + EDHOC m0']) {
      const [small, big] = rows.filter((r) => r.mode === m);
      assert.equal(big.request - small.request, 40);
      assert.equal(big.response, small.response);
      assert.equal(big.datagrams, 4);
      assert.ok(big.report.joules > small.report.joules);
    }
    const m3 = rows.find((r) => r.mode === 'OSCORE + EDHOC m3');
    const m0 = rows.find((r) => r.mode === 'OSCORE + EDHOC m0');
    assert.ok(m3 && m0);
    // Method 0 carries two 64-byte ES256 signatures where method 3 carries two 8-byte MACs.
    assert.ok(m0.keyExchangeBytes - m3.keyExchangeBytes > 2 * 56, `${m0.keyExchangeBytes} vs ${m3.keyExchangeBytes}`);
  });

  it('EDHOC over CoAP: four datagrams, each an EDHOC message plus its CoAP framing; ECC per RFC 9528', async () => {
    const w = await recordWire(Buffer.from('{"t":1}'), 3);
    assert.deepEqual(
      w.edhoc.datagrams.map((d) => d.dir),
      ['up', 'down', 'up', 'down'],
    );
    for (let i = 0; i < 3; i++) {
      const framing = w.edhoc.datagrams[i].bytes - w.edhoc.messageBytes[i];
      assert.ok(framing >= 4 && framing < 40, `message ${i + 1}: ${framing} B of CoAP framing`);
    }
    const ops = (m: 0 | 3) => initiatorEcc(m).map((c) => c.op);
    assert.deepEqual(ops(3).sort(), ['ecdh_agree', 'ecdh_agree', 'ecdh_agree', 'ecdh_keygen']);
    assert.deepEqual(ops(0).sort(), ['ecdh_agree', 'ecdh_keygen', 'ecdsa_sign', 'ecdsa_verify']);
    const cost = keyExchangeCost(edhocTranscript(w.edhoc));
    const c = DEVICE.crypto;
    assert.ok(Math.abs(cost.eccSeconds - (c.ecdh_keygen + 3 * c.ecdh_agree)) < 1e-9);
    assert.ok(cost.joules > cost.extraJ && cost.extraJ > 0);
  });

  it('DTLS rows from our engine: record overhead on the plain CoAP datagrams; OSCORE is smaller per report', async () => {
    const psk = await transcriptFor('psk');
    assert.equal(recordOverhead(psk), 29);
    const { rows } = await oscoreEnergyRows(engineContext(), [Buffer.from('{"temperature":21.5}')]);
    const dtls = rows.find((r) => r.mode === 'DTLS psk');
    const oscore = rows.find((r) => r.mode === 'OSCORE + EDHOC m3');
    assert.ok(dtls && oscore);
    assert.ok(oscore.request < dtls.request && oscore.response < dtls.response);
    assert.ok(oscore.keyExchangeBytes < dtls.keyExchangeBytes);
    assert.equal(dtls.keyExchange.eccSeconds, 0);
  });

  it('is registered and writes its table and chart', async () => {
    const e = findExperiment('oscore');
    assert.ok(e);
    const dir = await mkdtemp(join(tmpdir(), 'eval-oscore-'));
    try {
      const r = await runExperiment(e, { ctx: fixedContext({}), outDir: dir });
      assert.equal(r.table.rows.length, 10);
      assert.equal(r.table.rows.filter((row) => row[2] === NOT_MEASURED).length, 6);
      const md = await readFile(join(dir, 'oscore.md'), 'utf8');
      assert.match(md, /OSCORE \+ EDHOC m3/);
      assert.ok((await readFile(join(dir, 'oscore.svg'), 'utf8')).startsWith('<svg'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

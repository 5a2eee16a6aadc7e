import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CryptoOp } from '../../src/dtls/meter.ts';
import { messageTimes, simulateHandshake } from '../../src/sim/handshake.ts';
import { CC2538_HW, CC2538_SW, ECC_OPS } from '../../src/sim/profiles/index.ts';
import {
  cryptoCount,
  EngineUnavailableError,
  recordTranscript,
  type Transcript,
  TranscriptRecorder,
} from '../../src/sim/transcript.ts';

describe('transcripts recorded from our DTLS engine', () => {
  it('a PSK handshake performs no ECC operation on either side, and its records carry 29 bytes of overhead', async () => {
    const t = await recordTranscript('psk', { payloadBytes: 64 });
    assert.equal(t.source, 'engine');
    assert.equal(t.cipherSuite, 'TLS_PSK_WITH_AES_128_CCM_8');
    for (const side of ['client', 'server'] as const) {
      for (const op of ECC_OPS) assert.equal(cryptoCount(t, side, op), 0, `${side} ${op}`);
      // …but it does run the PRF and hashes the handshake.
      assert.ok(cryptoCount(t, side, 'prf') >= 3, `${side} prf`);
      assert.ok(cryptoCount(t, side, 'sha256_block') >= 1, `${side} sha256`);
    }
    // Cookie exchange, then the full handshake: CH, HVR, CH, SH+SHD, CKE+CCS+Fin, CCS+Fin.
    assert.deepEqual(
      t.flights.map((f) => f.from),
      ['client', 'server', 'client', 'server', 'client', 'server'],
    );
    assert.deepEqual(
      t.flights[3].messages.map((m) => m.type),
      ['server_hello', 'server_hello_done'],
    );
    assert.equal(t.flights[1].messages[0]?.type, 'hello_verify_request');
    const app = t.application.flatMap((f) => f.records);
    assert.deepEqual(
      app.map((r) => [r.contentType, r.bytes]),
      [
        ['application_data', 93],
        ['application_data', 93],
      ],
    );
    // Every record on the wire starts with its 13-byte header.
    for (const f of t.flights) for (const r of f.records) assert.ok(r.bytes > 13);
  });

  it('an X.509 mutual handshake performs the expected signatures and verifications per side', async (t) => {
    let tr: Transcript;
    try {
      tr = await recordTranscript('x509');
    } catch (err) {
      if (err instanceof EngineUnavailableError) return t.skip(err.message);
      throw err;
    }
    assert.equal(tr.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');
    // Client: verifies the server's certificate (one link to the root) and its ServerKeyExchange
    // signature, signs CertificateVerify. Server: signs ServerKeyExchange, verifies the client's
    // certificate and CertificateVerify. Both: one ephemeral key pair and one agreement.
    for (const side of ['client', 'server'] as const) {
      assert.equal(cryptoCount(tr, side, 'ecdsa_sign'), 1, `${side} sign`);
      assert.equal(cryptoCount(tr, side, 'ecdsa_verify'), 2, `${side} verify`);
      assert.equal(cryptoCount(tr, side, 'ecdh_keygen'), 1, `${side} keygen`);
      assert.equal(cryptoCount(tr, side, 'ecdh_agree'), 1, `${side} agree`);
    }
    const f4 = tr.flights[3];
    assert.ok(f4.messages.some((m) => m.type === 'certificate' && m.bodyBytes > 300));
    assert.ok(f4.crypto.some((c) => c.side === 'server' && c.phase === 'prepare' && c.op === 'ecdsa_sign'));
    assert.ok(f4.crypto.some((c) => c.side === 'client' && c.phase === 'process' && c.op === 'ecdsa_verify'));
    // The engine reports every verification itself, the chain signature (leaf ← root) included,
    // named as such by the certificate validator.
    const uses = tr.flights.flatMap((f) => f.crypto);
    for (const side of ['client', 'server'] as const) {
      assert.ok(
        uses.some((c) => c.side === side && c.op === 'ecdsa_verify' && c.purpose === 'certificate_chain'),
        `${side} reports its chain check`,
      );
    }
    const verifies = (side: 'client' | 'server') => uses.filter((c) => c.side === side && c.op === 'ecdsa_verify');
    assert.ok(verifies('client').some((c) => c.message === 'server_key_exchange'));
    assert.ok(verifies('server').some((c) => c.message === 'certificate_verify'));
    for (const side of ['client', 'server'] as const) {
      const chain = verifies(side).filter((c) => c.purpose === 'certificate_chain');
      assert.deepEqual(
        chain.map((c) => [c.phase, c.message, c.count]),
        [['process', 'certificate', 1]],
      );
    }
    assert.ok(f4.crypto.some((c) => c.side === 'client' && c.purpose === 'certificate_chain'));
    assert.ok(tr.flights[4].crypto.some((c) => c.side === 'server' && c.purpose === 'certificate_chain'));
  });

  it('the cookie HMAC and the PRF calls are measured, each where it happens', async () => {
    const tr = await recordTranscript('psk');
    const [, hvr, ch2, , f5, f6] = tr.flights;
    // The server makes the cookie while preparing flight 2 and checks it while processing flight 3.
    assert.deepEqual(
      hvr.crypto.map((c) => [c.side, c.phase, c.op, c.purpose]),
      [['server', 'prepare', 'hmac', 'cookie']],
    );
    assert.deepEqual(
      ch2.crypto.map((c) => [c.side, c.phase, c.op, c.purpose]),
      [['server', 'process', 'hmac', 'cookie']],
    );
    // The master secret and key block: the client's in preparing flight 5, the server's in processing it.
    for (const purpose of ['master_secret', 'key_block'] as const) {
      const prf = f5.crypto.filter((c) => c.op === 'prf' && c.purpose === purpose);
      assert.deepEqual(
        prf.map((c) => [c.side, c.phase]),
        [
          ['client', 'prepare'],
          ['server', 'process'],
        ],
      );
    }
    // Finished: both sides' own in their last flight, the peer's where it arrives.
    const fin = (f: typeof f5) => f.crypto.filter((c) => c.op === 'prf' && c.purpose === 'finished');
    assert.deepEqual(
      fin(f5).map((c) => [c.side, c.phase]),
      [
        ['client', 'prepare'],
        ['server', 'process'],
      ],
    );
    assert.deepEqual(
      fin(f6).map((c) => [c.side, c.phase]),
      [
        ['server', 'prepare'],
        ['client', 'process'],
      ],
    );
    // …so the per-message table shows the master secret as an item of its own, on both roles.
    for (const role of ['client', 'server'] as const) {
      const rows = messageTimes(tr, role, CC2538_HW);
      const ms = rows.filter((r) => r.message === 'master secret');
      assert.equal(ms.length, 1, role);
      assert.equal(ms[0].flight, 5);
      assert.equal(ms[0].phase, role === 'client' ? 'prepare' : 'process');
      assert.ok(ms[0].withoutEcc >= CC2538_HW.crypto.prf && ms[0].ecc === 0);
      assert.ok(!rows.some((r) => r.message.startsWith('other crypto')), role);
    }
  });

  it('an RPK handshake verifies no certificate: one signature check per side', async (t) => {
    let tr: Transcript;
    try {
      tr = await recordTranscript('rpk');
    } catch (err) {
      if (err instanceof EngineUnavailableError) return t.skip(err.message);
      throw err;
    }
    for (const side of ['client', 'server'] as const) {
      assert.equal(cryptoCount(tr, side, 'ecdsa_sign'), 1, `${side} sign`);
      assert.equal(cryptoCount(tr, side, 'ecdsa_verify'), 1, `${side} verify`);
    }
    // A raw public key is trusted by being pinned: no chain signature is checked.
    assert.ok(tr.flights.flatMap((f) => f.crypto).every((c) => c.purpose !== 'certificate_chain'));
    // The raw public key is ~91 bytes of SubjectPublicKeyInfo, not a certificate.
    const cert = tr.flights[3].messages.find((m) => m.type === 'certificate');
    assert.ok(cert && cert.bodyBytes < 120, String(cert?.bodyBytes));
  });
});

/**
 * TEST FIXTURE — a hand-written meter sequence shaped like an ECDHE-ECDSA mutual handshake (message
 * sizes typical of a one-certificate chain). It exercises the recorder and the model; it is never a
 * result: the experiments only use transcripts recorded from the engine.
 */
function x509Fixture(): Transcript {
  const r = new TranscriptRecorder();
  const c = r.meter('client');
  const s = r.meter('server');
  const send = (m: ReturnType<typeof r.meter>, type: string, body: number, epoch = 0) => {
    m.handshakeMessage('out', type, body);
    m.record('out', 'handshake', epoch, body + 12 + 13 + (epoch ? 16 : 0));
  };
  const crypto = (m: ReturnType<typeof r.meter>, op: CryptoOp, n: number, ctx?: string) => m.crypto(op, n, ctx);
  send(c, 'client_hello', 120);
  send(s, 'hello_verify_request', 35);
  send(c, 'client_hello', 152);
  crypto(s, 'ecdh_keygen', 1, 'server_key_exchange');
  crypto(s, 'ecdsa_sign', 1, 'server_key_exchange');
  send(s, 'server_hello', 90);
  send(s, 'certificate', 420);
  send(s, 'server_key_exchange', 145);
  send(s, 'certificate_request', 40);
  send(s, 'server_hello_done', 0);
  crypto(c, 'ecdsa_verify', 1, 'certificate');
  crypto(c, 'ecdsa_verify', 1, 'server_key_exchange');
  crypto(c, 'ecdh_keygen', 1, 'client_key_exchange');
  crypto(c, 'ecdh_agree', 1, 'client_key_exchange');
  crypto(c, 'ecdsa_sign', 1, 'certificate_verify');
  crypto(c, 'sha256_block', 1, 'finished');
  crypto(c, 'prf', 1, 'finished');
  send(c, 'certificate', 400);
  send(c, 'client_key_exchange', 66);
  send(c, 'certificate_verify', 72);
  c.record('out', 'change_cipher_spec', 0, 14);
  send(c, 'finished', 12, 1);
  crypto(s, 'ecdsa_verify', 1, 'certificate');
  crypto(s, 'ecdh_agree', 1, 'client_key_exchange');
  crypto(s, 'ecdsa_verify', 1, 'certificate_verify');
  crypto(s, 'sha256_block', 1, 'finished'); // verifying the client's Finished
  crypto(s, 'sha256_block', 1, 'finished'); // computing its own: belongs to flight 6
  s.record('out', 'change_cipher_spec', 0, 14);
  send(s, 'finished', 12, 1);
  crypto(c, 'sha256_block', 1, 'finished');
  return { ...r.build('x509', 'fixture'), source: 'fixture' };
}

describe('transcript recorder and replay (hand-made fixture)', () => {
  const t = x509Fixture();

  it('splits flights by sender and attributes crypto to preparing or processing them', () => {
    assert.equal(t.flights.length, 6);
    assert.deepEqual(
      t.flights[3].messages.map((m) => m.type),
      ['server_hello', 'certificate', 'server_key_exchange', 'certificate_request', 'server_hello_done'],
    );
    const f4 = t.flights[3].crypto;
    // The server's keygen and signature ran before flight 4 was sent: its preparation.
    assert.ok(f4.some((u) => u.side === 'server' && u.phase === 'prepare' && u.op === 'ecdsa_sign'));
    assert.ok(f4.some((u) => u.side === 'client' && u.phase === 'process' && u.op === 'ecdsa_verify'));
    // The second server 'finished' hash is its own Finished, i.e. flight 6.
    assert.equal(t.flights[4].crypto.filter((u) => u.side === 'server' && u.op === 'sha256_block').length, 1);
    assert.ok(t.flights[5].crypto.some((u) => u.side === 'server' && u.phase === 'prepare' && u.op === 'sha256_block'));
    assert.equal(cryptoCount(t, 'client', 'ecdsa_verify'), 2);
    assert.equal(cryptoCount(t, 'server', 'ecdsa_verify'), 2);
  });

  it('a chain of two certificates: both verifications process the received flight', () => {
    const r = new TranscriptRecorder();
    const c = r.meter('client');
    const s = r.meter('server');
    s.handshakeMessage('out', 'certificate', 900);
    s.record('out', 'handshake', 0, 925);
    c.crypto('ecdsa_verify', 1, 'certificate');
    c.crypto('ecdsa_verify', 1, 'certificate');
    c.crypto('ecdsa_sign', 1, 'certificate_verify');
    c.handshakeMessage('out', 'certificate_verify', 72);
    c.record('out', 'handshake', 0, 97);
    const tr = r.build('x509', 'fixture');
    assert.deepEqual(
      tr.flights[0].crypto.map((u) => [u.side, u.phase, u.op]),
      [
        ['client', 'process', 'ecdsa_verify'],
        ['client', 'process', 'ecdsa_verify'],
      ],
    );
    assert.deepEqual(
      tr.flights[1].crypto.map((u) => [u.side, u.phase, u.op]),
      [['client', 'prepare', 'ecdsa_sign']],
    );
  });

  it('replayed on the CC2538: ECC dominates, and software symmetric crypto is slower', () => {
    const hw = simulateHandshake(t, { role: 'client', profile: CC2538_HW, rdc: 'nullrdc', hops: 1 });
    const sw = simulateHandshake(t, { role: 'client', profile: CC2538_SW, rdc: 'nullrdc', hops: 1 });
    const cpu = hw.flights.reduce((a, f) => a + f.deviceCpu, 0);
    const ecc = hw.flights.reduce((a, f) => a + f.deviceEcc, 0);
    assert.ok(ecc / cpu > 0.9, `ECC share ${ecc / cpu}`);
    // Software AES/SHA-256 cost more CPU outside ECC; software ECC is the measured P-256, not a multiple of hardware.
    const nonEcc = (r: typeof hw) => r.flights.reduce((a, f) => a + f.deviceCpu - f.deviceEcc, 0);
    assert.ok(nonEcc(sw) > nonEcc(hw), `${nonEcc(sw)} vs ${nonEcc(hw)}`);
    assert.notEqual(sw.totalSeconds, hw.totalSeconds);
    // The flights' windows add up to the whole handshake, in time and in energy.
    const sumT = hw.flights.reduce((a, f) => a + f.seconds, 0);
    const sumE = hw.flights.reduce((a, f) => a + f.energyJ, 0);
    assert.ok(Math.abs(sumT - hw.totalSeconds) < 1e-9);
    assert.ok(Math.abs(sumE - hw.energyJ) < 1e-9);
  });

  it('frames lost beyond CSMA retries cost a DTLS timeout and a resend, in expectation', () => {
    const clean = simulateHandshake(t, { role: 'client', profile: CC2538_HW, rdc: 'nullrdc', hops: 1 });
    const lossy = simulateHandshake(t, { role: 'client', profile: CC2538_HW, rdc: 'nullrdc', hops: 1, lossRate: 0.3 });
    assert.ok(clean.flights.every((f) => f.lossProbability === 0 && f.expectedRetransmissions === 0));
    for (const f of lossy.flights) {
      // p = 1 − (1 − 0.3⁴)^frames; expected retransmissions Σ_{k=1..6} p^k
      const p = 1 - (1 - 0.3 ** 4) ** f.frames;
      assert.ok(Math.abs(f.lossProbability - p) < 1e-12);
      const expected = [1, 2, 3, 4, 5, 6].reduce((a, k) => a + p ** k, 0);
      assert.ok(Math.abs(f.expectedRetransmissions - expected) < 1e-12);
    }
    // The timer (≥ 1 s) dominates: the extra time is at least Σ p_flight · 1 s.
    const extra = lossy.totalSeconds - clean.totalSeconds;
    assert.ok(extra >= lossy.flights.reduce((a, f) => a + f.lossProbability, 0) * 1.0);
  });

  it('per-message times put each ECC function on the message the engine named', () => {
    const rows = messageTimes(t, 'client', CC2538_HW);
    const cv = rows.find((r) => r.message === 'certificate_verify');
    assert.ok(cv && cv.phase === 'prepare');
    assert.equal(cv.ecc, CC2538_HW.crypto.ecdsa_sign);
    const ske = rows.find((r) => r.message === 'server_key_exchange');
    assert.ok(ske && ske.phase === 'process');
    assert.equal(ske.ecc, CC2538_HW.crypto.ecdsa_verify);
  });
});

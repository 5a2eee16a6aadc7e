import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PAPER_PROTOCOLS, paperTranscript } from '../../src/sim/paper-protocols.ts';

const REQ = 26; // CoAP request framing + connection-identifier prefix
const RESP = 7;

describe('handshakes on paper (RFC message formats)', () => {
  it('EDHOC method 3, suite 2: message_1 37, message_2 45, message_3 19 bytes before CoAP framing', () => {
    const t = paperTranscript('edhoc-static');
    const sizes = t.flights.map((f) => f.records[0].bytes);
    assert.deepEqual(sizes, [37 + REQ, 45 + RESP, 19 + REQ, 0 + RESP]);
    // Static-DH authentication: no signatures, three agreements on each side.
    const ops = (side: 'client' | 'server', op: string) =>
      t.flights
        .flatMap((f) => f.crypto)
        .filter((c) => c.side === side && c.op === op)
        .reduce((a, c) => a + c.count, 0);
    assert.equal(ops('client', 'ecdh_agree'), 3);
    assert.equal(ops('client', 'ecdsa_sign') + ops('client', 'ecdsa_verify'), 0);
  });

  it('DTLS 1.3 with certificates carries the same ECC work as our DTLS 1.2 and its records are well formed', () => {
    const t = paperTranscript('dtls13-x509');
    const ops = (op: string) =>
      t.flights
        .flatMap((f) => f.crypto)
        .filter((c) => c.side === 'client' && c.op === op)
        .reduce((a, c) => a + c.count, 0);
    assert.deepEqual(['ecdh_keygen', 'ecdh_agree', 'ecdsa_sign', 'ecdsa_verify'].map(ops), [1, 1, 1, 2]);
    for (const f of t.flights) assert.equal(f.records.length, f.messages.length);
    // Plaintext records: 13 + 12 + body; encrypted ones: 14 + 12 + body.
    const ch = t.flights[0];
    assert.equal(ch.records[0].bytes, 25 + ch.messages[0].bodyBytes);
  });

  it('every paper protocol yields a transcript labelled as not from our engine', () => {
    for (const p of PAPER_PROTOCOLS) {
      const t = paperTranscript(p.name);
      assert.equal(t.source, 'fixture');
      assert.match(t.cipherSuite ?? '', /on paper/);
      assert.ok(t.flights.length >= 4);
    }
  });
});

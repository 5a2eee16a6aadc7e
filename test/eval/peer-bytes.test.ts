import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { PEER_HANDSHAKE_BYTES, parsePeerHandshakeBytes } from '../../src/eval/peer-bytes.ts';

const raw = (): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL('../../src/eval/peer-handshake-bytes.json', import.meta.url), 'utf8'));

describe('peer handshake bytes (measured by eval/peer-bytes/measure.mjs)', () => {
  it('the committed data names each peer version and date and holds every peer pair the brief lists', () => {
    const d = PEER_HANDSHAKE_BYTES;
    assert.match(d.measured, /^\d{4}-\d{2}-\d{2}$/);
    for (const p of ['openssl', 'gnutls', 'libcoap']) assert.match(d.versions[p] ?? '', /\d+\.\d+/);
    const have = d.handshakes.map((h) => `${h.peer} ${h.name}`).sort();
    assert.deepEqual(have, [
      'gnutls psk',
      'gnutls rpk-mutual',
      'gnutls x509-server-auth',
      'libcoap psk',
      'openssl psk',
      'openssl x509-mutual',
      'openssl x509-server-auth',
    ]);
    for (const h of d.handshakes) {
      assert.equal(h.clientToServer + h.serverToClient, h.bytes);
      assert.ok(h.datagrams >= 6, `${h.peer} ${h.name}: a cookie exchange and two flights each way`);
    }
    // Mutual authentication costs bytes over server-only: a sanity check on the counting.
    const b = (peer: string, name: string) => d.handshakes.find((h) => h.peer === peer && h.name === name)!.bytes;
    assert.ok(b('openssl', 'x509-mutual') > b('openssl', 'x509-server-auth'));
    assert.ok(b('openssl', 'psk') < b('openssl', 'x509-server-auth'));
  });

  it('refuses a malformed file, naming the field', () => {
    assert.throws(() => parsePeerHandshakeBytes(null), /not an object/);
    assert.throws(() => parsePeerHandshakeBytes({ ...raw(), measured: 'today' }), /'measured'/);
    const d = raw();
    const hs = d.handshakes as Record<string, unknown>[];
    assert.throws(() => parsePeerHandshakeBytes({ ...d, handshakes: [{ ...hs[0], bytes: -1 }] }), /positive/);
    assert.throws(
      () => parsePeerHandshakeBytes({ ...d, handshakes: [{ ...hs[0], clientToServer: 1 }] }),
      /add up to 'bytes'/,
    );
    assert.throws(() => parsePeerHandshakeBytes({ ...d, handshakes: [{ ...hs[0], peer: 'wolfssl' }] }), /version/);
  });
});

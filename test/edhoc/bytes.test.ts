/**
 * The key-exchange table of `bench oscore-bytes` (docs/oscore.md "Bytes on the wire"): every EDHOC
 * variant completes against the platform's binding and pushes, the combined request saves a round
 * trip and bytes, and the credential sizes order as they must (x5t < kccs < x5chain in message_3).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keyExchangeRows } from '../../src/bench/oscore-bytes.ts';

test('bench oscore-bytes key exchanges: EDHOC by kccs, x5t, x5chain, separate and combined, beside DTLS', async () => {
  const rows = await keyExchangeRows();
  assert.equal(rows.length, 9);
  const edhoc = rows.filter((r) => r.messages);
  for (let i = 0; i < edhoc.length; i += 2) {
    const [separate, combined] = [edhoc[i], edhoc[i + 1]];
    assert.deepEqual(separate.messages, combined.messages, 'the same EDHOC messages either way');
    assert.equal(separate.datagrams, 6);
    assert.equal(combined.datagrams, 4, 'one round trip less');
    assert.ok(combined.bytes < separate.bytes);
  }
  const m3 = (i: number) => edhoc[i].messages?.[2] ?? 0;
  assert.ok(m3(2) < m3(0) && m3(0) < m3(4), `message_3: x5t ${m3(2)}, kccs ${m3(0)}, x5chain ${m3(4)}`);
  assert.equal(edhoc[0].messages?.[0], 37, 'message_1 of method 0, suite 2, one-byte C_I (as RFC 9529 §3)');
  const dtls = rows.filter((r) => !r.messages).map((r) => r.bytes);
  assert.ok(Math.min(...edhoc.map((r) => r.bytes)) < dtls[0], 'the smallest EDHOC exchange is below DTLS PSK');
});

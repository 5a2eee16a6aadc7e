import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keyBlock, masterSecret } from '../../../src/dtls/crypto/keys.ts';
import { prf } from '../../../src/dtls/crypto/prf.ts';
import { pskPremaster } from '../../../src/dtls/crypto/psk.ts';
import { TLS_PSK_WITH_AES_128_CCM_8 } from '../../../src/dtls/crypto/suites.ts';

test('TLS 1.2 PRF with SHA-256: the published test vector (100 bytes of "test label")', () => {
  const secret = Buffer.from('9bbe436ba940f017b17652849a71db35', 'hex');
  const seed = Buffer.from('a0ba9f936cda311827a6f796ffd5198c', 'hex');
  const expected = Buffer.from(
    'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa0' +
      '22f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66',
    'hex',
  );
  assert.deepEqual(prf(secret, 'test label', seed, 100), expected);
  // A shorter output is a prefix of the longer one.
  assert.deepEqual(prf(secret, 'test label', seed, 20), expected.subarray(0, 20));
});

test('PSK premaster secret layout (RFC 4279 §2)', () => {
  const pms = pskPremaster(Buffer.from('0102', 'hex'));
  assert.equal(pms.toString('hex'), '0002' + '0000' + '0002' + '0102');
});

test('key block for the CCM-8 suite: 16-byte keys and 4-byte implicit IVs, no MAC keys', () => {
  const ms = masterSecret(pskPremaster(Buffer.alloc(16, 7)), Buffer.alloc(32, 1), Buffer.alloc(32, 2));
  assert.equal(ms.length, 48);
  const kb = keyBlock(TLS_PSK_WITH_AES_128_CCM_8, ms, Buffer.alloc(32, 1), Buffer.alloc(32, 2));
  const raw = prf(ms, 'key expansion', Buffer.concat([Buffer.alloc(32, 2), Buffer.alloc(32, 1)]), 40);
  assert.deepEqual(kb.clientWriteKey, raw.subarray(0, 16));
  assert.deepEqual(kb.serverWriteKey, raw.subarray(16, 32));
  assert.deepEqual(kb.clientWriteIv, raw.subarray(32, 36));
  assert.deepEqual(kb.serverWriteIv, raw.subarray(36, 40));
});

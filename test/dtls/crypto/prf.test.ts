import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { keyBlock, masterSecret } from '../../../src/dtls/crypto/keys.ts';
import { prf } from '../../../src/dtls/crypto/prf.ts';
import { pskPremaster } from '../../../src/dtls/crypto/psk.ts';
import { TLS_PSK_WITH_AES_128_CCM_8 } from '../../../src/dtls/crypto/suites.ts';
import { requireBinary } from '../../support/peers.ts';

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

/**
 * An independent TLS 1.2 PRF: OpenSSL's TLS1-PRF KDF (`openssl kdf`), fed the label and seed as one
 * seed (RFC 5246 §5: PRF(secret, label, seed) = P_SHA256(secret, label + seed)).
 */
function opensslPrf(secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  const hexSeed = Buffer.concat([Buffer.from(label, 'latin1'), seed]).toString('hex');
  const out = execFileSync(
    'openssl',
    [
      'kdf',
      '-keylen',
      String(length),
      '-kdfopt',
      'digest:SHA256',
      '-kdfopt',
      `hexsecret:${secret.toString('hex')}`,
      '-kdfopt',
      `hexseed:${hexSeed}`,
      'TLS1-PRF',
    ],
    { encoding: 'utf8' },
  );
  return Buffer.from(out.replace(/[^0-9a-f]/gi, ''), 'hex');
}

test("master secret and CCM-8 key block agree with OpenSSL's TLS1-PRF (RFC 5246 §8.1, §6.3)", (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const clientRandom = Buffer.alloc(32, 1);
  const serverRandom = Buffer.alloc(32, 2);
  const pms = pskPremaster(Buffer.alloc(16, 7));
  const ms = masterSecret(pms, clientRandom, serverRandom);
  assert.deepEqual(ms, opensslPrf(pms, 'master secret', Buffer.concat([clientRandom, serverRandom]), 48));
  // key_block = PRF(master_secret, "key expansion", server_random + client_random): for the CCM-8
  // suite, 16-byte keys and 4-byte implicit IVs, no MAC keys.
  const kb = keyBlock(TLS_PSK_WITH_AES_128_CCM_8, ms, clientRandom, serverRandom);
  const raw = opensslPrf(ms, 'key expansion', Buffer.concat([serverRandom, clientRandom]), 40);
  assert.deepEqual(kb.clientWriteKey, raw.subarray(0, 16));
  assert.deepEqual(kb.serverWriteKey, raw.subarray(16, 32));
  assert.deepEqual(kb.clientWriteIv, raw.subarray(32, 36));
  assert.deepEqual(kb.serverWriteIv, raw.subarray(36, 40));
});

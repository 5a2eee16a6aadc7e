import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ecdsaSign, ecdsaVerify, generateEcdhKeyPair, NAMED_CURVE_SECP256R1 } from '../../../src/dtls/crypto/ecc.ts';
import { AlertDescription, DtlsAlertError, DtlsDecodeError } from '../../../src/dtls/errors.ts';
import { ECDSA_SHA256 } from '../../../src/dtls/wire/extensions-ecc.ts';
import {
  encodeServerECDHParams,
  encodeServerKeyExchangeEcdhe,
  parseServerKeyExchangeEcdhe,
  serverKeyExchangeSignedBlob,
} from '../../../src/dtls/wire/server-key-exchange-ecdhe.ts';

test('ServerKeyExchange ECDHE: params, signed blob, signature verified after the round trip', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const eph = generateEcdhKeyPair();
  const params = { namedCurve: NAMED_CURVE_SECP256R1, publicPoint: eph.publicPoint };
  const paramsBytes = encodeServerECDHParams(params);
  assert.deepEqual(paramsBytes.subarray(0, 4), Buffer.from('03001741', 'hex'));
  assert.equal(paramsBytes.length, 4 + 65);
  const cr = randomBytes(32);
  const sr = randomBytes(32);
  const blob = serverKeyExchangeSignedBlob(cr, sr, paramsBytes);
  assert.deepEqual(blob, Buffer.concat([cr, sr, paramsBytes]));
  const signature = ecdsaSign(privateKey, blob);
  const body = encodeServerKeyExchangeEcdhe({ params, algorithm: ECDSA_SHA256, signature });
  const m = parseServerKeyExchangeEcdhe(body);
  assert.deepEqual(m.params, params);
  assert.deepEqual(m.paramsBytes, paramsBytes);
  assert.deepEqual(m.algorithm, ECDSA_SHA256);
  assert.ok(ecdsaVerify(publicKey, serverKeyExchangeSignedBlob(cr, sr, m.paramsBytes), m.signature));
  // The signature binds the randoms: another client_random fails.
  assert.ok(!ecdsaVerify(publicKey, serverKeyExchangeSignedBlob(randomBytes(32), sr, m.paramsBytes), m.signature));
  assert.throws(() => serverKeyExchangeSignedBlob(cr.subarray(1), sr, paramsBytes), RangeError);
});

test('malformed ServerKeyExchange ECDHE bodies: decode_error, explicit curves illegal_parameter', () => {
  const point = Buffer.concat([Buffer.of(4), Buffer.alloc(64, 7)]).toString('hex');
  const good = `03001741${point}0403000230${'00'}`;
  assert.doesNotThrow(() => parseServerKeyExchangeEcdhe(Buffer.from(good, 'hex')));
  for (const bad of [
    '',
    '03',
    '030017',
    '03001700', // empty point
    `03001742${point}04030002300`, // point length past the end (odd hex trimmed below)
    `03001741${point}`, // no signature
    `03001741${point}0403`, // no signature length
    `03001741${point}04030000`, // empty signature
    `03001741${point}0403000330`, // signature past the end
    `${good}ff`, // trailing
  ]) {
    const hex = bad.length % 2 ? bad.slice(0, -1) : bad;
    assert.throws(
      () => parseServerKeyExchangeEcdhe(Buffer.from(hex, 'hex')),
      (e) => e instanceof DtlsDecodeError,
      bad,
    );
  }
  assert.throws(
    () => parseServerKeyExchangeEcdhe(Buffer.from(`01${good.slice(2)}`, 'hex')),
    (e) => e instanceof DtlsAlertError && e.description === AlertDescription.illegal_parameter,
  );
});

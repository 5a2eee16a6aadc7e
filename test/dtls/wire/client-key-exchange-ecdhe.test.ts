import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ecdhSharedSecret, generateEcdhKeyPair } from '../../../src/dtls/crypto/ecc.ts';
import { DtlsDecodeError } from '../../../src/dtls/errors.ts';
import {
  encodeClientKeyExchangeEcdhe,
  parseClientKeyExchangeEcdhe,
} from '../../../src/dtls/wire/client-key-exchange-ecdhe.ts';

test('ClientKeyExchange ECDHE: vec8 point; the server derives the client secret from the parsed point', () => {
  const client = generateEcdhKeyPair();
  const server = generateEcdhKeyPair();
  const body = encodeClientKeyExchangeEcdhe({ publicPoint: client.publicPoint });
  assert.equal(body.length, 66);
  assert.equal(body[0], 65);
  const { publicPoint } = parseClientKeyExchangeEcdhe(body);
  assert.deepEqual(ecdhSharedSecret(server, publicPoint), ecdhSharedSecret(client, server.publicPoint));
});

test('malformed ClientKeyExchange ECDHE bodies are decode errors', () => {
  for (const bad of ['', '00', '4104', '0104ff', '02']) {
    assert.throws(
      () => parseClientKeyExchangeEcdhe(Buffer.from(bad, 'hex')),
      (e) => e instanceof DtlsDecodeError,
      bad,
    );
  }
});

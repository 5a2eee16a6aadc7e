import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  checkCertificateVerify,
  checkServerKeyExchange,
  makeCertificateVerify,
  makeClientKeyExchange,
  makeServerKeyExchange,
  premasterFromClientKeyExchange,
} from '../../../src/dtls/crypto/ecc.ts';
import { MeteredCrypto } from '../../../src/dtls/crypto/provider.ts';
import { AlertDescription, DtlsAlertError } from '../../../src/dtls/errors.ts';
import type { CryptoOp, DtlsMeter } from '../../../src/dtls/meter.ts';
import { encodeCertificateVerify } from '../../../src/dtls/wire/certificate-verify.ts';
import {
  encodeServerKeyExchangeEcdhe,
  parseServerKeyExchangeEcdhe,
} from '../../../src/dtls/wire/server-key-exchange-ecdhe.ts';

const alert = (d: AlertDescription) => (e: unknown) =>
  e instanceof DtlsAlertError && AlertDescription[e.description] === AlertDescription[d];

function meter(): { m: MeteredCrypto; ops: Map<string, number> } {
  const ops = new Map<string, number>();
  const m: DtlsMeter = {
    handshakeMessage() {},
    record() {},
    crypto(op: CryptoOp, n: number, ctx?: string) {
      const k = `${op}@${ctx}`;
      ops.set(k, (ops.get(k) ?? 0) + n);
    },
  };
  // The key-exchange helpers report through the association's provider, metered.
  return { ops, m: new MeteredCrypto(m) };
}

test('a whole ECDHE_ECDSA key exchange: both sides reach the same premaster; the meter sees each op once', () => {
  const server = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const client = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cr = randomBytes(32);
  const sr = randomBytes(32);
  const sm = meter();
  const cm = meter();
  const ske = makeServerKeyExchange(server.privateKey, cr, sr, sm.m);
  const { serverPoint } = checkServerKeyExchange(ske.body, server.publicKey, cr, sr, cm.m);
  const cke = makeClientKeyExchange(serverPoint, cm.m);
  const premaster = premasterFromClientKeyExchange(cke.body, ske.ephemeral, sm.m);
  assert.equal(premaster.length, 32);
  assert.deepEqual(premaster, cke.premasterSecret);
  const transcript = randomBytes(900);
  checkCertificateVerify(
    makeCertificateVerify(client.privateKey, transcript, cm.m),
    client.publicKey,
    transcript,
    sm.m,
  );
  assert.deepEqual(Object.fromEntries(sm.ops), {
    'ecdh_keygen@server_key_exchange': 1,
    'ecdsa_sign@server_key_exchange': 1,
    'ecdh_agree@client_key_exchange': 1,
    'ecdsa_verify@certificate_verify': 1,
  });
  assert.deepEqual(Object.fromEntries(cm.ops), {
    'ecdsa_verify@server_key_exchange': 1,
    'ecdh_keygen@client_key_exchange': 1,
    'ecdh_agree@client_key_exchange': 1,
    'ecdsa_sign@certificate_verify': 1,
  });
});

test('forged or off-profile key exchange messages get decrypt_error or illegal_parameter', () => {
  const server = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cr = randomBytes(32);
  const sr = randomBytes(32);
  const { body } = makeServerKeyExchange(server.privateKey, cr, sr);
  assert.throws(() => checkServerKeyExchange(body, other.publicKey, cr, sr), alert(AlertDescription.decrypt_error));
  assert.throws(
    () => checkServerKeyExchange(body, server.publicKey, randomBytes(32), sr),
    alert(AlertDescription.decrypt_error),
  );
  const m = parseServerKeyExchangeEcdhe(body);
  const p384 = encodeServerKeyExchangeEcdhe({
    params: { ...m.params, namedCurve: 24 },
    algorithm: m.algorithm,
    signature: m.signature,
  });
  assert.throws(
    () => checkServerKeyExchange(p384, server.publicKey, cr, sr),
    alert(AlertDescription.illegal_parameter),
  );
  const sha1 = encodeServerKeyExchangeEcdhe({
    params: m.params,
    algorithm: { hash: 2, signature: 3 },
    signature: m.signature,
  });
  assert.throws(
    () => checkServerKeyExchange(sha1, server.publicKey, cr, sr),
    alert(AlertDescription.illegal_parameter),
  );
  assert.throws(
    () => checkServerKeyExchange(body.subarray(0, 20), server.publicKey, cr, sr),
    alert(AlertDescription.decode_error),
  );

  const transcript = randomBytes(100);
  const cv = makeCertificateVerify(other.privateKey, transcript);
  assert.throws(() => checkCertificateVerify(cv, server.publicKey, transcript), alert(AlertDescription.decrypt_error));
  assert.throws(
    () => checkCertificateVerify(cv, other.publicKey, Buffer.concat([transcript, Buffer.of(0)])),
    alert(AlertDescription.decrypt_error),
  );
  const rsaAlg = encodeCertificateVerify({ algorithm: { hash: 4, signature: 1 }, signature: Buffer.alloc(70, 1) });
  assert.throws(
    () => checkCertificateVerify(rsaAlg, other.publicKey, transcript),
    alert(AlertDescription.illegal_parameter),
  );
  // A bad client point is illegal_parameter on the server.
  const eph = makeServerKeyExchange(server.privateKey, cr, sr).ephemeral;
  assert.throws(
    () => premasterFromClientKeyExchange(Buffer.concat([Buffer.of(65, 4), Buffer.alloc(64, 9)]), eph),
    alert(AlertDescription.illegal_parameter),
  );
});

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import {
  acceptServerCertificateTypes,
  chooseCertificateTypes,
  clientHelloEccExtensions,
  loadCredentialFiles,
  ownCertificate,
  ownCertificateMessage,
  ownRawPublicKey,
  presentableCertificateTypes,
  signingKey,
  verifiableCertificateTypes,
  verifyPeerCertificate,
} from '../../../src/dtls/credentials/index.ts';
import { ecdsaSign, ecdsaVerify } from '../../../src/dtls/crypto/ecc.ts';
import { AlertDescription, DtlsAlertError } from '../../../src/dtls/errors.ts';
import { encodeCertificate, parseCertificate } from '../../../src/dtls/wire/certificate.ts';
import { CertificateType } from '../../../src/dtls/wire/extensions-ecc.ts';
import { makeTempPki, type TempPki } from '../../support/pki.ts';

let pki: TempPki;
test.before(async () => {
  pki = await makeTempPki();
});
test.after(() => pki.cleanup());

test('loadCredentialFiles reads the CLI files; the types each side offers follow from them', () => {
  const server = loadCredentialFiles({
    cert: pki.server.chain,
    key: pki.server.key,
    ca: [pki.root.cert],
    rpkKey: pki.rpkServer.key,
    trustRpk: [pki.rpkClient.spki],
    clientAuth: 'need',
  });
  assert.equal(server.certificate?.chain.length, 2);
  assert.deepEqual(server.rpk?.spki, pki.rpkServer.spkiDer);
  assert.equal(server.clientAuth, 'need');
  assert.deepEqual(presentableCertificateTypes(server), [CertificateType.RawPublicKey, CertificateType.X509]);
  assert.deepEqual(verifiableCertificateTypes(server.trust), [CertificateType.RawPublicKey, CertificateType.X509]);

  const rpkOnly = loadCredentialFiles({ rpkKey: pki.rpkClient.key, trustRpk: [pki.rpkServer.spki], verifyName: false });
  assert.deepEqual(presentableCertificateTypes(rpkOnly), [CertificateType.RawPublicKey]);
  assert.deepEqual(verifiableCertificateTypes(rpkOnly.trust), [CertificateType.RawPublicKey]);
  assert.equal(rpkOnly.trust?.verifyName, false);
  assert.deepEqual(presentableCertificateTypes(undefined), []);
  assert.deepEqual(verifiableCertificateTypes({ anchors: { certificates: [] } }), []);
});

test('configuration errors name the file: mismatched key, missing file, lone --cert', () => {
  assert.throws(() => loadCredentialFiles({ cert: pki.server.cert, key: pki.device.key }), /does not match/);
  assert.throws(() => loadCredentialFiles({ cert: pki.server.cert }), /go together/);
  assert.throws(() => loadCredentialFiles({ ca: ['/nonexistent/ca.pem'] }), /cannot read \/nonexistent\/ca.pem/);
  assert.throws(() => loadCredentialFiles({ ca: [pki.server.key] }), new RegExp(pki.server.key.replace(/[.]/g, '\\.')));
  assert.throws(() => ownCertificate(pki.server.keyPem, []), /empty/);
});

test('an offline mutual exchange: each side sends its Certificate, signs, and the other verifies', async () => {
  const client = {
    certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
    rpk: ownRawPublicKey(pki.rpkClient.keyPem),
  };
  const serverTrust = loadCredentialFiles({ ca: [pki.root.cert], trustRpk: [pki.rpkClient.spki] }).trust;
  const transcript = randomBytes(200);
  for (const type of [CertificateType.X509, CertificateType.RawPublicKey]) {
    const wire = encodeCertificate(ownCertificateMessage(client, type));
    const received = parseCertificate(wire, type);
    const { identity, publicKey } = await verifyPeerCertificate(received, serverTrust, { peerRole: 'client' });
    assert.equal(identity.mode, type === CertificateType.X509 ? 'x509' : 'rpk');
    const sig = ecdsaSign(signingKey(client, type)!, transcript);
    assert.ok(ecdsaVerify(publicKey, transcript, sig));
  }
  // A client without a key of the negotiated type sends an empty Certificate.
  const empty = ownCertificateMessage({ rpk: client.rpk }, CertificateType.X509);
  assert.deepEqual(encodeCertificate(empty), Buffer.from('000000', 'hex'));
  await assert.rejects(
    verifyPeerCertificate(empty, serverTrust, { peerRole: 'client' }),
    (e: unknown) => e instanceof DtlsAlertError && e.description === AlertDescription.handshake_failure,
  );
});

test('the server name is checked on the client side unless verifyName is false', async () => {
  const trust = loadCredentialFiles({ ca: [pki.root.cert] }).trust!;
  const msg = ownCertificateMessage(
    { certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem) },
    CertificateType.X509,
  );
  const ok = await verifyPeerCertificate(msg, trust, { peerRole: 'server', serverName: '127.0.0.1' });
  assert.equal(ok.identity.mode, 'x509');
  await assert.rejects(
    verifyPeerCertificate(msg, trust, { peerRole: 'server', serverName: 'wrong.example' }),
    (e: unknown) => e instanceof DtlsAlertError && e.description === AlertDescription.bad_certificate,
  );
  assert.ok(
    await verifyPeerCertificate(
      msg,
      { ...trust, verifyName: false },
      { peerRole: 'server', serverName: 'wrong.example' },
    ),
  );
  // Without anchors no chain is trusted.
  await assert.rejects(
    verifyPeerCertificate(msg, { pinnedKeys: undefined }, { peerRole: 'server' }),
    (e: unknown) => e instanceof DtlsAlertError && e.description === AlertDescription.unknown_ca,
  );
});

test('the temp PKI can make longer chains, and they verify', async (t) => {
  const deep = await makeTempPki(t, { intermediates: 3 });
  const creds = loadCredentialFiles({ cert: deep.server.chain, key: deep.server.key, ca: [deep.root.cert] });
  assert.equal(creds.certificate?.chain.length, 4);
  const msg = ownCertificateMessage(creds, CertificateType.X509);
  const wire = encodeCertificate(msg);
  assert.ok(wire.length > 4 * 256, `a ${wire.length}-byte Certificate needs fragments at a 256-byte MTU`);
  const v = await verifyPeerCertificate(parseCertificate(wire, CertificateType.X509), creds.trust, {
    peerRole: 'server',
    serverName: 'localhost',
  });
  assert.equal(v.identity.mode === 'x509' && v.identity.chain.length, 4);
});

test('own credentials must be P-256', () => {
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey;
  assert.throws(() => ownRawPublicKey(p384), /P-256/);
  assert.throws(() => ownCertificate(p384, pki.server.chainPem), /P-256/);
});

test('certificate-type negotiation (RFC 7250 §4), server and client side', () => {
  const X = CertificateType.X509;
  const R = CertificateType.RawPublicKey;
  const both = loadCredentialFiles({
    cert: pki.server.chain,
    key: pki.server.key,
    ca: [pki.root.cert],
    rpkKey: pki.rpkServer.key,
    trustRpk: [pki.rpkClient.spki],
    clientAuth: 'need',
  });
  // An RPK client: both lists say RawPublicKey; the ServerHello answers each with one byte.
  const rpk = chooseCertificateTypes({ clientCertificateTypes: [R], serverCertificateTypes: [R] }, both);
  assert.equal(rpk.server, R);
  assert.equal(rpk.client, R);
  assert.deepEqual(
    rpk.serverHelloExtensions.map((e) => [e.type, e.data.toString('hex')]),
    [
      [20, '02'],
      [19, '02'],
    ],
  );
  // A plain X.509 client sends neither extension, and gets no answers.
  const x509 = chooseCertificateTypes({}, both);
  assert.deepEqual([x509.server, x509.client, x509.serverHelloExtensions.length], [X, X, 0]);
  // Client preference order wins when the server has both.
  assert.equal(chooseCertificateTypes({ serverCertificateTypes: [X, R] }, both).server, X);
  // No overlap: unsupported_certificate; with clientAuth 'want' the server just skips the request.
  const isUnsupported = (e: unknown) =>
    e instanceof DtlsAlertError && e.description === AlertDescription.unsupported_certificate;
  const rpkOnlyServer = { rpk: both.rpk, trust: { pinnedKeys: both.trust?.pinnedKeys }, clientAuth: 'need' as const };
  assert.throws(() => chooseCertificateTypes({}, rpkOnlyServer), isUnsupported);
  assert.throws(
    () => chooseCertificateTypes({ serverCertificateTypes: [R], clientCertificateTypes: [X] }, rpkOnlyServer),
    isUnsupported,
  );
  const want = chooseCertificateTypes(
    { serverCertificateTypes: [R], clientCertificateTypes: [X] },
    { ...rpkOnlyServer, clientAuth: 'want' },
  );
  assert.equal(want.client, undefined);
  assert.deepEqual(
    want.serverHelloExtensions.map((e) => e.type),
    [20],
  );
  assert.equal(
    chooseCertificateTypes({ serverCertificateTypes: [R] }, { ...rpkOnlyServer, clientAuth: 'none' }).client,
    undefined,
  );

  // Client side: what it offers, and how it reads the answers.
  const rpkClient = loadCredentialFiles({ rpkKey: pki.rpkClient.key, trustRpk: [pki.rpkServer.spki] });
  const exts = clientHelloEccExtensions(rpkClient);
  assert.deepEqual(
    exts.map((e) => e.type),
    [10, 11, 13, 20, 19],
  );
  assert.deepEqual(
    clientHelloEccExtensions(loadCredentialFiles({ ca: [pki.root.cert] })).map((e) => e.type),
    [10, 11, 13],
  );
  const sent = { clientCertificateTypes: [R], serverCertificateTypes: [R] };
  assert.deepEqual(acceptServerCertificateTypes(sent, { serverCertificateType: R, clientCertificateType: R }), {
    server: R,
    client: R,
  });
  assert.deepEqual(acceptServerCertificateTypes({}, {}), { server: X, client: X });
  assert.throws(
    () => acceptServerCertificateTypes({}, { serverCertificateType: R }),
    (e: unknown) => e instanceof DtlsAlertError && e.description === AlertDescription.unsupported_extension,
  );
  assert.throws(
    () => acceptServerCertificateTypes(sent, { serverCertificateType: X }),
    (e: unknown) => e instanceof DtlsAlertError && e.description === AlertDescription.illegal_parameter,
  );
});

/**
 * EDHOC with X.509 certificates from our PKI (src/pki): by x5t against known certificates, and by
 * value (x5chain) validated against the CA as DTLS validates chains.
 */
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { test } from 'node:test';
import { certificatesFromPem, loadTrustAnchors } from '../../src/dtls/credentials/x509.ts';
import { keyFromCcs, knownCredentials, rpkCredential, x509Credential } from '../../src/edhoc/credentials.ts';
import { EdhocError, ErrCode } from '../../src/edhoc/errors.ts';
import { EdhocInitiator } from '../../src/edhoc/initiator.ts';
import { EdhocResponder } from '../../src/edhoc/responder.ts';
import { anyCredential, x509ChainResolver } from '../../src/edhoc/x509-trust.ts';
import { createCa, generateKeyPem, issueCertificate, rawPublicKey } from '../../src/pki/pki.ts';

async function leaf(ca: Awaited<ReturnType<typeof createCa>>, cn: string) {
  const c = await issueCertificate({ ca, cn });
  return { der: certificatesFromPem(c.certPem)[0], key: createPrivateKey(c.keyPem!) };
}

test('x5t and x5chain with certificates from our PKI; a chain from another CA is refused (ERR_CODE 3)', async () => {
  const ca = await createCa({ cn: 'EDHOC test CA' });
  const other = await createCa({ cn: 'Someone else' });
  const i = await leaf(ca, 'initiator');
  const r = await leaf(ca, 'responder');
  const stranger = await leaf(other, 'initiator');
  const anchors = loadTrustAnchors(ca.certPem);
  const run = (iDer: Buffer, iKey: typeof i.key, ref: 'x5t' | 'x5chain') => {
    const iCred = x509Credential(iDer, ref);
    const rCred = x509Credential(r.der, 'x5t');
    const initiator = new EdhocInitiator({
      method: 0,
      suites: [2],
      connectionId: Buffer.from([1]),
      credential: iCred,
      authKey: { kind: 'signature', key: iKey },
      peers: knownCredentials([rCred]),
    });
    const responder = new EdhocResponder({
      suites: [2],
      connectionId: Buffer.from([2]),
      credential: rCred,
      authKey: { kind: 'signature', key: r.key },
      // Known certificates by x5t, anything our CA issued by value.
      peers: anyCredential(knownCredentials(ref === 'x5t' ? [iCred] : []), x509ChainResolver({ anchors })),
    });
    const m3 = initiator.handleMessage2(responder.handleMessage1(initiator.message1()));
    responder.handleMessage3(m3);
    return { initiator, responder, m3 };
  };
  const byHash = run(i.der, i.key, 'x5t');
  assert.deepEqual(byHash.responder.session.oscore().masterSecret, byHash.initiator.session.oscore().masterSecret);
  const byValue = run(i.der, i.key, 'x5chain');
  assert.deepEqual(byValue.responder.session.peer.cred.subarray(-i.der.length), i.der);
  assert.ok(byValue.m3.length > i.der.length, 'message_3 carries the certificate');
  assert.throws(
    () => run(stranger.der, stranger.key, 'x5chain'),
    (e: unknown) => e instanceof EdhocError && e.errCode === ErrCode.unknownCredential,
  );
});

test('a DTLS raw public key (SPKI from securesense pki) maps onto a CCS credential by kid', async () => {
  const keyPem = await generateKeyPem();
  const rpk = rawPublicKey(keyPem);
  const a = rpkCredential(rpk.spkiPem);
  const b = rpkCredential(rpk.spkiDer);
  assert.deepEqual(a.cred, b.cred);
  assert.equal(a.idCred.kind === 'kid' && a.idCred.kid.toString('hex'), rpk.fingerprint.slice(0, 8));
  assert.equal(a.publicKey.kind, 'P-256');
  // The CCS holds the same key: x and y of the SPKI point.
  const point = rpk.spkiDer.subarray(-65);
  const k = keyFromCcs(a.cred);
  assert.ok(k.kind === 'P-256' && k.x.equals(point.subarray(1, 33)) && k.y?.equals(point.subarray(33)));
  assert.throws(() => rpkCredential(Buffer.from('nope')), EdhocError);
});

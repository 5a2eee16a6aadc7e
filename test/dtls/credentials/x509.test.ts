import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import {
  certificatesFromPem,
  loadTrustAnchors,
  trustAnchorNames,
  verifyCertificateChain,
} from '../../../src/dtls/credentials/x509.ts';
import { AlertDescription, DtlsAlertError } from '../../../src/dtls/errors.ts';
import { makeTempPki, type TempPki } from '../../support/pki.ts';

const alert = (d: AlertDescription) => (e: unknown) => {
  assert.ok(e instanceof DtlsAlertError, `expected DtlsAlertError, got ${String(e)}`);
  assert.equal(AlertDescription[e.description], AlertDescription[d], e.message);
  return true;
};

let pki: TempPki;
test.before(async () => {
  pki = await makeTempPki();
});
test.after(() => pki.cleanup());

const chainOf = (pem: string) => certificatesFromPem(pem);

test('a server chain (leaf + intermediate) verifies to the root; identity fields', () => {
  const anchors = loadTrustAnchors(pki.root.certPem);
  const chain = chainOf(pki.server.chainPem);
  assert.equal(chain.length, 2);
  for (const serverName of ['localhost', '127.0.0.1', '::1', '[::1]', undefined]) {
    const v = verifyCertificateChain(chain, { anchors, peerRole: 'server', serverName });
    assert.equal(v.identity.mode, 'x509');
    assert.equal(v.identity.subject, 'CN=localhost');
    assert.deepEqual(v.identity.sans, ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1']);
    assert.equal(v.identity.fingerprint, createHash('sha256').update(chain[0]).digest('hex'));
    assert.equal(v.identity.fingerprint, new X509Certificate(chain[0]).fingerprint256.replace(/:/g, '').toLowerCase());
    assert.deepEqual(v.identity.chain, chain);
    // The identity outlives the handshake (the session cache keeps it): its certificates hold no
    // larger buffer alive (the received flight, or a shared pool of Node's small Buffers).
    for (const der of v.identity.chain) assert.equal(der.buffer.byteLength, der.length);
    assert.equal(v.path.length, 3);
    assert.equal(v.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  }
});

test('one identity per leaf and chain, shared by every verification of it and frozen', () => {
  const anchors = loadTrustAnchors(pki.root.certPem);
  const [leaf, inter] = chainOf(pki.server.chainPem);
  const root = chainOf(pki.root.certPem)[0];
  // Fresh copies, as each handshake's flight brings: the identity is found by content, not by buffer.
  const first = verifyCertificateChain([Buffer.from(leaf), Buffer.from(inter)], {
    anchors,
    peerRole: 'server',
  }).identity;
  const again = verifyCertificateChain([Buffer.from(leaf), Buffer.from(inter)], {
    anchors,
    peerRole: 'server',
  }).identity;
  assert.equal(again, first);
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.sans) && Object.isFrozen(first.chain));
  assert.throws(() => (first.sans as string[]).push('DNS:evil.example'), TypeError);
  // The same leaf behind a different chain is another identity, with the chain as that peer sent it.
  const longer = verifyCertificateChain([leaf, inter, root], { anchors, peerRole: 'server' }).identity;
  assert.notEqual(longer, first);
  assert.deepEqual(longer.chain, [leaf, inter, root]);
  assert.equal(longer.fingerprint, first.fingerprint);
});

test('path building takes the sent certificates in any order after the leaf, ignores extras, accepts the root sent along', () => {
  const anchors = loadTrustAnchors(pki.root.certPem);
  const [leaf, inter] = chainOf(pki.server.chainPem);
  const stray = chainOf(pki.untrustedCa.certPem)[0];
  const root = chainOf(pki.root.certPem)[0];
  for (const chain of [
    [leaf, stray, inter],
    [leaf, inter, root],
    [leaf, root, inter, inter],
  ]) {
    assert.equal(verifyCertificateChain(chain, { anchors, peerRole: 'server' }).identity.subject, 'CN=localhost');
  }
  // The intermediate itself may be the anchor: then the leaf alone suffices.
  assert.ok(verifyCertificateChain([leaf], { anchors: loadTrustAnchors(pki.issuer.certPem), peerRole: 'server' }));
});

test('client certificates: clientAuth EKU accepted from a client, refused from a server', () => {
  const anchors = loadTrustAnchors([pki.root.certPem]);
  const chain = chainOf(pki.device.chainPem);
  const v = verifyCertificateChain(chain, { anchors, peerRole: 'client' });
  assert.equal(v.identity.subject, 'CN=device-1');
  assert.deepEqual(v.identity.sans, []);
  assert.throws(
    () => verifyCertificateChain(chain, { anchors, peerRole: 'server' }),
    alert(AlertDescription.unsupported_certificate),
  );
  assert.throws(
    () => verifyCertificateChain(chainOf(pki.server.chainPem), { anchors, peerRole: 'client' }),
    alert(AlertDescription.unsupported_certificate),
  );
});

test('each failure gets its alert', () => {
  const anchors = loadTrustAnchors(pki.root.certPem);
  const [leaf] = chainOf(pki.server.chainPem);
  const v =
    (chain: Buffer[], extra: Partial<Parameters<typeof verifyCertificateChain>[1]> = {}) =>
    () =>
      verifyCertificateChain(chain, { anchors, peerRole: 'server', ...extra });
  assert.throws(v([]), alert(AlertDescription.handshake_failure));
  assert.throws(v([Buffer.from('3003020100', 'hex')]), alert(AlertDescription.bad_certificate));
  assert.throws(v([leaf]), alert(AlertDescription.unknown_ca), 'intermediate missing');
  assert.throws(v(chainOf(pki.untrusted.chainPem)), alert(AlertDescription.unknown_ca));
  assert.throws(v(chainOf(pki.untrustedCa.certPem)), alert(AlertDescription.unknown_ca), 'untrusted self-signed');
  assert.throws(v(chainOf(pki.expired.chainPem)), alert(AlertDescription.certificate_expired));
  assert.throws(
    v(chainOf(pki.server.chainPem), { now: new Date('2000-01-01') }),
    alert(AlertDescription.bad_certificate),
  );
  assert.throws(
    v(chainOf(pki.server.chainPem), { now: new Date('2100-01-01') }),
    alert(AlertDescription.certificate_expired),
  );
  assert.throws(
    v(chainOf(pki.server.chainPem), { serverName: 'other.example' }),
    alert(AlertDescription.bad_certificate),
  );
  assert.throws(v(chainOf(pki.server.chainPem), { serverName: '10.1.2.3' }), alert(AlertDescription.bad_certificate));
  assert.ok(v(chainOf(pki.server.chainPem), { serverName: 'other.example', verifyName: false })());
  // A flipped bit in the leaf's signature: the issuer is found by name but its key does not verify.
  const forged = Buffer.from(leaf);
  forged[forged.length - 3] ^= 0x01;
  assert.throws(v([forged, chainOf(pki.server.chainPem)[1]]), alert(AlertDescription.decrypt_error));
  // An empty trust store knows no CA.
  assert.throws(
    () => verifyCertificateChain(chainOf(pki.server.chainPem), { anchors: { certificates: [] }, peerRole: 'server' }),
    alert(AlertDescription.unknown_ca),
  );
});

test('anchors: several from one PEM bundle, DER too; their DER names for CertificateRequest', () => {
  const anchors = loadTrustAnchors([pki.root.certPem + pki.untrustedCa.certPem, chainOf(pki.root.certPem)[0]]);
  assert.equal(anchors.certificates.length, 3);
  const names = trustAnchorNames(anchors);
  assert.equal(names.length, 2, 'duplicates removed');
  // The root's name is exactly the issuer field of the intermediate it signed.
  const inter = verifyCertificateChain(chainOf(pki.server.chainPem), { anchors, peerRole: 'server' }).path[1];
  assert.deepEqual(names[0], inter.issuerDer);
  assert.equal(names[0][0], 0x30);
  assert.throws(() => loadTrustAnchors('not pem'), /no certificate/);
  assert.throws(
    () => loadTrustAnchors('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
    /trust anchor 1/,
  );
});

test('mutated certificates never crash the verifier: every outcome is a DtlsAlertError or success', () => {
  const anchors = loadTrustAnchors(pki.root.certPem);
  const [leaf, inter] = chainOf(pki.server.chainPem);
  // A fixed-seed generator so that a failure reproduces.
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  let refused = 0;
  for (let i = 0; i < 600; i++) {
    const target = i % 2 === 0 ? leaf : inter;
    const m = Buffer.from(target);
    for (let k = 0; k <= i % 4; k++) m[rnd() % m.length] = rnd() & 0xff;
    const cut = i % 7 === 0 ? m.subarray(0, rnd() % m.length) : m;
    const chain = target === leaf ? [cut, inter] : [leaf, cut];
    try {
      verifyCertificateChain(chain, { anchors, peerRole: 'server' });
    } catch (e) {
      assert.ok(e instanceof DtlsAlertError, `mutation ${i}: ${String(e)}`);
      refused++;
    }
  }
  assert.ok(refused > 550, `only ${refused} of 600 mutations refused`);
});

test('wildcard SANs match one whole label only (RFC 6125 §6.4.3)', async (t) => {
  const wild = await pki.issue('wild', { cn: 'wild', dns: ['*.devices.example', 'gw*.example'], usage: 'server' });
  const anchors = loadTrustAnchors(pki.root.certPem);
  const check = (serverName: string) => () =>
    verifyCertificateChain(chainOf(wild.chainPem), { anchors, peerRole: 'server', serverName });
  assert.ok(check('s1.devices.example')());
  assert.throws(check('a.b.devices.example'), alert(AlertDescription.bad_certificate));
  assert.throws(check('devices.example'), alert(AlertDescription.bad_certificate));
  assert.throws(check('gw1.example'), alert(AlertDescription.bad_certificate), 'no partial-label wildcards');
  t.diagnostic('wildcards checked');
});

/**
 * x509.ts against chains made by a third party: `openssl req` / `openssl x509` with explicit
 * extension files, including the faults our own tooling never produces.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { certificatesFromPem, loadTrustAnchors, verifyCertificateChain } from '../../../src/dtls/credentials/x509.ts';
import { AlertDescription, DtlsAlertError } from '../../../src/dtls/errors.ts';
import { hasBinary } from '../../support/peers.ts';

const alert = (d: AlertDescription) => (e: unknown) => {
  assert.ok(e instanceof DtlsAlertError, `expected DtlsAlertError, got ${String(e)}`);
  assert.equal(AlertDescription[e.description], AlertDescription[d], e.message);
  return true;
};

const available = hasBinary('openssl') || process.env.CI === 'true';
const dir = mkdtempSync(join(tmpdir(), 'x509-openssl-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });

function key(name: string, type: 'ec' | 'rsa' = 'ec'): void {
  if (type === 'ec') ossl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
  else ossl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`);
}

/** A certificate for `name` signed by `issuer` (or self-signed when issuer is undefined), with extension lines. */
function cert(name: string, issuer: string | undefined, ext: string[], opts: { type?: 'ec' | 'rsa' } = {}): Buffer {
  key(name, opts.type);
  writeFileSync(
    join(dir, `${name}.ext`),
    `[req]\ndistinguished_name=dn\nx509_extensions=v3\n[dn]\n[v3]\n${ext.join('\n')}\n`,
  );
  if (!issuer) {
    ossl(
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      `/CN=${name}`,
      '-days',
      '30',
      '-sha256',
      '-config',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
  } else {
    ossl(
      'req',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      `/CN=${name}/O=Third Party`,
      '-config',
      `${name}.ext`,
      '-out',
      `${name}.csr`,
    );
    ossl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${issuer}.pem`,
      '-CAkey',
      `${issuer}.key`,
      '-CAcreateserial',
      '-days',
      '30',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-extensions',
      'v3',
      '-out',
      `${name}.pem`,
    );
  }
  return certificatesFromPem(readFileSync(join(dir, `${name}.pem`)))[0];
}

const CA = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash'];
const LEAF = [
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'extendedKeyUsage=serverAuth,clientAuth',
  'subjectAltName=DNS:openssl.test,IP:127.0.0.1',
];

test('OpenSSL-made chains: accepted, and each fault gets its alert', { skip: !available && 'openssl missing' }, () => {
  const root = cert('root', undefined, CA);
  const inter = cert(
    'inter',
    'root',
    CA.map((l) => (l.startsWith('basic') ? 'basicConstraints=critical,CA:TRUE,pathlen:0' : l)),
  );
  const leaf = cert('leaf', 'inter', LEAF);
  const anchors = loadTrustAnchors(readFileSync(join(dir, 'root.pem'), 'utf8'));
  const ok = verifyCertificateChain([leaf, inter], { anchors, peerRole: 'server', serverName: 'openssl.test' });
  assert.equal(ok.identity.subject, 'CN=leaf, O=Third Party');
  assert.deepEqual(ok.identity.sans, ['DNS:openssl.test', 'IP:127.0.0.1']);
  assert.ok(verifyCertificateChain([leaf, inter, root], { anchors, peerRole: 'client' }));
  assert.throws(
    () => verifyCertificateChain([leaf, inter], { anchors, peerRole: 'server', serverName: 'evil.test' }),
    alert(AlertDescription.bad_certificate),
  );
  assert.throws(
    () =>
      verifyCertificateChain([leaf, inter], { anchors, peerRole: 'server', now: new Date(Date.now() + 40 * 86400e3) }),
    alert(AlertDescription.certificate_expired),
  );

  // pathlen:0 on the intermediate, yet another CA below it.
  const sub = cert('sub', 'inter', CA);
  const deep = cert('deep', 'sub', LEAF);
  assert.throws(
    () => verifyCertificateChain([deep, sub, inter], { anchors, peerRole: 'server' }),
    alert(AlertDescription.bad_certificate),
  );

  // An issuer that is not a CA.
  const notCa = cert('notca', 'root', [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyCertSign',
  ]);
  const underNotCa = cert('undernotca', 'notca', LEAF);
  assert.throws(
    () => verifyCertificateChain([underNotCa, notCa], { anchors, peerRole: 'server' }),
    alert(AlertDescription.unknown_ca),
  );

  // A CA whose keyUsage does not allow certificate signing.
  const noSign = cert('nosign', 'root', ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,digitalSignature']);
  const underNoSign = cert('undernosign', 'nosign', LEAF);
  assert.throws(
    () => verifyCertificateChain([underNoSign, noSign], { anchors, peerRole: 'server' }),
    alert(AlertDescription.bad_certificate),
  );

  // Leaf faults: an RSA key, no digitalSignature, an unknown critical extension.
  const rsa = cert('rsaleaf', 'root', LEAF, { type: 'rsa' });
  assert.throws(
    () => verifyCertificateChain([rsa], { anchors, peerRole: 'server' }),
    alert(AlertDescription.unsupported_certificate),
  );
  const noDs = cert('nods', 'root', ['basicConstraints=CA:FALSE', 'keyUsage=critical,keyAgreement']);
  assert.throws(
    () => verifyCertificateChain([noDs], { anchors, peerRole: 'server' }),
    alert(AlertDescription.unsupported_certificate),
  );
  const crit = cert('crit', 'root', [...LEAF, '1.2.3.4.5=critical,ASN1:UTF8String:must-understand']);
  assert.throws(
    () => verifyCertificateChain([crit], { anchors, peerRole: 'server' }),
    alert(AlertDescription.unsupported_certificate),
  );

  // A leaf with no extensions at all (v1-style profile): accepted, the name checked against the CN.
  const bare = cert('bare.test', 'root', ['subjectKeyIdentifier=hash']);
  assert.ok(verifyCertificateChain([bare], { anchors, peerRole: 'server', serverName: 'bare.test' }));

  // A self-signed leaf: refused unless it is itself a trust anchor (a pinned certificate).
  const self = cert('self', undefined, LEAF);
  assert.throws(
    () => verifyCertificateChain([self], { anchors, peerRole: 'server' }),
    alert(AlertDescription.unknown_ca),
  );
  const pinned = loadTrustAnchors(readFileSync(join(dir, 'self.pem'), 'utf8'));
  assert.equal(verifyCertificateChain([self], { anchors: pinned, peerRole: 'server' }).identity.subject, 'CN=self');
});

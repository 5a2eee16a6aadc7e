/**
 * `securesense pki` end to end: the files it writes, read by third parties — `openssl verify`,
 * `openssl x509 -text`, `openssl pkey`, GnuTLS `certtool -i`.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCliSync } from '../support/cli.ts';
import { requireBinary } from '../support/peers.ts';

const dir = mkdtempSync(join(tmpdir(), 'pki-cli-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function pki(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = runCliSync(['pki', ...args]);
  return { ...r, code: r.code ?? -1 };
}
function ok(...args: string[]): string {
  const r = pki(...args);
  assert.equal(r.code, 0, `pki ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}
const p = (name: string) => join(dir, name);
const openssl = (...args: string[]) => spawnSync('openssl', args, { encoding: 'utf8' });

test('ca → intermediate → server and device certificates; OpenSSL verifies them and shows SANs and keyUsage', async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const root = JSON.parse(ok('ca', '--out', p('root'), '--cn', 'Acme Root', '--days', '30'));
  assert.equal(root.subject, 'CN=Acme Root');
  ok('ca', '--parent', p('root'), '--out', p('inter'), '--cn', 'Acme Devices', '--path-length', '0');
  const server = JSON.parse(
    ok(
      'issue',
      '--ca',
      p('inter'),
      '--cn',
      'coap.example',
      '--dns',
      'coap.example',
      '--dns',
      'localhost',
      '--ip',
      '127.0.0.1',
      '--ip',
      '::1',
      '--server',
      '--out',
      p('server'),
    ),
  );
  assert.deepEqual(server.sans, ['DNS:coap.example', 'DNS:localhost', 'IP:127.0.0.1', 'IP:::1']);
  assert.equal(server.usage, 'server');
  ok('issue', '--ca', p('inter'), '--cn', 'device-42', '--client', '--days', '10', '--out', p('dev'));
  assert.equal(statSync(p('dev.key')).mode & 0o777, 0o600, 'keys are private');

  // openssl verify with the root as the only anchor and the intermediate as untrusted help.
  for (const leaf of ['server.pem', 'dev.pem']) {
    const v = openssl('verify', '-CAfile', p('root/ca.pem'), '-untrusted', p('inter/chain.pem'), p(leaf));
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /: OK/);
  }
  const purpose = openssl(
    'verify',
    '-CAfile',
    p('root/ca.pem'),
    '-untrusted',
    p('inter/chain.pem'),
    '-purpose',
    'sslserver',
    p('dev.pem'),
  );
  assert.notEqual(purpose.status, 0, 'a device certificate is not a TLS server certificate');
  // root.pem in the intermediate's directory is the anchor; the -chain file is leaf + intermediate.
  assert.equal(readFileSync(p('inter/root.pem'), 'utf8'), readFileSync(p('root/ca.pem'), 'utf8'));
  assert.equal((readFileSync(p('server-chain.pem'), 'utf8').match(/BEGIN CERTIFICATE/g) ?? []).length, 2);

  const text = openssl('x509', '-in', p('server.pem'), '-noout', '-text').stdout;
  assert.match(text, /DNS:coap\.example, DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
  assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature/);
  assert.match(text, /TLS Web Server Authentication/);
  assert.match(text, /CA:FALSE/);
  assert.match(text, /ASN1 OID: prime256v1/);
  assert.match(text, /ecdsa-with-SHA256/);
  const caText = openssl('x509', '-in', p('inter/ca.pem'), '-noout', '-text').stdout;
  assert.match(caText, /CA:TRUE, pathlen:0/);
  assert.match(caText, /Certificate Sign, CRL Sign/);
  assert.match(openssl('x509', '-in', p('dev.pem'), '-noout', '-text').stdout, /TLS Web Client Authentication/);
  // The key is PKCS#8 and OpenSSL reads it.
  assert.match(readFileSync(p('server.key'), 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  assert.equal(openssl('pkey', '-in', p('server.key'), '-noout').status, 0);
});

test('GnuTLS certtool parses the certificates and keys', (t) => {
  if (!requireBinary(t, 'certtool')) return;
  ok('ca', '--out', p('groot'));
  ok(
    'issue',
    '--ca',
    p('groot'),
    '--cn',
    'gnutls.example',
    '--dns',
    'gnutls.example',
    '--ip',
    '10.1.2.3',
    '--out',
    p('gleaf'),
  );
  const info = execFileSync('certtool', ['-i', '--infile', p('gleaf.pem')], { encoding: 'utf8' });
  assert.match(info, /Subject: CN=gnutls\.example/);
  assert.match(info, /DNSname: gnutls\.example/);
  assert.match(info, /IPAddress: 10\.1\.2\.3/);
  assert.match(info, /Digital signature/);
  assert.match(info, /SECP256R1/);
  const ca = execFileSync('certtool', ['-i', '--infile', p('groot/ca.pem')], { encoding: 'utf8' });
  assert.match(ca, /Certificate Authority \(CA\): TRUE/);
  // certtool verifies the chain too.
  const v = spawnSync(
    'certtool',
    ['--verify', '--load-ca-certificate', p('groot/ca.pem'), '--infile', p('gleaf.pem')],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(v.status, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /Chain verification output: Verified/);
  const k = spawnSync('certtool', ['-k', '--infile', p('gleaf.key')], { encoding: 'utf8' });
  assert.equal(k.status, 0, k.stderr);
  assert.match(k.stdout, /SECP256R1/);
});

test('an expired certificate made with --not-before/--not-after is refused by openssl verify', (t) => {
  if (!requireBinary(t, 'openssl')) return;
  ok('ca', '--out', p('eroot'));
  ok(
    'issue',
    '--ca',
    p('eroot'),
    '--cn',
    'old',
    '--not-before',
    '2020-01-01T00:00:00Z',
    '--not-after',
    '2021-01-01T00:00:00Z',
    '--out',
    p('old'),
  );
  const v = openssl('verify', '-CAfile', p('eroot/ca.pem'), p('old.pem'));
  assert.notEqual(v.status, 0);
  assert.match(v.stdout + v.stderr, /certificate has expired/);
  assert.match(openssl('x509', '-in', p('old.pem'), '-noout', '-enddate').stdout, /notAfter=Jan\s+1 00:00:00 2021 GMT/);
});

test('keygen, rpk (SPKI PEM + SHA-256 that OpenSSL agrees with) and psk', (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const kg = JSON.parse(ok('keygen', '--out', p('k.pem')));
  const out = JSON.parse(ok('rpk', '--key', p('k.pem'), '--out', p('k.pub')));
  const fp = out.fingerprint;
  assert.equal(out.rpk, p('k.pub'));
  assert.match(fp, /^[0-9a-f]{64}$/);
  assert.equal(kg.fingerprint, fp);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-in', p('k.pub'), '-outform', 'DER']);
  const digest = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der }).toString().split(' ')[0];
  assert.equal(digest, fp);
  // Without --out the PEM is in the JSON line, beside the fingerprint.
  const both = JSON.parse(ok('rpk', '--key', p('k.pem')));
  assert.equal(both.spki, readFileSync(p('k.pub'), 'utf8'));
  assert.match(both.spki, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+-----END PUBLIC KEY-----\n$/);
  assert.equal(both.fingerprint, fp);
  ok('ca', '--out', p('kroot'));
  ok('issue', '--ca', p('kroot'), '--cn', 'rekeyed', '--key', p('k.pem'), '--out', p('kcert'));
  assert.equal(
    JSON.parse(ok('rpk', '--key', p('kcert.pem'))).fingerprint,
    fp,
    'the key of a certificate, same fingerprint',
  );
  assert.equal(readFileSync(p('kcert.key'), 'utf8'), readFileSync(p('k.pem'), 'utf8'), '--key certifies the given key');

  const named = JSON.parse(ok('psk', '--identity', 'sensor-7', '--bytes', '16')) as {
    identity: string;
    key: string;
    psk: string;
  };
  assert.equal(named.identity, 'sensor-7');
  assert.match(named.key, /^[0-9a-f]{32}$/);
  assert.equal(named.psk, `sensor-7:${named.key}`, 'the ID:HEX form that --psk takes');
  assert.match((JSON.parse(ok('psk')) as { psk: string }).psk, /^device-[0-9a-f]{8}:[0-9a-f]{32}$/);
});

test('bad invocations fail with a message and a non-zero exit', () => {
  const cases: Array<[string[], RegExp]> = [
    [['issue', '--ca', p('nope'), '--cn', 'x', '--out', p('x')], /not a CA directory/],
    [['issue', '--ca', p('root'), '--out', p('x')], /--cn is required/],
    [['issue', '--ca', p('root'), '--cn', 'x', '--ip', 'not-an-ip', '--out', p('x')], /not an IP address/],
    [['ca', '--out', p('y'), '--days', '0'], /positive integer/],
    [['ca', '--out', p('y'), '--not-before', 'yesterday'], /ISO date/],
    [['rpk', '--key', p('nothing.pem')], /ENOENT|no such file/],
    [['psk', '--identity', 'a:b'], /contain no ":"/],
    [['ca', '--bogus'], /Unknown option|unknown/i],
    [['frobnicate'], /unknown command/],
  ];
  for (const [args, re] of cases) {
    const r = pki(...args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, re, args.join(' '));
  }
});

test('issue --csr certifies the key of an OpenSSL-made request, keeping its subject; bad requests are refused', (t) => {
  if (!requireBinary(t, 'openssl')) return;
  ok('ca', '--out', p('csr-ca'));
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p('req.key')]);
  execFileSync('openssl', [
    'req',
    '-new',
    '-key',
    p('req.key'),
    '-subj',
    '/CN=sensor-99/O=Field Unit',
    '-out',
    p('req.csr'),
  ]);
  const out = JSON.parse(ok('issue', '--ca', p('csr-ca'), '--csr', p('req.csr'), '--client', '--out', p('fromcsr')));
  assert.equal(out.subject, 'CN=sensor-99, O=Field Unit');
  assert.equal(out.key, undefined, 'no key file for a request');
  const v = openssl('verify', '-CAfile', p('csr-ca/ca.pem'), p('fromcsr.pem'));
  assert.equal(v.status, 0, v.stdout + v.stderr);
  const certKey = openssl('x509', '-in', p('fromcsr.pem'), '-noout', '-pubkey').stdout;
  const reqKey = openssl('req', '-in', p('req.csr'), '-noout', '-pubkey').stdout;
  assert.equal(certKey, reqKey, 'the certificate carries the requested key');
  // --cn overrides the request's subject.
  assert.equal(
    JSON.parse(ok('issue', '--ca', p('csr-ca'), '--csr', p('req.csr'), '--cn', 'renamed', '--out', p('renamed')))
      .subject,
    'CN=renamed',
  );
  // A request whose signature was tampered with, and one for an RSA key.
  const der = execFileSync('openssl', ['req', '-in', p('req.csr'), '-outform', 'DER']);
  der[der.length - 5] ^= 0x01;
  writeFileSync(p('bad.csr'), der);
  const bad = pki('issue', '--ca', p('csr-ca'), '--csr', p('bad.csr'), '--out', p('bad'));
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /does not verify|cannot read/);
  execFileSync(
    'openssl',
    ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('rsa.key'), '-subj', '/CN=rsa', '-out', p('rsa.csr')],
    { stdio: 'ignore' },
  );
  const rsa = pki('issue', '--ca', p('csr-ca'), '--csr', p('rsa.csr'), '--out', p('rsa'));
  assert.notEqual(rsa.code, 0);
  assert.match(rsa.stderr, /P-256/);
});

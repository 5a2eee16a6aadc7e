/**
 * `securesense edhoc server|client` against each other over loopback: both print the same OSCORE
 * context (sender and recipient IDs crossed), for signature keys by kid and static DH keys.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createCa, issueCertificate } from '../../src/pki/pki.ts';
import { jsonLines, runCli, startCli } from '../support/cli.ts';

function writeKeys(dir: string, name: string, kind: 'ec' | 'ed25519') {
  const kp = kind === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const pem = (k: KeyObject, type: 'pkcs8' | 'spki') => k.export({ format: 'pem', type }) as string;
  writeFileSync(join(dir, `${name}.pem`), pem(kp.privateKey, 'pkcs8'));
  writeFileSync(join(dir, `${name}.pub.pem`), pem(kp.publicKey, 'spki'));
}

for (const [label, kind, extra] of [
  ['P-256 signatures (method 0, suite 2)', 'ec', []],
  ['P-256 static DH (method 3, suite 2)', 'ec', ['--auth', 'static-dh']],
  ['Ed25519 signatures (method 0, suite 0)', 'ed25519', ['--suites', '0']],
] as const) {
  test(`edhoc server and client agree on the OSCORE context: ${label}`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'edhoc-cli-'));
    writeKeys(dir, 'i', kind);
    writeKeys(dir, 'r', kind);
    const f = (n: string) => join(dir, n);
    const srv = await startCli(t, [
      'edhoc',
      'server',
      '--port',
      '0',
      '--key',
      f('r.pem'),
      '--kid',
      '02',
      '--peer',
      `01:${f('i.pub.pem')}`,
      '--count',
      '1',
      ...extra,
    ]);
    const listening = jsonLines(srv.stdout()).find((l) => l.event === 'listening')!;
    const r = await runCli([
      'edhoc',
      'client',
      `coap://127.0.0.1:${listening.port}`,
      '--key',
      f('i.pem'),
      '--kid',
      '01',
      '--peer',
      `02:${f('r.pub.pem')}`,
      ...extra,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const client = jsonLines(r.stdout)[0] as { oscore: Record<string, string> };
    await srv.waitFor('"event":"edhoc"', 10_000);
    const server = jsonLines(srv.stdout()).find((l) => l.event === 'edhoc') as { oscore: Record<string, string> };
    assert.equal(client.oscore.masterSecret.length, 32);
    assert.equal(client.oscore.masterSecret, server.oscore.masterSecret);
    assert.equal(client.oscore.masterSalt, server.oscore.masterSalt);
    assert.equal(client.oscore.senderId, server.oscore.recipientId);
    assert.equal(client.oscore.recipientId, server.oscore.senderId);
  });
}

test('edhoc client with an unknown server key fails with the EDHOC error, exit 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'edhoc-cli-'));
  writeKeys(dir, 'i', 'ec');
  writeKeys(dir, 'r', 'ec');
  writeKeys(dir, 'x', 'ec');
  const f = (n: string) => join(dir, n);
  const srv = await startCli(t, [
    'edhoc',
    'server',
    '--port',
    '0',
    '--key',
    f('r.pem'),
    '--kid',
    '02',
    '--peer',
    `01:${f('i.pub.pem')}`,
  ]);
  const { port } = jsonLines(srv.stdout())[0];
  const r = await runCli([
    'edhoc',
    'client',
    `coap://127.0.0.1:${port}`,
    '--key',
    f('i.pem'),
    '--kid',
    '01',
    '--peer',
    `02:${f('x.pub.pem')}`,
  ]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Signature_or_MAC_2 signature does not verify/);
  const usage = await runCli(['edhoc', 'client', 'coap://127.0.0.1:1', '--kid', '01']);
  assert.equal(usage.code, 2);
});

test('edhoc with X.509: the client sends its certificate by value, the server validates it against --trust', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'edhoc-cli-'));
  const ca = await createCa({ cn: 'EDHOC CLI CA' });
  const f = (n: string) => join(dir, n);
  writeFileSync(f('ca.pem'), ca.certPem);
  for (const n of ['i', 'r']) {
    const c = await issueCertificate({ ca, cn: `edhoc-${n}` });
    writeFileSync(f(`${n}.crt`), c.certPem);
    writeFileSync(f(`${n}.key`), c.keyPem!);
  }
  const srv = await startCli(t, [
    'edhoc',
    'server',
    '--port',
    '0',
    '--key',
    f('r.key'),
    '--cert',
    f('r.crt'),
    '--trust',
    f('ca.pem'),
    '--count',
    '1',
  ]);
  const { port } = jsonLines(srv.stdout())[0];
  const args = [
    'edhoc',
    'client',
    `coap://127.0.0.1:${port}`,
    '--key',
    f('i.key'),
    '--cert',
    f('i.crt'),
    '--peer-cert',
    f('r.crt'),
  ];
  const r = await runCli([...args, '--send-cert']);
  assert.equal(r.code, 0, r.stderr);
  await srv.waitFor('"event":"edhoc"', 10_000);
  const server = jsonLines(srv.stdout()).find((l) => l.event === 'edhoc') as { oscore: Record<string, string> };
  assert.equal(
    (jsonLines(r.stdout)[0] as { oscore: Record<string, string> }).oscore.masterSecret,
    server.oscore.masterSecret,
  );
});

/** The shared parser of the DTLS security flags, with real files from the temp PKI and real handshakes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from 'node:util';
import {
  CREDENTIAL_OPTIONS,
  dtlsClientSecurity,
  dtlsServerSecurity,
  hasServerCredentials,
  parseMtuFlag,
  parsePskFlag,
  readSecurityFlags,
  SECURITY_OPTIONS,
} from '../../src/cli/security-flags.ts';
import { pskLookup } from '../../src/dtls/credentials/psk.ts';
import { connect, type DtlsConnection, DtlsServer } from '../../src/dtls/index.ts';
import { makeTempPki, type TempPki } from '../support/pki.ts';

let pki: TempPki;
test.before(async () => {
  pki = await makeTempPki();
});
test.after(() => pki.cleanup());

const peer = { address: '127.0.0.1', port: 1, family: 'IPv4' as const };
const literally = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));

test('--psk ID:HEX: the key is after the last colon; RFC 4279 bounds; clear messages', () => {
  assert.deepEqual(parsePskFlag('dev:1:0a0B'), { identity: 'dev:1', key: Buffer.from([0x0a, 0x0b]) });
  assert.throws(() => parsePskFlag('nokey'), /--psk wants ID:HEX, got 'nokey'/);
  assert.throws(() => parsePskFlag(':0a'), /--psk wants ID:HEX/);
  assert.throws(() => parsePskFlag('dev:'), /--psk key must be an even number of hex digits/);
  assert.throws(() => parsePskFlag('dev:0a0'), /even number of hex digits, got '0a0'/);
  assert.throws(() => parsePskFlag('dev:zz'), /hex/);
  assert.throws(() => parsePskFlag(`${'é'.repeat(65)}:0a`), /longer than 128 bytes/);
  assert.equal(parsePskFlag(`${'x'.repeat(128)}:0a`).identity.length, 128);
  assert.equal(parsePskFlag(`id:${'ab'.repeat(64)}`).key.length, 64);
  assert.throws(() => parsePskFlag(`id:${'ab'.repeat(65)}`), /--psk key longer than 64 bytes/);
});

test('--mtu is an integer in 64..65507', () => {
  assert.equal(parseMtuFlag(undefined), undefined);
  assert.equal(parseMtuFlag('64'), 64);
  assert.equal(parseMtuFlag('65507'), 65507);
  for (const bad of ['63', '65508', '1e3x', '', '300.5'])
    assert.throws(() => parseMtuFlag(bad), /--mtu must be an integer in 64\.\.65507/);
});

test('each role refuses the other side’s flags; every bad value names its flag', () => {
  assert.throws(
    () => readSecurityFlags({ psk: ['a:01'], 'client-auth': 'need' }, 'client'),
    /--client-auth is a server flag/,
  );
  assert.throws(() => readSecurityFlags({ psk: ['a:01'], hint: 'h' }, 'client'), /--hint is a server flag/);
  assert.throws(() => readSecurityFlags({ psk: ['a:01', 'b:02'] }, 'client'), /--psk given twice/);
  assert.throws(
    () => readSecurityFlags({ ca: [pki.root.cert], 'no-verify-name': true }, 'server'),
    /--no-verify-name is a client flag/,
  );
  assert.throws(() => readSecurityFlags({ psk: ['a:01', 'a:02'] }, 'server'), /--psk identity 'a' given twice/);
  assert.throws(
    () => readSecurityFlags({ cert: pki.server.chain, key: pki.server.key, 'client-auth': 'maybe' }, 'server'),
    /--client-auth must be none, want or need, got 'maybe'/,
  );
  assert.throws(() => readSecurityFlags({ psk: ['a:01'], 'client-auth': 'need' }, 'server'), /--client-auth goes with/);
  assert.throws(
    () => readSecurityFlags({ psk: ['a:01'], 'no-verify-name': true }, 'client'),
    /--no-verify-name goes with --ca/,
  );
  assert.throws(() => readSecurityFlags({ psk: ['a:01'], mtu: '10' }), /--mtu must be/);
  // The device agent is both: it takes every flag.
  const both = readSecurityFlags(
    { psk: ['a:01', 'b:02'], ca: [pki.root.cert], 'no-verify-name': true, 'client-auth': 'want', hint: 'h' },
    'both',
  );
  assert.equal(both.psks.length, 2);
  assert.equal(both.publicKey.clientAuth, 'want');
  assert.equal(both.publicKey.trust?.verifyName, false);
});

test('file errors name the flag or the file at fault', () => {
  assert.throws(() => readSecurityFlags({ cert: pki.server.cert }, 'server'), /--cert and --key go together/);
  assert.throws(() => readSecurityFlags({ key: pki.server.key }, 'server'), /--cert and --key go together/);
  assert.throws(
    () => readSecurityFlags({ cert: pki.server.cert, key: '/nonexistent/server.key' }, 'server'),
    /--cert\/--key: .*cannot read \/nonexistent\/server\.key/,
  );
  const mismatch = () => readSecurityFlags({ cert: pki.server.cert, key: pki.device.key }, 'server');
  assert.throws(mismatch, /does not match/);
  assert.throws(mismatch, literally(pki.device.key));
  assert.throws(() => readSecurityFlags({ ca: [pki.server.key] }, 'client'), literally(`--ca: ${pki.server.key}`));
  assert.throws(
    () => readSecurityFlags({ ca: [pki.root.cert, '/nonexistent/ca.pem'] }, 'client'),
    /--ca: .*\/nonexistent\/ca\.pem/,
  );
  assert.throws(
    () => readSecurityFlags({ 'rpk-key': pki.root.cert }, 'server'),
    literally(`--rpk-key: ${pki.root.cert}`),
  );
  assert.throws(
    () => readSecurityFlags({ 'trust-rpk': ['/nonexistent/pins'] }, 'client'),
    /--trust-rpk: .*cannot read \/nonexistent\/pins/,
  );
});

test('server fragment: a constant-time PSK lookup over every --psk, the files, hint and MTU', () => {
  const s = readSecurityFlags(
    {
      psk: ['dev-1:0102', 'dev-2:0304'],
      cert: pki.server.chain,
      key: pki.server.key,
      'rpk-key': pki.rpkServer.key,
      ca: [pki.root.cert],
      'trust-rpk': [pki.rpkClient.spki],
      'client-auth': 'need',
      hint: 'cloud',
      mtu: '512',
    },
    'server',
  );
  const o = dtlsServerSecurity(s);
  assert.ok(o?.psk);
  assert.deepEqual(o.psk('dev-2', peer), Buffer.from([3, 4]));
  assert.deepEqual(o.psk('dev-1', peer), Buffer.from([1, 2]));
  assert.equal(o.psk('dev-3', peer), undefined);
  assert.equal(o.certificate?.chain.length, 2);
  assert.deepEqual(o.rpk?.spki, pki.rpkServer.spkiDer);
  assert.equal(o.trust?.anchors?.certificates.length, 1);
  assert.equal(o.trust?.pinnedKeys?.size, 1);
  assert.equal(o.clientAuth, 'need');
  assert.equal(o.pskIdentityHint, 'cloud');
  assert.equal(o.mtu, 512);

  // Nothing to authenticate the server with: no fragment, so that the tool can say what needs it.
  const trustOnly = readSecurityFlags({ ca: [pki.root.cert] }, 'server');
  assert.equal(hasServerCredentials(trustOnly), false);
  assert.equal(dtlsServerSecurity(trustOnly), undefined);
  assert.equal(dtlsServerSecurity(readSecurityFlags({}, 'server')), undefined);
  // A PSK-only server has no public-key fields at all.
  assert.deepEqual(Object.keys(dtlsServerSecurity(readSecurityFlags({ psk: ['a:01'] }, 'server')) ?? {}), ['psk']);
  assert.equal(pskLookup([])('a', peer), undefined);
});

test('client fragment: the first --psk, own credentials and trust; refused when it could verify no server', () => {
  assert.equal(dtlsClientSecurity(readSecurityFlags({}, 'client')), undefined);
  assert.deepEqual(dtlsClientSecurity(readSecurityFlags({ psk: ['dev:0a0b'], mtu: '300' }, 'client')), {
    psk: { identity: 'dev', key: Buffer.from([10, 11]) },
    mtu: 300,
  });
  const x509 = dtlsClientSecurity(
    readSecurityFlags(
      { cert: pki.device.chain, key: pki.device.key, ca: [pki.root.cert], 'no-verify-name': true },
      'client',
    ),
  );
  assert.equal(x509?.certificate?.chain.length, 2);
  assert.equal(x509?.trust?.verifyName, false);
  assert.equal('clientAuth' in (x509 ?? {}), false);
  // Own key but nothing to check the server's with, and no PSK: every handshake would fail.
  assert.throws(
    () => dtlsClientSecurity(readSecurityFlags({ 'rpk-key': pki.rpkClient.key }, 'client')),
    /give --psk, or --ca \/ --trust-rpk to verify the server/,
  );
  assert.ok(dtlsClientSecurity(readSecurityFlags({ psk: ['a:01'], 'rpk-key': pki.rpkClient.key }, 'client'))?.psk);
});

test('the parseArgs specs spread into a tool’s own options', () => {
  const { values } = parseArgs({
    args: ['--port', '0', '--psk', 'a:01', '--psk', 'b:02', '--ca', pki.root.cert, '--no-verify-name', '--mtu', '600'],
    options: { port: { type: 'string' }, ...SECURITY_OPTIONS },
  });
  const s = readSecurityFlags(values, 'both');
  assert.deepEqual(
    s.psks.map((p) => p.identity),
    ['a', 'b'],
  );
  assert.equal(s.mtu, 600);
  assert.equal(s.publicKey.trust?.anchors?.certificates.length, 1);
  // The credential-only specs leave --mtu/--hint out (the device agent's servers do not take them).
  assert.throws(() => parseArgs({ args: ['--mtu', '600'], options: CREDENTIAL_OPTIONS }), /Unknown option '--mtu'/);
});

async function handshake(
  serverFlags: string[],
  clientFlags: string[],
): Promise<{ server: DtlsConnection; client: DtlsConnection }> {
  const opts = { options: SECURITY_OPTIONS, args: [] as string[] };
  const srvSec = dtlsServerSecurity(readSecurityFlags(parseArgs({ ...opts, args: serverFlags }).values, 'server'));
  const cliSec = dtlsClientSecurity(readSecurityFlags(parseArgs({ ...opts, args: clientFlags }).values, 'client'));
  assert.ok(srvSec && cliSec);
  const srv = await DtlsServer.listen({ host: '127.0.0.1', port: 0, ...srvSec });
  try {
    const accepted = new Promise<DtlsConnection>((resolve) => srv.once('connection', resolve));
    const client = await connect({ host: '127.0.0.1', port: srv.address().port, ...cliSec });
    const server = await accepted;
    client.send(Buffer.from('ping'));
    const got = await new Promise<Buffer>((resolve) => server.once('data', resolve));
    assert.equal(got.toString(), 'ping');
    await client.close();
    return { server, client };
  } finally {
    await srv.close();
  }
}

test('the fragments configure real handshakes: PSK, X.509 with client certificates, raw public keys', async () => {
  const psk = await handshake(
    ['--psk', 'other:0909', '--psk', 'dev-1:00112233', '--hint', 'h'],
    ['--psk', 'dev-1:00112233'],
  );
  assert.deepEqual(psk.server.identity, { mode: 'psk', identity: 'dev-1' });

  const x509 = await handshake(
    [
      '--cert',
      pki.server.chain,
      '--key',
      pki.server.key,
      '--ca',
      pki.root.cert,
      '--client-auth',
      'need',
      '--mtu',
      '400',
    ],
    ['--cert', pki.device.chain, '--key', pki.device.key, '--ca', pki.root.cert, '--mtu', '400'],
  );
  assert.equal(x509.client.identity.mode, 'x509');
  assert.equal(x509.server.identity.mode, 'x509');
  assert.match(x509.server.identity.mode === 'x509' ? x509.server.identity.subject : '', /device-1/);

  const rpk = await handshake(
    ['--rpk-key', pki.rpkServer.key, '--trust-rpk', pki.rpkClient.spki, '--client-auth', 'need'],
    ['--rpk-key', pki.rpkClient.key, '--trust-rpk', pki.rpkServer.spki],
  );
  assert.equal(rpk.client.identity.mode === 'rpk' ? rpk.client.identity.fingerprint : '', pki.rpkServer.fingerprint);
  assert.equal(rpk.server.identity.mode === 'rpk' ? rpk.server.identity.fingerprint : '', pki.rpkClient.fingerprint);
});

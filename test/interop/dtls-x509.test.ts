/**
 * X.509 mode (TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 with certificate chains) against OpenSSL and
 * GnuTLS, both roles, mutual authentication, and the refusals (untrusted CA, expired certificate)
 * with the right alert on both sides.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type TestContext, test } from 'node:test';
import {
  AlertDescription,
  AlertLevel,
  connect,
  DtlsAlertError,
  type DtlsConnection,
  loadTrustAnchors,
  ownCertificate,
} from '../../src/dtls/index.ts';
import { echoServer, nextData } from '../dtls/helpers.ts';
import {
  GNUTLS_PRIORITY,
  gnutlsCli,
  opensslDtlsClient,
  startGnutlsServ,
  startOpensslDtlsServer,
} from '../support/dtls-peers.ts';
import { requireBinary } from '../support/peers.ts';
import { makeTempPki, type TempPki } from '../support/pki.ts';

/** Our echo server with the PKI's server certificate, trusting its root for client certificates. */
async function x509Server(pki: TempPki, clientAuth: 'none' | 'want' | 'need' = 'need') {
  return echoServer({
    psk: undefined,
    certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
    clientAuth,
  });
}

/** A fresh PKI and our X.509 server, closed after the test, awaiting its first connection; undefined (skipped) without `bin`. */
async function x509ServerFor(t: TestContext, bin: string, clientAuth: 'want' | 'need') {
  if (!requireBinary(t, bin)) return undefined;
  const pki = await makeTempPki(t);
  const srv = await x509Server(pki, clientAuth);
  t.after(() => srv.server.close());
  return { pki, srv, conn: once(srv.server, 'connection') };
}

test('our server ← openssl s_client: X.509 mutual authentication, echo', async (t) => {
  const setup = await x509ServerFor(t, 'openssl', 'need');
  if (!setup) return;
  const { pki, srv, conn } = setup;
  const peer = opensslDtlsClient(t, srv.port, {
    caFile: pki.root.cert,
    verifyReturnError: true,
    cert: { cert: pki.device.cert, key: pki.device.key, chain: pki.issuer.cert },
  });
  const [c] = (await conn) as [DtlsConnection];
  assert.equal(c.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');
  assert.equal(c.identity.mode, 'x509');
  assert.equal(c.identity.mode === 'x509' && c.identity.subject, 'CN=device-1');
  assert.equal(c.identity.mode === 'x509' && c.identity.chain.length, 2);
  await peer.waitFor('Verify return code: 0 (ok)');
  peer.write('x509-ping\n');
  await peer.waitFor(/x509-ping\n[\s\S]*x509-ping|Verify return code: 0 \(ok\)[\s\S]*x509-ping/);
  assert.deepEqual(srv.received.map(String), ['x509-ping\n']);
});

test('our client → openssl s_server -Verify: X.509 mutual authentication, data both ways', async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const pki = await makeTempPki(t);
  const { peer, port } = await startOpensslDtlsServer(t, {
    cert: { cert: pki.server.cert, key: pki.server.key, chain: pki.issuer.cert },
    caFile: pki.root.cert,
    requireClientCert: true,
  });
  const c = await connect({
    host: '127.0.0.1',
    port,
    certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
    retransmitInitialMs: 300,
  });
  assert.equal(c.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');
  assert.equal(c.identity.mode === 'x509' && c.identity.subject, 'CN=localhost');
  await peer.waitFor(/subject=\/?CN ?= ?device-1/);
  c.send(Buffer.from('hello-x509-server\n'));
  await peer.waitFor('hello-x509-server');
  const reply = nextData(c);
  peer.write('reply-x509\n');
  assert.equal((await reply).toString(), 'reply-x509\n');
  await c.close();
});

for (const kind of ['untrusted', 'expired'] as const) {
  const alert = kind === 'untrusted' ? 'unknown_ca' : 'certificate_expired';
  const code = kind === 'untrusted' ? AlertDescription.unknown_ca : AlertDescription.certificate_expired;
  const opensslText = kind === 'untrusted' ? /unknown ca/i : /certificate expired/i;

  test(`our client refuses openssl s_server's ${kind} certificate with ${alert}; openssl sees it`, async (t) => {
    if (!requireBinary(t, 'openssl')) return;
    const pki = await makeTempPki(t);
    const files = kind === 'untrusted' ? pki.untrusted : pki.expired;
    const { peer, port } = await startOpensslDtlsServer(t, {
      cert: { cert: files.cert, key: files.key, chain: kind === 'untrusted' ? pki.untrustedCa.cert : pki.issuer.cert },
    });
    await assert.rejects(
      connect({
        host: '127.0.0.1',
        port,
        trust: { anchors: loadTrustAnchors(pki.root.certPem) },
        retransmitInitialMs: 300,
      }),
      (e: unknown) => e instanceof DtlsAlertError && e.sent && e.level === AlertLevel.fatal && e.description === code,
    );
    await peer.waitFor(opensslText);
  });

  test(`our server refuses openssl s_client's ${kind} certificate with ${alert}; openssl sees it`, async (t) => {
    if (!requireBinary(t, 'openssl')) return;
    const pki = await makeTempPki(t);
    const srv = await x509Server(pki, 'need');
    t.after(() => srv.server.close());
    const client =
      kind === 'untrusted'
        ? pki.untrusted
        : await pki.issue('old-device', {
            notBefore: new Date('2020-01-01T00:00:00Z'),
            notAfter: new Date('2021-01-01T00:00:00Z'),
          });
    const failed = once(srv.server, 'handshakeError');
    const peer = opensslDtlsClient(t, srv.port, {
      caFile: pki.root.cert,
      cert: {
        cert: client.cert,
        key: client.key,
        chain: kind === 'untrusted' ? pki.untrustedCa.cert : pki.issuer.cert,
      },
    });
    const [e] = (await failed) as [Error];
    assert.ok(e instanceof DtlsAlertError, `expected a DtlsAlertError, got ${e}`);
    assert.equal(e.description, code);
    assert.equal(e.level, AlertLevel.fatal);
    assert.equal(e.sent, true);
    await peer.waitFor(opensslText);
  });
}

test('our server ← gnutls-cli: X.509 with a client certificate, echo', async (t) => {
  const setup = await x509ServerFor(t, 'gnutls-cli', 'want');
  if (!setup) return;
  const { pki, srv, conn } = setup;
  const peer = gnutlsCli(
    t,
    srv.port,
    [
      '--priority',
      GNUTLS_PRIORITY.x509,
      '--x509cafile',
      pki.root.cert,
      '--x509certfile',
      pki.device.chain,
      '--x509keyfile',
      pki.device.key,
    ],
    { host: 'localhost' },
  );
  const [c] = (await conn) as [DtlsConnection];
  assert.equal(c.identity.mode === 'x509' && c.identity.subject, 'CN=device-1');
  await peer.waitFor('Handshake was completed');
  peer.write('gnutls-x509\n');
  await peer.waitFor(/Simple Client Mode:[\s\S]*gnutls-x509/);
  assert.deepEqual(srv.received.map(String), ['gnutls-x509\n']);
});

test('our client → gnutls-serv: X.509 with client authentication required, echo', async (t) => {
  if (!requireBinary(t, 'gnutls-serv')) return;
  const pki = await makeTempPki(t);
  const { port } = await startGnutlsServ(t, [
    '--priority',
    GNUTLS_PRIORITY.x509,
    '--x509certfile',
    pki.server.chain,
    '--x509keyfile',
    pki.server.key,
    '--x509cafile',
    pki.root.cert,
    '--require-client-cert',
    '--verify-client-cert',
  ]);
  const c = await connect({
    host: 'localhost',
    port,
    certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
    retransmitInitialMs: 300,
  });
  assert.equal(c.identity.mode === 'x509' && c.identity.subject, 'CN=localhost');
  const echo = nextData(c);
  c.send(Buffer.from('to-gnutls-serv'));
  assert.equal((await echo).toString(), 'to-gnutls-serv');
  await c.close();
});

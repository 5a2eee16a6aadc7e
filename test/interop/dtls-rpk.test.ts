/**
 * Raw public keys (RFC 7250) against GnuTLS, both roles, and an unpinned key refused with
 * bad_certificate on both sides.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { connect, DtlsAlertError, type DtlsConnection, ownRawPublicKey, PinnedKeys } from '../../src/dtls/index.ts';
import { echoServer, nextData } from '../dtls/helpers.ts';
import { connectRpkToGnutlsServ, gnutlsCli, gnutlsRpkArgs, startGnutlsServ } from '../support/dtls-peers.ts';
import { requireBinary } from '../support/peers.ts';
import { makeTempPki, type TempPki } from '../support/pki.ts';

/** Our echo server with a raw public key, requiring the client's, which it pins. */
async function rpkServer(pki: TempPki) {
  return echoServer({
    psk: undefined,
    rpk: ownRawPublicKey(pki.rpkServer.keyPem),
    trust: { pinnedKeys: new PinnedKeys([pki.rpkClient.spkiPem]) },
    clientAuth: 'need',
  });
}

test('our server ← gnutls-cli: raw public keys both ways, the client key pinned, echo', async (t) => {
  if (!requireBinary(t, 'gnutls-cli')) return;
  const pki = await makeTempPki(t, { intermediate: false });
  const srv = await rpkServer(pki);
  t.after(() => srv.server.close());
  const conn = once(srv.server, 'connection');
  const peer = gnutlsCli(t, srv.port, [...gnutlsRpkArgs(pki.rpkClient), '--insecure']);
  const [c] = (await conn) as [DtlsConnection];
  assert.deepEqual(c.identity.mode === 'rpk' && c.identity.fingerprint, pki.rpkClient.fingerprint);
  assert.ok(c.identity.mode === 'rpk' && c.identity.spki.equals(pki.rpkClient.spkiDer));
  await peer.waitFor('Handshake was completed');
  peer.write('rpk-ping\n');
  await peer.waitFor(/Simple Client Mode:[\s\S]*rpk-ping/);
  assert.deepEqual(srv.received.map(String), ['rpk-ping\n']);
});

test('our server refuses an unpinned raw public key with bad_certificate; gnutls-cli sees it', async (t) => {
  if (!requireBinary(t, 'gnutls-cli')) return;
  const pki = await makeTempPki(t, { intermediate: false });
  const srv = await rpkServer(pki);
  t.after(() => srv.server.close());
  const failed = once(srv.server, 'handshakeError');
  const peer = gnutlsCli(t, srv.port, [...gnutlsRpkArgs(pki.rpkStranger), '--insecure']);
  const [e] = (await failed) as [Error];
  assert.match(e.message, /bad_certificate/);
  await peer.waitFor(/Certificate is bad|bad certificate/i);
});

test('our client → gnutls-serv: raw public keys, the server key pinned, echo', async (t) => {
  if (!requireBinary(t, 'gnutls-serv')) return;
  const pki = await makeTempPki(t, { intermediate: false });
  const c = await connectRpkToGnutlsServ(t, pki);
  assert.equal(c.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');
  assert.equal(c.identity.mode === 'rpk' && c.identity.fingerprint, pki.rpkServer.fingerprint);
  const echo = nextData(c);
  c.send(Buffer.from('to-gnutls-rpk'));
  assert.equal((await echo).toString(), 'to-gnutls-rpk');
  await c.close();
});

test('our client refuses gnutls-serv with an unpinned raw public key (bad_certificate); gnutls-serv sees it', async (t) => {
  if (!requireBinary(t, 'gnutls-serv')) return;
  const pki = await makeTempPki(t, { intermediate: false });
  const { peer, port } = await startGnutlsServ(t, gnutlsRpkArgs(pki.rpkStranger));
  await assert.rejects(
    connect({
      host: '127.0.0.1',
      port,
      trust: { pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]) },
      retransmitInitialMs: 300,
    }),
    (e: unknown) => e instanceof DtlsAlertError && e.sent && /bad_certificate/.test(e.message),
  );
  // gnutls-serv reports only that a fatal alert arrived (it does not print which one).
  await peer.waitFor('A TLS fatal alert has been received');
});

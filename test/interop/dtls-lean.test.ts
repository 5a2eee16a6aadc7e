/**
 * The lean handshake profile on our side against OpenSSL 3 and GnuTLS 3.7 in the other role: the
 * 16-byte cookie, 8-byte session ID, packed records, the renegotiation SCSV and the missing
 * ec_point_formats are all accepted by the peers, in PSK and with raw public keys.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { createDemoServer } from '../../src/coap/demo.ts';
import { DtlsServerTransport } from '../../src/coap/transport-dtls.ts';
import { connect, type DtlsConnection, ownRawPublicKey, PinnedKeys } from '../../src/dtls/index.ts';
import { echoServer, IDENTITY, KEY, KEY_HEX, nextData } from '../dtls/helpers.ts';
import {
  connectRpkToGnutlsServ,
  GNUTLS_PRIORITY,
  gnutlsCli,
  gnutlsCliPskHandshake,
  gnutlsPskFile,
  gnutlsRpkArgs,
  opensslPskResumption,
  startGnutlsServ,
  startOpensslDtlsServer,
} from '../support/dtls-peers.ts';
import { launchFor, requireBinary } from '../support/peers.ts';
import { makeTempPki } from '../support/pki.ts';

const PSK = { identity: IDENTITY, keyHex: KEY_HEX };

test('lean client → openssl s_server: PSK handshake and data both ways', async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const { peer, port } = await startOpensslDtlsServer(t, { psk: PSK });
  const c = await connect({
    host: '127.0.0.1',
    port,
    psk: { identity: IDENTITY, key: KEY },
    profile: 'lean',
    retransmitInitialMs: 300,
  });
  assert.equal(c.cipherSuite, 'TLS_PSK_WITH_AES_128_CCM_8');
  await peer.waitFor('CIPHER is PSK-AES128-CCM8');
  c.send(Buffer.from('hello-from-lean\n'));
  await peer.waitFor('hello-from-lean');
  const reply = nextData(c);
  peer.write('reply-to-lean\n');
  assert.equal((await reply).toString(), 'reply-to-lean\n');
  await c.close();
});

test('lean server ← openssl s_client: PSK handshake, echo, and resumption of the 8-byte session ID', async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const srv = await echoServer({ profile: 'lean' });
  t.after(() => srv.server.close());
  await opensslPskResumption(t, srv.port, PSK, 'dtls-lean-');
  assert.deepEqual(
    srv.connections.map((c) => c.resumed),
    [false, true],
  );
});

test('lean client → gnutls-serv: PSK handshake and echo', async (t) => {
  if (!requireBinary(t, 'gnutls-serv')) return;
  const { port } = await startGnutlsServ(t, [
    '--pskpasswd',
    gnutlsPskFile(t, [PSK]),
    '--priority',
    GNUTLS_PRIORITY.psk,
  ]);
  const c = await connect({
    host: '127.0.0.1',
    port,
    psk: { identity: IDENTITY, key: KEY },
    profile: 'lean',
    retransmitInitialMs: 300,
  });
  const echo = nextData(c);
  c.send(Buffer.from('lean-to-gnutls'));
  assert.equal((await echo).toString(), 'lean-to-gnutls');
  await c.close();
});

test('lean server ← gnutls-cli: PSK with EMS and safe renegotiation, echo', async (t) => {
  if (!requireBinary(t, 'gnutls-cli')) return;
  const srv = await echoServer({ profile: 'lean' });
  t.after(() => srv.server.close());
  const { c, out } = await gnutlsCliPskHandshake(t, srv.server, srv.port, PSK);
  assert.deepEqual(c.identity, { mode: 'psk', identity: IDENTITY });
  assert.match(out, /extended master secret/);
  assert.match(out, /safe renegotiation/);
});

test('lean client → gnutls-serv: raw public keys, no ec_point_formats, the server key pinned, echo', async (t) => {
  if (!requireBinary(t, 'gnutls-serv')) return;
  const pki = await makeTempPki(t, { intermediate: false });
  const c = await connectRpkToGnutlsServ(t, pki, { profile: 'lean' });
  assert.equal(c.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');
  assert.equal(c.identity.mode === 'rpk' && c.identity.fingerprint, pki.rpkServer.fingerprint);
  const echo = nextData(c);
  c.send(Buffer.from('lean-rpk'));
  assert.equal((await echo).toString(), 'lean-rpk');
  await c.close();
});

test('lean server ← gnutls-cli: raw public keys both ways in one packed server flight, echo', async (t) => {
  if (!requireBinary(t, 'gnutls-cli')) return;
  const pki = await makeTempPki(t, { intermediate: false });
  const srv = await echoServer({
    psk: undefined,
    rpk: ownRawPublicKey(pki.rpkServer.keyPem),
    trust: { pinnedKeys: new PinnedKeys([pki.rpkClient.spkiPem]) },
    clientAuth: 'need',
    profile: 'lean',
  });
  t.after(() => srv.server.close());
  const conn = once(srv.server, 'connection');
  const peer = gnutlsCli(t, srv.port, [...gnutlsRpkArgs(pki.rpkClient), '--insecure']);
  const [c] = (await conn) as [DtlsConnection];
  assert.ok(c.identity.mode === 'rpk' && c.identity.spki.equals(pki.rpkClient.spkiDer));
  await peer.waitFor('Handshake was completed');
  peer.write('lean-rpk-ping\n');
  await peer.waitFor(/Simple Client Mode:[\s\S]*lean-rpk-ping/);
  assert.deepEqual(srv.received.map(String), ['lean-rpk-ping\n']);
});

for (const build of ['openssl', 'gnutls'] as const) {
  test(`coap-client-${build} (libcoap) → lean coaps server: PSK handshake and a GET`, async (t) => {
    const bin = `coap-client-${build}`;
    if (!requireBinary(t, bin)) return;
    const key = 'secretPSK-0123456789';
    const demo = createDemoServer({ tickMs: 300 });
    t.after(() => demo.close());
    const dtls = await DtlsServerTransport.listen({
      host: '127.0.0.1',
      port: 0,
      psk: (id) => (id === 'sensor-17' ? Buffer.from(key) : undefined),
      profile: 'lean',
    });
    demo.server.listen(dtls);
    const p = launchFor(
      t,
      bin,
      ['-B', '10', '-u', 'sensor-17', '-k', key, '-m', 'get', `coaps://127.0.0.1:${dtls.address().port}/time`],
      { timeoutMs: 20_000 },
    );
    assert.equal(await p.exited, 0, p.stderr());
    assert.match(p.stdout(), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z/);
  });
}

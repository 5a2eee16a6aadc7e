/** Interop with GnuTLS 3.7 (`gnutls-cli --udp` / `gnutls-serv --udp`), PSK with AES-128-CCM-8, both roles. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { connect } from '../../src/dtls/index.ts';
import { echoServer, IDENTITY, KEY, KEY_HEX, nextData } from '../dtls/helpers.ts';
import {
  GNUTLS_PRIORITY,
  gnutlsCli,
  gnutlsCliPskHandshake,
  gnutlsPskArgs,
  gnutlsPskFile,
  startGnutlsServ,
} from '../support/dtls-peers.ts';
import { requireBinary } from '../support/peers.ts';

const PSK = { identity: IDENTITY, keyHex: KEY_HEX };

test('our server ← gnutls-cli --udp: PSK handshake with EMS and safe renegotiation, echo', async (t) => {
  if (!requireBinary(t, 'gnutls-cli')) return;
  const srv = await echoServer({ pskIdentityHint: 'securesense' });
  t.after(() => srv.server.close());
  const { c, peer, out } = await gnutlsCliPskHandshake(t, srv.server, srv.port, PSK);
  assert.deepEqual(c.identity, { mode: 'psk', identity: IDENTITY });
  assert.match(out, /extended master secret/);
  assert.match(out, /safe renegotiation/);
  peer.write('ping-from-gnutls\n');
  await peer.waitFor(/ping-from-gnutls[\s\S]*ping-from-gnutls|- Simple Client Mode:[\s\S]*ping-from-gnutls/);
  assert.equal(Buffer.concat(srv.received).toString(), 'ping-from-gnutls\n');
});

test('our server ← gnutls-cli: a wrong key ends the handshake with an alert on both sides', async (t) => {
  if (!requireBinary(t, 'gnutls-cli')) return;
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const err = once(srv.server, 'handshakeError');
  const peer = gnutlsCli(
    t,
    srv.port,
    gnutlsPskArgs({ identity: IDENTITY, keyHex: 'ffeeddccbbaa99887766554433221100' }),
  );
  const [e] = (await err) as [Error];
  assert.match(e.message, /bad_record_mac|decrypt_error/);
  await peer.waitFor(/Handshake has failed|alert/i);
});

test('our client → gnutls-serv --udp --echo: PSK handshake and echo', async (t) => {
  if (!requireBinary(t, 'gnutls-serv')) return;
  const { port } = await startGnutlsServ(t, [
    '--pskpasswd',
    gnutlsPskFile(t, [PSK]),
    '--priority',
    GNUTLS_PRIORITY.psk,
  ]);
  const c = await connect({ host: '127.0.0.1', port, psk: { identity: IDENTITY, key: KEY }, retransmitInitialMs: 300 });
  assert.equal(c.cipherSuite, 'TLS_PSK_WITH_AES_128_CCM_8');
  const echo = nextData(c);
  c.send(Buffer.from('hello-gnutls-serv'));
  assert.equal((await echo).toString(), 'hello-gnutls-serv');
  await c.close();
});

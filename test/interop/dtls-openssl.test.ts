/** Interop with OpenSSL 3 (`openssl s_client` / `s_server -dtls1_2`), PSK with AES-128-CCM-8, both roles. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, type DtlsConnection } from '../../src/dtls/index.ts';
import { echoServer, IDENTITY, KEY, KEY_HEX, nextData, startPskServerCli } from '../dtls/helpers.ts';
import { opensslDtlsClient, opensslPskResumption, startOpensslDtlsServer } from '../support/dtls-peers.ts';
import { requireBinary } from '../support/peers.ts';

const PSK = { identity: IDENTITY, keyHex: KEY_HEX };

test('our server ← openssl s_client: PSK handshake and echo', async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const conn = once(srv.server, 'connection');
  const peer = opensslDtlsClient(t, srv.port, { psk: PSK, args: ['-quiet'] });
  const [c] = (await conn) as [DtlsConnection];
  assert.deepEqual(c.identity, { mode: 'psk', identity: IDENTITY });
  assert.equal(c.cipherSuite, 'TLS_PSK_WITH_AES_128_CCM_8');
  peer.write('ping-from-openssl\n');
  await peer.waitFor('ping-from-openssl');
  assert.equal(Buffer.concat(srv.received).toString(), 'ping-from-openssl\n');
});

test('our server ← openssl s_client: session resumption with -sess_out/-sess_in', async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const srv = await echoServer();
  t.after(() => srv.server.close());
  await opensslPskResumption(t, srv.port, PSK, 'dtls-');
  assert.equal(srv.connections.length, 2);
  assert.equal(srv.connections[0].resumed, false);
  assert.equal(srv.connections[1].resumed, true);
  assert.deepEqual(srv.connections[1].identity, { mode: 'psk', identity: IDENTITY });
});

test("securesense dtls server --session-cache 1 ← openssl s_client: resumed until another client's session takes the place", async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const { port } = await startPskServerCli(t, ['--session-cache', '1']);
  const dir = mkdtempSync(join(tmpdir(), 'dtls-cache-'));
  /** One s_client session: its handshake line (New or Reused), an echo, close_notify. */
  const session = async (args: string[], handshake: RegExp) => {
    const peer = opensslDtlsClient(t, port, { psk: PSK, args });
    await peer.waitFor(handshake);
    peer.write('x\n');
    await peer.waitFor(/\nx\n/);
    peer.proc.stdin?.end();
    await peer.exited;
  };
  const a = join(dir, 'a.pem');
  await session(['-sess_out', a], /New, TLSv1.2/);
  await session(['-sess_in', a], /Reused, TLSv1.2/);
  await session(['-sess_out', join(dir, 'b.pem')], /New, TLSv1.2/); // the cache's one place goes to B
  await session(['-sess_in', a], /New, TLSv1.2/); // A's session was dropped: a full handshake
});

test('our server ignores a server_name that is an IP literal (as some CoAP clients send)', async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const conn = once(srv.server, 'connection');
  const peer = opensslDtlsClient(t, srv.port, { psk: PSK, args: ['-servername', '192.0.2.1', '-quiet'] });
  await conn;
  peer.write('sni-ip\n');
  await peer.waitFor('sni-ip');
  assert.equal(Buffer.concat(srv.received).toString(), 'sni-ip\n');
});

test('our server refuses an unknown identity with unknown_psk_identity (openssl sees the alert)', async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const err = once(srv.server, 'handshakeError');
  const peer = opensslDtlsClient(t, srv.port, { psk: { identity: 'stranger', keyHex: KEY_HEX } });
  const [e] = (await err) as [Error];
  assert.match(e.message, /unknown_psk_identity/);
  await peer.waitFor(/unknown psk identity/i);
});

test('our client → openssl s_server: PSK handshake and data both ways', async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const { peer, port } = await startOpensslDtlsServer(t, { psk: PSK });
  const c = await connect({ host: '127.0.0.1', port, psk: { identity: IDENTITY, key: KEY }, retransmitInitialMs: 300 });
  assert.equal(c.cipherSuite, 'TLS_PSK_WITH_AES_128_CCM_8');
  await peer.waitFor('CIPHER is PSK-AES128-CCM8');
  c.send(Buffer.from('hello-openssl-server\n'));
  await peer.waitFor('hello-openssl-server');
  const reply = nextData(c);
  peer.write('reply-from-s_server\n');
  assert.equal((await reply).toString(), 'reply-from-s_server\n');
  await c.close();
});

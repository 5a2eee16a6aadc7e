/** Interop with GnuTLS 3.7 (`gnutls-cli --udp` / `gnutls-serv --udp`), PSK with AES-128-CCM-8, both roles. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, type DtlsConnection } from '../../src/dtls/index.ts';
import { echoServer, IDENTITY, KEY, KEY_HEX, nextData } from '../dtls/helpers.ts';
import { launchFor, requireBinary } from '../support/peers.ts';
import { freeUdpPort } from '../support/ports.ts';

const PRIORITY = 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK:-CIPHER-ALL:+AES-128-CCM-8';

test('our server ← gnutls-cli --udp: PSK handshake with EMS and safe renegotiation, echo', async (t) => {
  if (!requireBinary(t, 'gnutls-cli')) return;
  const srv = await echoServer({ pskIdentityHint: 'securesense' });
  t.after(() => srv.server.close());
  const conn = once(srv.server, 'connection');
  const peer = launchFor(t, 'gnutls-cli', [
    '--udp',
    '--port',
    String(srv.port),
    '--pskusername',
    IDENTITY,
    '--pskkey',
    KEY_HEX,
    '--priority',
    PRIORITY,
    '127.0.0.1',
  ]);
  const [c] = (await conn) as [DtlsConnection];
  assert.deepEqual(c.identity, { mode: 'psk', identity: IDENTITY });
  await peer.waitFor('Handshake was completed');
  const out = peer.stdout() + peer.stderr();
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
  const peer = launchFor(t, 'gnutls-cli', [
    '--udp',
    '--port',
    String(srv.port),
    '--pskusername',
    IDENTITY,
    '--pskkey',
    'ffeeddccbbaa99887766554433221100',
    '--priority',
    PRIORITY,
    '127.0.0.1',
  ]);
  const [e] = (await err) as [Error];
  assert.match(e.message, /bad_record_mac|decrypt_error/);
  await peer.waitFor(/Handshake has failed|alert/i);
});

test('our client → gnutls-serv --udp --echo: PSK handshake and echo', async (t) => {
  if (!requireBinary(t, 'gnutls-serv')) return;
  const dir = mkdtempSync(join(tmpdir(), 'dtls-'));
  const pskFile = join(dir, 'psk.txt');
  writeFileSync(pskFile, `${IDENTITY}:${KEY_HEX}\n`);
  const port = await freeUdpPort();
  const peer = launchFor(t, 'gnutls-serv', [
    '--udp',
    '--echo',
    '-p',
    String(port),
    '--pskpasswd',
    pskFile,
    '--priority',
    PRIORITY,
  ]);
  await peer.waitFor(/listening on IPv4/);
  const c = await connect({ host: '127.0.0.1', port, psk: { identity: IDENTITY, key: KEY }, retransmitInitialMs: 300 });
  assert.equal(c.cipherSuite, 'TLS_PSK_WITH_AES_128_CCM_8');
  const echo = nextData(c);
  c.send(Buffer.from('hello-gnutls-serv'));
  assert.equal((await echo).toString(), 'hello-gnutls-serv');
  await c.close();
});

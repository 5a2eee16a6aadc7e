/**
 * The lean handshake profile: fewer bytes on the air than the default in every mode, within the
 * leanest third-party peer's (tinydtls) byte counts, and still a handshake any default peer accepts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, type DtlsConnection, type HandshakeProfile } from '../../src/dtls/index.ts';
import { recordTranscript, type Transcript } from '../../src/sim/transcript.ts';
import { echoServer, IDENTITY, KEY, nextData } from './helpers.ts';

const bytes = (t: Transcript) => t.flights.flatMap((f) => f.records).reduce((s, r) => s + r.bytes, 0);

test('lean PSK: at most 485 B per full handshake, cookie 16 B, ServerHello and ServerHelloDone in one record', async () => {
  const lean = await recordTranscript('psk', { profile: 'lean' });
  const full = await recordTranscript('psk');
  assert.ok(bytes(lean) <= 485, `lean PSK handshake ${bytes(lean)} B`);
  assert.ok(bytes(lean) < bytes(full), `lean ${bytes(lean)} B, default ${bytes(full)} B`);
  // HelloVerifyRequest body: server_version (2) + cookie length (1) + 16-byte cookie.
  assert.deepEqual(lean.flights[1].messages, [{ type: 'hello_verify_request', bodyBytes: 19 }]);
  assert.equal(lean.flights[3].records.length, 1);
  assert.deepEqual(
    lean.flights[3].messages.map((m) => m.type),
    ['server_hello', 'server_hello_done'],
  );
  // ServerHello: 2 + 32 + (1 + 8 session ID) + 2 + 1 + renegotiation_info, EMS (2 + 5 + 4).
  assert.equal(lean.flights[3].messages[0].bodyBytes, 57);
});

test('lean RPK with client authentication: at most 1158 B, each handshake flight in one record', async () => {
  const lean = await recordTranscript('rpk', { profile: 'lean' });
  assert.equal(lean.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');
  assert.ok(bytes(lean) <= 1158, `lean RPK handshake ${bytes(lean)} B`);
  // Server flight: SH, Certificate, SKE, CertificateRequest, SHD in one record; client: Certificate,
  // CKE, CertificateVerify in one, then CCS and the encrypted Finished.
  assert.equal(lean.flights[3].messages.length, 5);
  assert.equal(lean.flights[3].records.length, 1);
  assert.deepEqual(
    lean.flights[4].records.map((r) => r.contentType),
    ['handshake', 'change_cipher_spec', 'handshake'],
  );
});

async function exchange(server: HandshakeProfile, client: HandshakeProfile) {
  const srv = await echoServer({ profile: server });
  let c: DtlsConnection | undefined;
  try {
    c = await connect({ host: '127.0.0.1', port: srv.port, psk: { identity: IDENTITY, key: KEY }, profile: client });
    const got = nextData(c);
    c.send(Buffer.from(`${client} to ${server}`));
    assert.equal((await got).toString(), `${client} to ${server}`);
    const session = c.session;
    await c.close();
    // Resumption with the session ID the server chose (8 bytes from a lean server).
    c = await connect({
      host: '127.0.0.1',
      port: srv.port,
      psk: { identity: IDENTITY, key: KEY },
      profile: client,
      session,
    });
    assert.equal(c.resumed, true);
    const again = nextData(c);
    c.send(Buffer.from('resumed'));
    assert.equal((await again).toString(), 'resumed');
    assert.deepEqual(srv.errors, []);
  } finally {
    await c?.close().catch(() => {});
    await srv.server.close();
  }
}

test('a lean client and a default server, and the other way round, handshake, exchange data and resume', async () => {
  await exchange('default', 'lean');
  await exchange('lean', 'default');
  await exchange('lean', 'lean');
});

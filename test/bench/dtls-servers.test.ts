/**
 * Smoke test of the DTLS bench's server comparison (src/bench/dtls-servers.ts): every server it
 * measures starts as the bench starts it and completes a handshake with our client in each mode the
 * bench runs it in — and the servers the bench resumes against really resume. No speed asserted.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import {
  type Launched,
  type Material,
  type Mode,
  makeMaterial,
  oneHandshake,
  removeMaterial,
  type ServerName,
  startTarget,
} from '../../src/bench/dtls-servers.ts';
import { requireBinary } from '../support/peers.ts';

const SUITE: Record<Mode, string> = {
  psk: 'TLS_PSK_WITH_AES_128_CCM_8',
  x509: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8',
  'x509-mutual': 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8',
  'rpk-mutual': 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8',
};

const CASES: Array<{ server: ServerName; bin?: string; modes: Mode[]; resume: Mode[] }> = [
  // Our server runs in a child process: one start (~1 s under tsx) per mode is the cost, so two modes.
  { server: 'ours', modes: ['psk', 'rpk-mutual'], resume: ['psk'] },
  { server: 'openssl s_server', bin: 'openssl', modes: ['psk', 'x509', 'x509-mutual'], resume: ['x509-mutual'] },
  { server: 'gnutls-serv', bin: 'gnutls-serv', modes: ['psk', 'x509-mutual', 'rpk-mutual'], resume: ['psk'] },
];

let material: Material | undefined;
const pki = async () => {
  material ??= await makeMaterial();
  return material;
};
test.after(() => {
  if (material) removeMaterial(material);
});

for (const c of CASES) {
  test(`dtls bench target ${c.server}: starts and completes a handshake in ${c.modes.join(', ')}`, async (t) => {
    if (c.bin && !requireBinary(t, c.bin)) return;
    const m = await pki();
    for (const mode of c.modes) {
      const srv: Launched = await startTarget(c.server, mode, m, 20_000);
      t.after(() => srv.stop());
      const full = await oneHandshake(srv.port, m.client[mode]);
      assert.equal(full.resumed, false, `${mode}: a full handshake`);
      assert.equal(full.cipherSuite, SUITE[mode], mode);
      if (c.resume.includes(mode)) {
        // A second client (a fresh socket) resumes the first client's session: the server's cache
        // outlives the connection, which the bench's resumed rows depend on.
        const again = await oneHandshake(srv.port, { ...m.client[mode], session: full.session });
        assert.equal(again.resumed, true, `${mode}: ${c.server} resumed the session`);
      }
      await srv.stop();
    }
  });
}

test('a server that never answers cannot hang the bench: the handshake gives up at its deadline', async (t) => {
  const m = await pki();
  // A UDP socket that reads and drops every datagram: a peer that stalls.
  const sink = createSocket('udp4');
  sink.on('message', () => {});
  await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
  t.after(() => sink.close());
  const started = Date.now();
  await assert.rejects(oneHandshake(sink.address().port, m.client.psk), /handshake stalled/);
  assert.ok(Date.now() - started < 10_000);
});

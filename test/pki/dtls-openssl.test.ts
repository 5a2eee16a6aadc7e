/**
 * Proves the FILES, not our engine: `openssl s_server -dtls1_2` and `openssl s_client -dtls1_2`
 * complete an ECDHE-ECDSA-AES128-CCM8 handshake with mutual authentication using only what
 * `securesense pki` wrote (certificate chains through an intermediate, PKCS#8 keys, the root as
 * the anchor on both sides), and application data crosses.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCliSync } from '../support/cli.ts';
import { opensslDtlsClient, startOpensslDtlsServer } from '../support/dtls-peers.ts';
import { requireBinary } from '../support/peers.ts';
import { sleep } from '../support/ports.ts';

function pki(...args: string[]): void {
  const r = runCliSync(['pki', ...args]);
  assert.equal(r.code, 0, `pki ${args.join(' ')}: ${r.stderr}`);
}

test('openssl s_server ↔ s_client, DTLS 1.2, ECDHE-ECDSA-AES128-CCM8, mutual auth, with our files', async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const dir = mkdtempSync(join(tmpdir(), 'pki-dtls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = (n: string) => join(dir, n);
  pki('ca', '--out', p('root'));
  pki('ca', '--parent', p('root'), '--out', p('inter'));
  pki(
    'issue',
    '--ca',
    p('inter'),
    '--cn',
    'localhost',
    '--dns',
    'localhost',
    '--ip',
    '127.0.0.1',
    '--server',
    '--out',
    p('server'),
  );
  pki('issue', '--ca', p('inter'), '--cn', 'device-1', '--client', '--out', p('device'));

  const { peer: server, port } = await startOpensslDtlsServer(t, {
    cert: { cert: p('server.pem'), key: p('server.key'), chain: p('inter/chain.pem') },
    caFile: p('root/ca.pem'),
    requireClientCert: true, // -Verify 3 -verify_return_error
  });
  await sleep(100);
  const client = opensslDtlsClient(t, port, {
    cert: { cert: p('device.pem'), key: p('device.key'), chain: p('inter/chain.pem') },
    caFile: p('root/ca.pem'),
    verifyReturnError: true,
    args: ['-verify_hostname', 'localhost'],
  });
  await client.waitFor(/Verify return code: 0 \(ok\)/, 15_000);
  assert.match(client.stdout(), /Cipher is ECDHE-ECDSA-AES128-CCM8/);
  assert.match(client.stdout(), /subject=CN = localhost/);
  client.write('hello from the device\n');
  await server.waitFor('hello from the device', 10_000);
  server.write('hello from the server\n');
  await client.waitFor('hello from the server', 10_000);
  // The server saw the client's certificate chain verified up to our root.
  assert.match(server.stdout() + server.stderr(), /subject=CN = device-1/);
  assert.match(server.stdout() + server.stderr(), /depth=2 CN = SecureSense CA/);
});

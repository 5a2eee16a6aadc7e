/**
 * The raw-public-key and certificate files of `securesense pki` in the hands of GnuTLS and
 * libcoap, the way docs/pki.md tells users to feed them (proves the files, not our engine):
 * - gnutls-serv ↔ gnutls-cli over DTLS 1.2 with raw public keys (RFC 7250) from `pki keygen` /
 *   `pki rpk`, ECDHE-ECDSA with AES-128-CCM-8; and gnutls-cli's bad_certificate when it cannot
 *   trust the server's raw key;
 * - libcoap coap-server-openssl ↔ coap-client-gnutls with certificates from `pki issue`, and
 *   coap-server-gnutls ↔ coap-client-gnutls with raw public keys (`-M`, key and SPKI in one PEM).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCliSync } from '../support/cli.ts';
import { gnutlsCli, gnutlsRpkArgs, startGnutlsServ } from '../support/dtls-peers.ts';
import { launchFor, requireBinary } from '../support/peers.ts';
import { freeUdpPort, sleep } from '../support/ports.ts';

const dir = mkdtempSync(join(tmpdir(), 'pki-gnutls-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const p = (n: string) => join(dir, n);

function pki(...args: string[]): string {
  const r = runCliSync(['pki', ...args]);
  assert.equal(r.code, 0, `pki ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A UDP port P with P+1 free too (libcoap serves coap on P and coaps on P+1). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await freeUdpPort();
    const s = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.bind(port + 1, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((r) => s.close(() => r()));
    if (ok) return port;
  }
  throw new Error('no free UDP port pair');
}

test('gnutls-serv ↔ gnutls-cli: DTLS 1.2 with our raw public keys; an untrusted raw key gets bad_certificate', async (t) => {
  if (!requireBinary(t, 'gnutls-serv') || !requireBinary(t, 'gnutls-cli')) return;
  for (const n of ['srv', 'cli']) {
    pki('keygen', '--out', p(`${n}.key`));
    pki('rpk', '--key', p(`${n}.key`), '--out', p(`${n}.pub`));
  }
  // gnutls-serv --udp serves one client at a time and keeps a killed client's session: one server per client.
  const serve = async () => {
    const { peer: server, port } = await startGnutlsServ(t, gnutlsRpkArgs({ key: p('srv.key'), spki: p('srv.pub') }));
    return { server, port, rpkArgs: gnutlsRpkArgs({ key: p('cli.key'), spki: p('cli.pub') }) };
  };
  const { server, port, rpkArgs } = await serve();
  // --insecure: gnutls-cli has no way to pin a raw key, so it cannot verify one; that is the next case.
  const client = gnutlsCli(t, port, [...rpkArgs, '--insecure']);
  await client.waitFor('Handshake was completed', 15_000);
  assert.match(client.stdout(), /Certificate type: Raw Public Key/);
  assert.match(client.stdout(), /\(DTLS1\.2-Raw Public Key\)-\(ECDHE-SECP256R1\)-\(ECDSA-SHA256\)-\(AES-128-CCM-8\)/);
  assert.match(client.stdout(), /Successfully sent 1 certificate\(s\) to server/);
  client.write('raw public keys work\n');
  await client.waitFor('raw public keys work', 10_000); // the echo (stdin is a pipe: nothing typed is shown)
  await server.waitFor(/Processing \d+ bytes command: raw public keys work/);

  const second = await serve();
  const refusing = gnutlsCli(t, second.port, ['-d', '6', ...second.rpkArgs], { timeoutMs: 15_000 });
  await refusing.exited;
  assert.match(refusing.stderr() + refusing.stdout(), /Sending Alert\[2\|42\]/);
});

test('libcoap: coap-client-gnutls ↔ coap-server-openssl with our certificates, and RPK with -M', async (t) => {
  for (const b of ['coap-server-openssl', 'coap-server-gnutls', 'coap-client-gnutls']) if (!requireBinary(t, b)) return;
  pki('ca', '--out', p('ca'));
  // libcoap sends only the first certificate of its -c file, so these are issued straight from the root.
  pki(
    'issue',
    '--ca',
    p('ca'),
    '--cn',
    'localhost',
    '--dns',
    'localhost',
    '--ip',
    '127.0.0.1',
    '--server',
    '--out',
    p('coap-server'),
  );
  pki('issue', '--ca', p('ca'), '--cn', 'coap-device', '--client', '--out', p('coap-device'));

  const port = await freePortPair();
  const server = launchFor(t, 'coap-server-openssl', [
    '-A',
    '127.0.0.1',
    '-p',
    String(port),
    '-c',
    p('coap-server.pem'),
    '-j',
    p('coap-server.key'),
    '-C',
    p('ca/ca.pem'),
  ]);
  await sleep(500);
  const get = (args: string[]) =>
    spawnSync('coap-client-gnutls', [...args, `coaps://127.0.0.1:${port + 1}/`], { encoding: 'utf8', timeout: 15_000 });
  const ok = get(['-c', p('coap-device.pem'), '-j', p('coap-device.key'), '-C', p('ca/ca.pem')]);
  assert.match(ok.stdout, /This is a test server made with libcoap/, ok.stderr);
  // A client whose CA the server does not know is refused (the client logs the server's alert).
  pki('ca', '--out', p('other-ca'));
  pki('issue', '--ca', p('other-ca'), '--cn', 'stranger', '--client', '--out', p('stranger'));
  const refused = get(['-c', p('stranger.pem'), '-j', p('stranger.key'), '-C', p('ca/ca.pem')]);
  assert.doesNotMatch(refused.stdout, /test server/);
  await server.kill();

  // Raw public keys: libcoap's -M wants the private key and the SPKI in one PEM file.
  for (const n of ['rpk-srv', 'rpk-cli']) {
    pki('keygen', '--out', p(`${n}.key`));
    pki('rpk', '--key', p(`${n}.key`), '--out', p(`${n}.pub`));
    writeFileSync(p(`${n}.pem`), readFileSync(p(`${n}.key`), 'utf8') + readFileSync(p(`${n}.pub`), 'utf8'));
  }
  const port2 = await freePortPair();
  launchFor(t, 'coap-server-gnutls', ['-A', '127.0.0.1', '-p', String(port2), '-M', p('rpk-srv.pem')]);
  await sleep(500);
  const rpk = spawnSync('coap-client-gnutls', ['-M', p('rpk-cli.pem'), `coaps://127.0.0.1:${port2 + 1}/`], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  assert.match(rpk.stdout, /This is a test server made with libcoap/, rpk.stderr);
});

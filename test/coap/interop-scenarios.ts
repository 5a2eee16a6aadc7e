/**
 * The libcoap interop scenarios, shared by the NoSec and PSK interop tests: a GET, a POST,
 * a Block2 download over 1 KiB, a Block1 upload and an observation with at least three
 * notifications, in both roles, each checking the payloads that crossed.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { CoapClient, type CoapResponse } from '../../src/coap/client.ts';
import { createDemoServer, largeBody } from '../../src/coap/demo.ts';
import { type CoapsSecurity, DtlsServerTransport } from '../../src/coap/transport-dtls.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import {
  type DtlsServerOptions,
  loadTrustAnchors,
  ownCertificate,
  ownRawPublicKey,
  type PeerIdentity,
  PinnedKeys,
} from '../../src/dtls/index.ts';
import { launchFor, requireBinary } from '../support/peers.ts';
import type { TempPki } from '../support/pki.ts';
import { freeUdpPort, sleep } from '../support/ports.ts';

export type Build = 'notls' | 'gnutls' | 'openssl';
export interface Psk {
  identity: string;
  /** libcoap takes the key as a string on its command line. */
  key: string;
}

/**
 * How a scenario secures coaps://. For x509 the temp PKI must issue straight from the root
 * (`makeTempPki(t, { intermediate: false })`): libcoap sends only the first certificate of `-c`.
 */
export type Security = { mode: 'psk'; psk: Psk } | { mode: 'x509'; pki: TempPki } | { mode: 'rpk'; pki: TempPki };

/** libcoap's -M wants the private key and the public key in one PEM file. */
function rpkFile(dir: string, name: string, keyPem: string, spkiPem: string): string {
  const f = join(dir, `${name}-rpk-both.pem`);
  writeFileSync(f, `${keyPem}${spkiPem}`, { mode: 0o600 });
  return f;
}

/** Arguments for libcoap's server or client in a mode. */
function libcoapArgs(sec: Security, role: 'server' | 'client'): string[] {
  if (sec.mode === 'psk') return role === 'server' ? ['-k', sec.psk.key] : ['-u', sec.psk.identity, '-k', sec.psk.key];
  const pki = sec.pki;
  if (sec.mode === 'x509') {
    const own = role === 'server' ? pki.server : pki.device;
    return ['-c', own.cert, '-j', own.key, '-C', pki.root.cert];
  }
  const own = role === 'server' ? pki.rpkServer : pki.rpkClient;
  return ['-M', rpkFile(pki.dir, role, own.keyPem, own.spkiPem)];
}

/** Our client's credentials in a mode. */
function clientSecurity(sec: Security): CoapsSecurity {
  if (sec.mode === 'psk') return { psk: { identity: sec.psk.identity, key: Buffer.from(sec.psk.key) } };
  const pki = sec.pki;
  if (sec.mode === 'x509') {
    return {
      certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
      trust: { anchors: loadTrustAnchors(pki.root.certPem) },
    };
  }
  return { rpk: ownRawPublicKey(pki.rpkClient.keyPem), trust: { pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]) } };
}

/** Our server's credentials in a mode; public-key modes require the client to authenticate. */
function serverSecurity(sec: Security): Partial<DtlsServerOptions> {
  if (sec.mode === 'psk') {
    return { psk: (id) => (id === sec.psk.identity ? Buffer.from(sec.psk.key) : undefined) };
  }
  const pki = sec.pki;
  if (sec.mode === 'x509') {
    return {
      certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
      trust: { anchors: loadTrustAnchors(pki.root.certPem) },
      clientAuth: 'need',
    };
  }
  return {
    rpk: ownRawPublicKey(pki.rpkServer.keyPem),
    trust: { pinnedKeys: new PinnedKeys([pki.rpkClient.spkiPem]) },
    clientAuth: 'need',
  };
}

/** Checks that a request carried the identity the libcoap client proved. */
function assertClientIdentity(sec: Security, id: PeerIdentity | undefined): void {
  assert.equal(id?.mode, sec.mode);
  if (sec.mode === 'psk' && id?.mode === 'psk') assert.equal(id.identity, sec.psk.identity);
  if (sec.mode === 'x509' && id?.mode === 'x509') assert.equal(id.subject, 'CN=device-1');
  if (sec.mode === 'rpk' && id?.mode === 'rpk') assert.equal(id.fingerprint, sec.pki.rpkClient.fingerprint);
}

/** Checks the identity our client saw of libcoap's server. */
function assertServerIdentity(sec: Security, id: PeerIdentity | undefined): void {
  if (sec.mode === 'psk') return; // A PSK client knows the identity it sent; nothing new to check.
  assert.equal(id?.mode, sec.mode);
  if (sec.mode === 'x509' && id?.mode === 'x509') assert.equal(id.subject, 'CN=localhost');
  if (sec.mode === 'rpk' && id?.mode === 'rpk') assert.equal(id.fingerprint, sec.pki.rpkServer.fingerprint);
}

const uploadBody = () => Buffer.from(Array.from({ length: 3000 }, (_, i) => 65 + (i % 26)));
const LIBCOAP_TIME = /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d$/;

/** True when `port` can be bound on 127.0.0.1 for UDP and TCP right now. */
async function bindable(port: number): Promise<boolean> {
  const udp = createSocket('udp4');
  const tcp = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, '127.0.0.1', () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    await new Promise<void>((r) => udp.close(() => r())).catch(() => {});
    await new Promise<void>((r) => tcp.close(() => r()));
  }
}

/** A port P with P and P+1 free for UDP and TCP: libcoap's server takes both (coap, coaps, +tcp). */
export async function freePortPair(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freeUdpPort();
    if (p < 65535 && (await bindable(p)) && (await bindable(p + 1))) return p;
  }
  throw new Error('no free port pair');
}

/** Waits until a CoAP server answers a ping on plain UDP. */
export async function waitForServer(uri: string): Promise<void> {
  const deadline = Date.now() + 8000;
  while (Date.now() < deadline) {
    const c = new CoapClient({ params: { ackTimeout: 100, maxRetransmit: 1 } });
    try {
      if (await c.ping(uri)) return;
    } catch {
      await sleep(100);
    } finally {
      await c.close();
    }
  }
  throw new Error(`no CoAP server at ${uri}`);
}

/** Our client against libcoap's coap-server-BUILD (over coaps:// when psk is given). */
export async function ourClientAgainstLibcoap(t: TestContext, build: Build, sec?: Security): Promise<void> {
  const bin = `coap-server-${build}`;
  if (!requireBinary(t, bin)) return;
  const port = await freePortPair();
  // libcoap listens for DTLS on port+1.
  const args = ['-A', '127.0.0.1', '-p', String(port), '-d', '10'];
  if (sec) args.push(...libcoapArgs(sec, 'server'));
  launchFor(t, bin, args, { timeoutMs: 40_000 });
  await waitForServer(`coap://127.0.0.1:${port}`);
  const base = sec ? `coaps://127.0.0.1:${port + 1}` : `coap://127.0.0.1:${port}`;
  const c = new CoapClient({ blockSize: 256, security: sec ? clientSecurity(sec) : undefined });
  t.after(() => c.close());
  // GET: libcoap's /time is "Mon DD HH:MM:SS".
  const time = await c.get(`${base}/time`);
  assert.equal(time.status, '2.05');
  if (sec) assertServerIdentity(sec, time.peer.identity);
  assert.match(time.payload.toString(), LIBCOAP_TIME);
  // POST creates a resource (-d); a GET reads back what crossed.
  const post = await c.post(`${base}/posted`, 'hello from securesense', { contentFormat: 0 });
  assert.equal(post.status, '2.01');
  assert.deepEqual(post.locationPath, ['posted']);
  assert.equal((await c.get(`${base}/posted`)).payload.toString(), 'hello from securesense');
  // Block1 upload of 3000 bytes in 256-byte blocks, then a Block2 download of it.
  const body = uploadBody();
  const put = await c.put(`${base}/example_data`, body);
  assert.ok(['2.01', '2.04'].includes(put.status), put.status);
  const back = await c.get(`${base}/example_data`, { blockSize: 256 });
  assert.equal(back.payload.length, 3000);
  assert.ok(back.payload.equals(body), 'Block2 download equals the Block1 upload');
  // Observe /time: at least three notifications, each a time of day.
  const o = await c.observe(`${base}/time`);
  const notes: CoapResponse[] = [];
  o.on('notification', (r: CoapResponse) => notes.push(r));
  const until = Date.now() + 8000;
  while (notes.length < 3 && Date.now() < until) await sleep(100);
  await o.cancel();
  assert.ok(notes.length >= 3, `got ${notes.length} notifications`);
  for (const n of notes) assert.match(n.payload.toString(), LIBCOAP_TIME);
  assert.notEqual(notes[0].payload.toString(), notes[2].payload.toString());
}

/** libcoap's coap-client-BUILD against our demo server (over coaps:// when psk is given). */
export async function libcoapClientAgainstUs(t: TestContext, build: Build, sec?: Security): Promise<void> {
  const bin = `coap-client-${build}`;
  if (!requireBinary(t, bin)) return;
  const identities: Array<PeerIdentity | undefined> = [];
  const demo = createDemoServer({ tickMs: 300, onRequest: (req) => identities.push(req.peer.identity) });
  t.after(() => demo.close());
  let base: string;
  if (sec) {
    const dtls = await DtlsServerTransport.listen({ host: '127.0.0.1', port: 0, ...serverSecurity(sec) });
    demo.server.listen(dtls);
    base = `coaps://127.0.0.1:${dtls.address().port}`;
  } else {
    const tr = await UdpTransport.bind({ host: '127.0.0.1' });
    demo.server.listen(tr);
    base = `coap://127.0.0.1:${tr.address().port}`;
  }
  const dir = join(tmpdir(), `coap-interop-${process.pid}-${build}-${sec?.mode ?? 'nosec'}`);
  const secArgs = sec ? libcoapArgs(sec, 'client') : [];
  const run = async (args: string[]) => {
    const p = launchFor(t, bin, ['-B', '10', ...secArgs, ...args], { timeoutMs: 20_000 });
    const code = await p.exited;
    assert.equal(code, 0, `${bin} ${args.join(' ')} failed: ${p.stderr()}`);
    return p.stdout();
  };
  // GET
  assert.match(await run(['-m', 'get', `${base}/time`]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z/);
  // POST, echoed
  assert.equal((await run(['-m', 'post', '-e', 'ping from libcoap', `${base}/echo`])).trim(), 'ping from libcoap');
  assert.equal(demo.hits.get('POST /echo'), 1);
  // Block2 download of 4 KiB
  const largeOut = `${dir}-large`;
  await run(['-m', 'get', '-o', largeOut, `${base}/large`]);
  assert.ok(readFileSync(largeOut).equals(largeBody()), 'libcoap received /large intact');
  // Block1 upload (256-byte blocks), the echo coming back in Block2
  const upIn = `${dir}-up`;
  const upOut = `${dir}-up-back`;
  writeFileSync(upIn, uploadBody());
  await run(['-m', 'put', '-b', '256', '-f', upIn, '-o', upOut, `${base}/echo`]);
  assert.ok(readFileSync(upOut).equals(uploadBody()), 'the upload came back intact');
  // Observe /counter for 2 s at 300 ms ticks: the first response plus ≥ 3 notifications, increasing.
  const out = await run(['-m', 'get', '-s', '2', '-w', `${base}/counter`]);
  const values = out.split('\n').filter(Boolean).map(Number);
  assert.ok(values.length >= 4, `libcoap printed ${JSON.stringify(out)}`);
  for (let i = 1; i < values.length; i++) assert.ok(values[i] > values[i - 1], `increasing: ${values}`);
  // Over DTLS every request carried the identity the handshake proved; over UDP none.
  assert.ok(identities.length >= 5);
  for (const id of identities) {
    if (sec) assertClientIdentity(sec, id);
    else assert.equal(id, undefined);
  }
}

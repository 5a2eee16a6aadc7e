/**
 * A third-party device polled by the platform over coaps://: libcoap's `coap-server-gnutls`
 * (4.3.1) in PKI mode (`-c/-j/-C`, which makes it verify the client certificate against the CA) and
 * in RPK mode (`-M`). A JSON reading is first POSTed into one of its dynamic resources (`-d`) over
 * plain coap://, so that its DTLS log (`-v 7`: one "DTLS: session connected" per handshake) counts
 * only the poller's sessions. Polled N times → N points stored and one DTLS session; a libcoap
 * device with a certificate from another CA or another raw public key fails the poll.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { type TestContext, test } from 'node:test';
import { CoapClient, ContentFormat } from '../../../src/coap/index.ts';
import { loadTrustAnchors, ownCertificate, ownRawPublicKey, PinnedKeys } from '../../../src/dtls/index.ts';
import { freePortPair, waitForServer } from '../../coap/interop-scenarios.ts';
import { launchFor, requireBinary } from '../../support/peers.ts';
import { makeTempPki } from '../../support/pki.ts';
import { type Harness, pkDevice, platformWith } from './harness.ts';

const N = 10;
const BIN = 'coap-server-gnutls';

function ourDevice(d: Awaited<ReturnType<typeof pkDevice>>) {
  return { name: 'our device', sessions: () => d.seen.connections.length, log: () => d.seen.refused.join('\n') };
}

/** libcoap's server with a JSON reading at /sensors; coaps:// is on the port after coap://. */
async function libcoapDevice(t: TestContext, security: string[]) {
  const port = await freePortPair();
  const peer = launchFor(t, BIN, ['-A', '127.0.0.1', '-p', String(port), '-d', '10', '-v', '7', ...security], {
    timeoutMs: 50_000,
  });
  await waitForServer(`coap://127.0.0.1:${port}`);
  const c = new CoapClient();
  try {
    const r = await c.post(`coap://127.0.0.1:${port}/sensors`, JSON.stringify({ temp: 21.5, rh: 40 }), {
      contentFormat: ContentFormat['application/json'],
    });
    assert.equal(r.status, '2.01', 'libcoap creates the dynamic resource');
  } finally {
    await c.close();
  }
  return {
    name: 'libcoap',
    url: `coaps://127.0.0.1:${port + 1}/sensors`,
    /** DTLS sessions libcoap completed (its -v 7 log goes to stdout). */
    sessions: () => (peer.stdout().match(/DTLS: session connected/g) ?? []).length,
    log: () => peer.stdout().slice(-2000),
  };
}

/** N polls of a device: N points in each stream, one session on both sides; the durations. */
async function pollAndMeasure(
  t: TestContext,
  h: Harness,
  rid: number,
  dev: { name: string; sessions: () => number; log: () => string },
  streams: string[],
) {
  for (let i = 0; i < N; i++) {
    const o = await h.poller.pollNow(rid);
    assert.ok(o.ok && o.status === '2.05', `${o.status}: ${o.message}\n${dev.log()}`);
  }
  const log = await h.log(rid);
  const ok = log.filter((e) => e.ok);
  assert.ok(ok.length >= N && ok.length === log.length, JSON.stringify(log.filter((e) => !e.ok)));
  assert.deepEqual(
    await h.points(rid),
    Object.fromEntries(streams.map((l) => [l, ok.length])),
    'one point per value and poll',
  );
  assert.equal(log.filter((e) => e.new_session).length, 1, 'one new session in the poll log');
  assert.equal(dev.sessions(), 1, `${dev.name} saw one DTLS session\n${dev.log()}`);
  // The log is newest first: the last entry made the handshake.
  const full = log[log.length - 1].duration_ms;
  const reused = log
    .slice(0, -1)
    .map((e) => e.duration_ms)
    .sort((a, b) => a - b);
  t.diagnostic(
    `${dev.name}: ${ok.length} polls, first (full handshake) ${full} ms, then median ${reused[reused.length >> 1]} ms over the kept session`,
  );
}

test('libcoap coap-server-gnutls in PKI mode, verifying the platform certificate, polled over coaps://', async (t) => {
  if (!requireBinary(t, BIN)) return;
  // libcoap sends only the first certificate of -c: issue straight from the root.
  const pki = await makeTempPki(t, { intermediate: false });
  const own = await pki.issue('platform', { usage: 'both' });
  const h = await platformWith(t, { certificate: ownCertificate(own.keyPem, own.chainPem) });
  const dev = await libcoapDevice(t, ['-c', pki.server.cert, '-j', pki.server.key, '-C', pki.root.cert]);
  const rid = await h.polled(dev.url, { mode: 'x509', x509_name: 'CN=localhost', x509_ca: pki.root.certPem });
  await pollAndMeasure(t, h, rid, dev, ['temp', 'rh']);

  // Our own device in the same mode with the same certificates, for the figures of the same run.
  const ours = await pkDevice(t, {
    certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
  });
  const r1 = await h.polled(ours.url, { mode: 'x509', x509_name: 'CN=localhost', x509_ca: pki.root.certPem });
  await pollAndMeasure(t, h, r1, ourDevice(ours), ['temp', 'seq']);

  // A libcoap device whose certificate comes from another CA.
  const stranger = await libcoapDevice(t, ['-c', pki.untrusted.cert, '-j', pki.untrusted.key, '-C', pki.root.cert]);
  const r2 = await h.polled(stranger.url, { mode: 'x509', x509_name: 'CN=localhost', x509_ca: pki.root.certPem });
  const o = await h.poller.pollNow(r2);
  assert.equal(o.status, 'handshake');
  assert.match(o.message ?? '', /alert unknown_ca sent by the platform/);
  assert.deepEqual(await h.points(r2), {});
});

test('libcoap coap-server-gnutls in RPK mode (-M) polled over coaps://; another key fails', async (t) => {
  if (!requireBinary(t, BIN)) return;
  const pki = await makeTempPki(t, { intermediate: false });
  // libcoap's -M wants the private key and the public key in one PEM file.
  const both = `${pki.dir}/device-rpk.pem`;
  writeFileSync(both, pki.rpkServer.keyPem + pki.rpkServer.spkiPem, { mode: 0o600 });
  // The platform shows rpkClient; the device is rpkServer.
  const h = await platformWith(t, { rpk: ownRawPublicKey(pki.rpkClient.keyPem) });
  const dev = await libcoapDevice(t, ['-M', both]);
  const rid = await h.polled(dev.url, { mode: 'rpk', rpk: pki.rpkServer.spkiPem });
  await pollAndMeasure(t, h, rid, dev, ['temp', 'rh']);

  // (A raw public key is bound to one resource only: our device has a key of its own.)
  const ours = await pkDevice(t, {
    rpk: ownRawPublicKey(pki.rpkStranger.keyPem),
    trust: { pinnedKeys: new PinnedKeys([pki.rpkClient.spkiPem]) },
  });
  const r1 = await h.polled(ours.url, { mode: 'rpk', rpk: pki.rpkStranger.spkiPem });
  await pollAndMeasure(t, h, r1, ourDevice(ours), ['temp', 'seq']);

  // The libcoap device bound (on another resource) to another key.
  const r2 = await h.polled(dev.url, { mode: 'rpk', rpk_fingerprint: 'ab'.repeat(32) });
  const o = await h.poller.pollNow(r2);
  assert.equal(o.status, 'handshake');
  assert.match(o.message ?? '', /alert bad_certificate sent by the platform/);
  assert.deepEqual(await h.points(r2), {});
});

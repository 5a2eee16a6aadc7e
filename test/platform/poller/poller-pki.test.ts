/**
 * The poller pulls coaps:// devices bound by a raw public key (RFC 7250) or an X.509 identity:
 * the platform shows the raw public key / certificate its CoAPs API has (handed over by
 * createPlatform) and checks the device's against the resource's binding. Each device here is our
 * CoAP server over our DTLS server, requiring client authentication and trusting only the
 * platform's key or CA. Polled N times → N points and one full handshake; a device with another
 * key, a certificate from another CA or another name → a failed poll with the alert in the poll
 * log and nothing stored; a credential change and a deletion close the session with close_notify.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { loadTrustAnchors, ownCertificate, ownRawPublicKey, PinnedKeys } from '../../../src/dtls/index.ts';
import { Poller } from '../../../src/platform/index.ts';
import { makeTempPki, type TempPki } from '../../support/pki.ts';
import { call } from '../helpers.ts';
import { type Harness, pkDevice, platformWith, until } from './harness.ts';

const N = 10;

/** Polls N times (the change's own scheduled poll may add one) and checks points, sessions and log. */
async function pollN(h: Harness, rid: number, dev: Awaited<ReturnType<typeof pkDevice>>) {
  for (let i = 0; i < N; i++) {
    const o = await h.poller.pollNow(rid);
    assert.ok(o.ok && o.status === '2.05', `${o.status}: ${o.message}`);
  }
  const log = await h.log(rid);
  const ok = log.filter((e) => e.ok);
  assert.ok(ok.length >= N && ok.length === log.length, JSON.stringify(log.filter((e) => !e.ok)));
  const pts = await h.points(rid);
  assert.equal(pts.seq, ok.length, 'one point per poll in the seq stream');
  assert.equal(pts.temp, ok.length);
  assert.equal(dev.seen.requests, ok.length);
  assert.equal(dev.seen.connections.length, 1, `one handshake for ${ok.length} polls`);
  assert.equal(dev.seen.connections[0].resumed, false, 'a full handshake');
  assert.equal(log.filter((e) => e.new_session).length, 1);
  return dev.seen.connections[0];
}

test('RPK: a device bound by its raw public key is polled with the platform key; one full handshake; deletion closes', async (t) => {
  // The platform's raw public key is rpkServer (its CoAPs API shows the same key); the device's is rpkClient.
  const { pki, h, dev } = await rpkHarness(t);
  const rid = await h.polled(dev.url, { mode: 'rpk', rpk: pki.rpkClient.spkiPem });
  const conn = await pollN(h, rid, dev);
  assert.equal(conn.identity.mode, 'rpk');
  if (conn.identity.mode === 'rpk') assert.equal(conn.identity.fingerprint, pki.rpkServer.fingerprint);
  assert.equal(conn.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');

  // Deleting the resource closes the session with close_notify.
  assert.equal((await call(h.base, 'DELETE', `${h.R}/${rid}`, { token: h.token })).status, 204);
  await until(() => dev.seen.closed === 1, 'the device to see the session closed');
  assert.equal(dev.seen.alertsIn, 1, 'closed by an encrypted alert: close_notify');
  assert.equal(h.poller.coap.size, 0);
});

/**
 * A platform with the raw public key rpkServer, and a device showing the raw public key `device`
 * (rpkClient unless told) that pins the platform's key.
 */
async function rpkHarness(t: TestContext, device: 'rpkClient' | 'rpkStranger' = 'rpkClient') {
  const pki = await makeTempPki(t);
  const h = await platformWith(t, { rpk: ownRawPublicKey(pki.rpkServer.keyPem) });
  const dev = await pkDevice(t, {
    rpk: ownRawPublicKey(pki[device].keyPem),
    trust: { pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]) },
  });
  return { pki, h, dev };
}

async function x509Harness(t: TestContext, pki: TempPki) {
  // The platform's certificate allows clientAuth as well as serverAuth: it is shown in both roles.
  const own = await pki.issue('platform', { usage: 'both' });
  const h = await platformWith(t, { certificate: ownCertificate(own.keyPem, own.chainPem) });
  return h;
}

test('X.509: a device bound by name under a CA is polled with the platform certificate; a credential change closes and handshakes once more', async (t) => {
  const pki = await makeTempPki(t);
  const h = await x509Harness(t, pki);
  // The device shows pki.server (CN=localhost, DNS:localhost, from the intermediate) and trusts the root.
  const dev = await pkDevice(t, {
    certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
  });
  const rid = await h.polled(dev.url, { mode: 'x509', x509_name: 'DNS:localhost', x509_ca: pki.root.certPem });
  const conn = await pollN(h, rid, dev);
  assert.equal(conn.identity.mode, 'x509');
  if (conn.identity.mode === 'x509') assert.equal(conn.identity.subject, 'CN=platform');

  // Another binding (the device's certificate pinned): the session made under the old one ends
  // with close_notify, and the next poll makes one new full handshake (no resumption across
  // credentials).
  const list = await call(h.base, 'GET', `${h.R}/${rid}/devices`, { token: h.token });
  await call(h.base, 'DELETE', `${h.R}/${rid}/devices/${list.json[0].id}`, { token: h.token });
  const pin = await call(h.base, 'POST', `${h.R}/${rid}/devices`, {
    token: h.token,
    body: { mode: 'x509', x509_certificate: pki.server.certPem },
  });
  assert.equal(pin.status, 201, pin.text);
  await until(() => dev.seen.closed === 1, 'the old session to close');
  assert.equal(dev.seen.alertsIn, 1);
  for (let i = 0; i < 3; i++) {
    const o = await h.poller.pollNow(rid);
    assert.ok(o.ok, o.message ?? '');
  }
  assert.equal(dev.seen.connections.length, 2, 'exactly one new handshake');
  assert.equal(dev.seen.connections[1].resumed, false, 'new credentials: a full handshake');
});

test('a device with another raw public key fails the poll with bad_certificate; nothing is stored', async (t) => {
  // The resource is bound to rpkClient, but the device at that address shows rpkStranger.
  const { pki, h, dev } = await rpkHarness(t, 'rpkStranger');
  const rid = await h.polled(dev.url, { mode: 'rpk', rpk_fingerprint: pki.rpkClient.fingerprint });
  const o = await h.poller.pollNow(rid);
  assert.equal(o.ok, false);
  assert.equal(o.status, 'handshake');
  assert.match(o.message ?? '', /alert bad_certificate sent by the platform/);
  const log = await h.log(rid);
  assert.ok(log.length >= 1 && log.every((e) => !e.ok && /bad_certificate/.test(e.message)), JSON.stringify(log));
  assert.deepEqual(await h.points(rid), {});
  assert.equal(dev.seen.connections.length, 0);
  assert.equal(dev.seen.requests, 0);
  assert.ok(
    dev.seen.refused.some((m) => /bad_certificate/.test(m)),
    dev.seen.refused.join('\n'),
  );
});

test('X.509 failures: a certificate from another CA (unknown_ca), another name (closed before any request), a device that refuses the platform', async (t) => {
  const pki = await makeTempPki(t);
  const h = await x509Harness(t, pki);

  // 1. The device's certificate comes from another CA.
  const stranger = await pkDevice(t, {
    certificate: ownCertificate(pki.untrusted.keyPem, pki.untrusted.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
  });
  const r1 = await h.polled(stranger.url, { mode: 'x509', x509_name: 'CN=localhost', x509_ca: pki.root.certPem });
  const o1 = await h.poller.pollNow(r1);
  assert.equal(o1.status, 'handshake');
  assert.match(o1.message ?? '', /alert unknown_ca sent by the platform/);
  assert.deepEqual(await h.points(r1), {});
  assert.equal(stranger.seen.connections.length, 0);

  // 2. The right CA, another name: the handshake completes, the poller closes it unused.
  const other = await pkDevice(t, {
    certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
  });
  const r2 = await h.polled(other.url, { mode: 'x509', x509_name: 'CN=kitchen-7', x509_ca: pki.root.certPem });
  const o2 = await h.poller.pollNow(r2);
  assert.equal(o2.status, 'handshake');
  assert.match(o2.message ?? '', /CN=localhost.*matches no X\.509 binding/);
  await until(() => other.seen.closed >= 1, 'the unused session to close');
  assert.equal(other.seen.requests, 0, 'no request to an unverified device');
  assert.deepEqual(await h.points(r2), {});

  // 3. The device does not trust the platform's CA: it sends the alert.
  const picky = await pkDevice(t, {
    certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
    trust: { anchors: loadTrustAnchors(pki.untrustedCa.certPem) },
  });
  const r3 = await h.polled(picky.url, { mode: 'x509', x509_name: 'CN=localhost', x509_ca: pki.root.certPem });
  const o3 = await h.poller.pollNow(r3);
  assert.equal(o3.status, 'handshake');
  assert.match(o3.message ?? '', /alert unknown_ca sent by the device/);
  assert.deepEqual(await h.points(r3), {});
});

test('without a platform key or certificate of the needed kind, the poll log says so', async (t) => {
  const pki = await makeTempPki(t);
  const h = await platformWith(t); // CoAPs API with PSK only: the poller has no public-key credentials
  const dev = await pkDevice(t, {
    rpk: ownRawPublicKey(pki.rpkClient.keyPem),
    trust: { pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]) },
  });
  const r1 = await h.polled(dev.url, { mode: 'rpk', rpk: pki.rpkClient.spkiPem });
  const o1 = await h.poller.pollNow(r1);
  assert.equal(o1.status, 'credentials');
  assert.match(o1.message ?? '', /no raw public key of its own/);
  const r2 = await h.polled(dev.url, { mode: 'x509', x509_name: 'CN=localhost', x509_ca: pki.root.certPem });
  const o2 = await h.poller.pollNow(r2);
  assert.equal(o2.status, 'credentials');
  assert.match(o2.message ?? '', /no certificate of its own/);
  assert.equal(dev.seen.connections.length + dev.seen.refused.length, 0, 'nothing was sent to the device');
});

test('RPK: an idle session is renewed by resumption, as in PSK mode', async (t) => {
  const { pki, h, dev } = await rpkHarness(t);
  const rid = await h.polled(dev.url, { mode: 'rpk', rpk: pki.rpkClient.spkiPem });
  await h.poller.pollNow(rid);
  // The platform's poller renews after 240 s of silence; a poller of our own with 50 ms shows it.
  const quick = new Poller(h.p.service, { idleRenewMs: 50, dtls: { rpk: ownRawPublicKey(pki.rpkServer.keyPem) } });
  t.after(() => quick.stop());
  const before = dev.seen.connections.length;
  for (let i = 0; i < 3; i++) {
    const o = await quick.pollNow(rid);
    assert.ok(o.ok && o.newSession, o.message ?? '');
    await new Promise((r) => setTimeout(r, 120));
  }
  assert.deepEqual(
    dev.seen.connections.slice(before).map((c) => c.resumed),
    [false, true, true],
  );
});

test('X.509: a session the device closes is made afresh at the next poll (resumed)', async (t) => {
  const pki = await makeTempPki(t);
  const h = await x509Harness(t, pki);
  const dev = await pkDevice(t, {
    certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem) },
  });
  const rid = await h.polled(dev.url, { mode: 'x509', x509_name: 'CN=localhost', x509_ca: pki.root.certPem });
  assert.ok((await h.poller.pollNow(rid)).ok);
  // The device ends the session (close_notify): the poller forgets it at once rather than
  // sending the next request into a closed association.
  await dev.seen.connections[0].close();
  await until(() => h.poller.coap.size === 0, 'the poller to drop the closed session');
  const o = await h.poller.pollNow(rid);
  assert.ok(o.ok && o.newSession, o.message ?? '');
  assert.equal(dev.seen.connections.length, 2);
  assert.equal(dev.seen.connections[1].resumed, true, 'the session survives close_notify: resumed');
});

test('a resource bound in two modes offers both in one ClientHello: an RPK-only device picks RPK', async (t) => {
  const { pki, h, dev } = await rpkHarness(t);
  const rid = await h.polled(
    dev.url,
    { mode: 'psk', psk_identity: 'poller-1', psk_key: '00'.repeat(16) },
    { mode: 'rpk', rpk: pki.rpkClient.spkiPem },
  );
  const o = await h.poller.pollNow(rid);
  assert.ok(o.ok, o.message ?? '');
  assert.equal(dev.seen.connections.at(-1)?.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');
  assert.equal(dev.seen.connections.at(-1)?.identity.mode, 'rpk');
});

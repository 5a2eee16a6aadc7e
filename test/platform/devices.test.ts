/**
 * Device credentials through the HTTP API, and the directory that maps a DTLS
 * PeerIdentity to the resource it is bound to — on both store engines.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  certificatesFromPem,
  loadTrustAnchors,
  type PeerIdentity,
  verifyCertificateChain,
} from '../../src/dtls/credentials/index.ts';
import {
  connect,
  type DtlsConnection,
  DtlsServer,
  MemorySessionCache,
  type SessionCache,
} from '../../src/dtls/index.ts';
import { DeviceDirectory } from '../../src/platform/devices.ts';
import { makeTempPki } from '../support/pki.ts';
import { bothEngines } from './engines.ts';
import { call, newResource, newUser, startPlatform } from './helpers.ts';

function x509Identity(chainPem: string, caPem: string): Extract<PeerIdentity, { mode: 'x509' }> {
  return verifyCertificateChain(certificatesFromPem(chainPem), {
    anchors: loadTrustAnchors(caPem),
    peerRole: 'client',
  }).identity;
}

bothEngines('device credentials: bind, list without keys, refuse others, unbind', async (t, tg) => {
  const p = await startPlatform(t, tg);
  const { base } = p;
  const dir = new DeviceDirectory(p.store);
  const { uid, token } = await newUser(base, 'ann');
  const a = await newResource(base, uid, token, 'A');
  const b = await newResource(base, uid, token, 'B');
  const D = `/users/${uid}/resources/${a.rid}/devices`;

  // A PSK without a key: one is generated and shown once.
  const gen = await call(base, 'POST', D, { token, body: { mode: 'psk', psk_identity: 'dev-1', label: 'kitchen' } });
  assert.equal(gen.status, 201, gen.text);
  assert.match(gen.json.psk_key, /^[0-9a-f]{32}$/);
  assert.equal(gen.json.psk_identity, 'dev-1');
  const key = Buffer.from(gen.json.psk_key, 'hex');
  assert.deepEqual(await dir.pskKey('dev-1'), key);
  assert.deepEqual(await dir.callerFor({ mode: 'psk', identity: 'dev-1' }), {
    kind: 'resource',
    resourceId: a.rid,
    via: 'device',
  });

  // A given key is stored as given and not echoed.
  const given = await call(base, 'POST', D, {
    token,
    body: { mode: 'psk', psk_identity: 'dev-2', psk_key: '000102030405060708090a0b0c0d0e0f' },
  });
  assert.equal(given.status, 201);
  assert.equal(given.json.psk_key, undefined);
  assert.deepEqual(await dir.pskKey('dev-2'), Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex'));

  // Identities are unique across the platform: the same identity on B is a conflict.
  const dup = await call(base, 'POST', `/users/${uid}/resources/${b.rid}/devices`, {
    token,
    body: { mode: 'psk', psk_identity: 'dev-1' },
  });
  assert.equal(dup.status, 409);
  // Bad input is a 400 with a message.
  for (const body of [
    { mode: 'psk', psk_identity: 'has space' },
    { mode: 'psk', psk_identity: 'x', psk_key: 'abcd' },
    { mode: 'rpk', rpk_fingerprint: 'nothex' },
    { mode: 'x509', x509_name: 'CN=x' },
    { mode: 'x509', x509_name: 'CN=x', x509_ca: 'not pem' },
  ]) {
    const r = await call(base, 'POST', D, { token, body });
    assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${r.text}`);
    assert.ok(r.json.message);
  }

  // RPK by PEM and X.509 by pinned certificate and by name under a CA.
  const pki = await makeTempPki(t);
  const rpk = await call(base, 'POST', D, { token, body: { mode: 'rpk', rpk: pki.rpkClient.spkiPem } });
  assert.equal(rpk.status, 201, rpk.text);
  assert.equal(rpk.json.rpk_fingerprint, pki.rpkClient.fingerprint);
  assert.equal(
    await dir.resourceFor({ mode: 'rpk', spki: pki.rpkClient.spkiDer, fingerprint: pki.rpkClient.fingerprint }),
    a.rid,
  );
  assert.equal(
    await dir.resourceFor({ mode: 'rpk', spki: pki.rpkStranger.spkiDer, fingerprint: pki.rpkStranger.fingerprint }),
    undefined,
  );

  const devId = x509Identity(pki.device.chainPem, pki.root.certPem);
  const byName = await call(base, 'POST', `/users/${uid}/resources/${b.rid}/devices`, {
    token,
    body: { mode: 'x509', x509_name: devId.subject, x509_ca: pki.root.certPem },
  });
  assert.equal(byName.status, 201, byName.text);
  assert.equal(await dir.resourceFor(devId), b.rid);
  // The same kind of name bound under another CA does not match a device of this PKI…
  const d2 = await pki.issue('device-2', { usage: 'client' });
  const d2Id = x509Identity(d2.chainPem, pki.root.certPem);
  assert.equal(d2Id.subject, 'CN=device-2');
  const strangerCa = await call(base, 'POST', D, {
    token,
    body: { mode: 'x509', x509_name: 'CN=device-2', x509_ca: pki.untrustedCa.certPem },
  });
  assert.equal(strangerCa.status, 201);
  assert.equal(await dir.resourceFor(d2Id), undefined, 'issued by the test root, bound under another CA');
  // …until its certificate is pinned.
  const pinned = await call(base, 'POST', D, { token, body: { mode: 'x509', x509_certificate: d2.certPem } });
  assert.equal(pinned.status, 201);
  const der = certificatesFromPem(d2.certPem)[0];
  assert.equal(pinned.json.x509_fingerprint, createHash('sha256').update(der).digest('hex'));
  assert.equal(await dir.resourceFor(d2Id), a.rid);

  // The list shows identities and fingerprints, never a key.
  const list = await call(base, 'GET', D, { token });
  assert.equal(list.status, 200);
  assert.equal(list.json.length, 5);
  assert.ok(list.text.indexOf(gen.json.psk_key) < 0);
  assert.ok(list.json.every((c: Record<string, unknown>) => !('psk_key' in c)));

  // Another user, or a resource key, may not see or change credentials.
  const bob = await newUser(base, 'bob');
  assert.equal((await call(base, 'GET', D, { token: bob.token })).status, 403);
  assert.equal((await call(base, 'GET', `${D}?key=${a.key}`)).status, 403);
  assert.equal(
    (await call(base, 'POST', D, { token: bob.token, body: { mode: 'psk', psk_identity: 'z' } })).status,
    403,
  );

  // Unbinding takes effect at once; a credential of A is not found under B.
  assert.equal(
    (await call(base, 'DELETE', `/users/${uid}/resources/${b.rid}/devices/${gen.json.id}`, { token })).status,
    404,
  );
  assert.equal((await call(base, 'DELETE', `${D}/${gen.json.id}`, { token })).status, 204);
  assert.equal(await dir.pskKey('dev-1'), undefined);
  assert.equal(await dir.callerFor({ mode: 'psk', identity: 'dev-1' }), undefined);

  // Deleting the resource removes its credentials.
  assert.equal((await call(base, 'DELETE', `/users/${uid}/resources/${a.rid}`, { token })).status, 204);
  assert.equal(await dir.pskKey('dev-2'), undefined);
});

bothEngines('poll settings and the poll log', async (t, tg) => {
  const p = await startPlatform(t, tg);
  const { base } = p;
  const { uid, token } = await newUser(base, 'ann');
  const R = `/users/${uid}/resources`;
  const r = await call(base, 'POST', R, {
    token,
    body: {
      label: 'x',
      polling_url: 'coap://sensor.example/s',
      polling_period: 5,
      polling_retransmits: 2,
      polling_timeout_ms: 500,
    },
  });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.polling_retransmits, 2);
  assert.equal(r.json.polling_timeout_ms, 500);
  assert.equal((await call(base, 'POST', R, { token, body: { label: 'y', polling_timeout_ms: 5 } })).status, 400);
  const put = await call(base, 'PUT', `${R}/${r.json.id}`, { token, body: { polling_retransmits: null } });
  assert.equal(put.json.polling_retransmits, null);
  assert.equal(put.json.polling_timeout_ms, 500);

  for (let i = 0; i < 5; i++) {
    await p.service.recordPoll({
      resourceId: r.json.id,
      time: 1000 + i,
      url: 'coap://127.0.0.1/s',
      ok: i !== 2,
      status: i === 2 ? 'timeout' : '2.05',
      message: null,
      points: 1,
      newSession: false,
      durationMs: 3,
    });
  }
  const log = await call(base, 'GET', `${R}/${r.json.id}/log?limit=3`, { token });
  assert.equal(log.status, 200, log.text);
  assert.deepEqual(
    log.json.map((e: { time: number; ok: boolean; status: string }) => [e.time, e.ok, e.status]),
    [
      [1004, true, '2.05'],
      [1003, true, '2.05'],
      [1002, false, 'timeout'],
    ],
  );
  // The log keeps the newest entries only.
  await p.store.addPollLog(
    {
      resourceId: r.json.id,
      time: 2000,
      url: 'u',
      ok: true,
      status: '2.05',
      message: null,
      points: 0,
      newSession: false,
      durationMs: 1,
    },
    2,
  );
  assert.deepEqual(
    (await p.store.listPollLog(r.json.id, 10)).map((e) => e.time),
    [2000, 1004],
  );
});

bothEngines('a session store that fails means a full handshake, not a failed one', async (t, tg) => {
  const p = await startPlatform(t, tg);
  const dir = new DeviceDirectory(p.store);
  const { uid, token } = await newUser(p.base, 'fay');
  const r = await newResource(p.base, uid, token, 'F');
  const keyHex = '000102030405060708090a0b0c0d0e0f';
  const bound = await call(p.base, 'POST', `/users/${uid}/resources/${r.rid}/devices`, {
    token,
    body: { mode: 'psk', psk_identity: 'dev-f', psk_key: keyHex },
  });
  assert.equal(bound.status, 201, bound.text);
  const psk = { identity: 'dev-f', key: Buffer.from(keyHex, 'hex') };

  // Sessions are stored, but every lookup fails.
  const memory = new MemorySessionCache();
  let lookups = 0;
  const broken: SessionCache = {
    get: async () => {
      lookups++;
      throw new Error('store down');
    },
    set: (s) => memory.set(s),
    delete: (id) => memory.delete(id),
  };
  const server = await DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (identity) => dir.pskKey(identity),
    sessionCache: dir.sessionCache(broken),
  });
  t.after(() => server.close());
  const first = await connect({ host: '127.0.0.1', port: server.address().port, psk });
  assert.equal(first.resumed, false);
  const session = first.session;
  await first.close();

  // The client offers its session; the lookup throws; the server answers with a full handshake.
  const serverSide = once(server, 'connection');
  const second = await connect({ host: '127.0.0.1', port: server.address().port, psk, session });
  assert.equal(lookups, 1);
  assert.equal(second.resumed, false);
  assert.notDeepEqual(second.session.id, session.id);
  const [sc] = (await serverSide) as [DtlsConnection];
  assert.deepEqual(sc.identity, { mode: 'psk', identity: 'dev-f' });
  const got = once(sc, 'data');
  second.send(Buffer.from('after a failed lookup'));
  assert.equal(String((await got)[0]), 'after a failed lookup');
  await second.close();
});

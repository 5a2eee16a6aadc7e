/**
 * Two DTLS servers sharing one UDP port by SO_REUSEPORT, as two workers do, each with its node
 * number in its CIDs and a hand-over socket (cid-forward.ts). A NAT rebinding that moves the
 * client's flow to the other server (the kernel's hash decides: the relay changes its port until
 * it happens, bounded) keeps the session: the record is handed to its owner, which moves the
 * session and answers from the shared port. Without the hand-over the session is lost. A session
 * is resumable on the other server through a shared session cache. PSK, RPK and X.509.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type TestContext, test } from 'node:test';
import { MemorySessionCache } from '../../src/dtls/cache.ts';
import { CidForwarder, decodeHandOver, encodeHandOver } from '../../src/dtls/cid-forward.ts';
import {
  connect,
  type DtlsClientOptions,
  loadTrustAnchors,
  ownCertificate,
  ownRawPublicKey,
  PinnedKeys,
} from '../../src/dtls/index.ts';
import { type EchoServer, echoServer, IDENTITY, KEY, nextData } from '../dtls/helpers.ts';
import { startRebindingRelay } from '../dtls/rebinding-relay.ts';
import { makeTempPki, type TempPki } from '../support/pki.ts';

type Mode = 'psk' | 'rpk' | 'x509';
const MAX_TRIES = 24;

function clientCredentials(mode: Mode, pki: TempPki): Partial<DtlsClientOptions> {
  if (mode === 'psk') return { psk: { identity: IDENTITY, key: KEY } };
  if (mode === 'rpk') {
    return {
      rpk: ownRawPublicKey(pki.rpkClient.keyPem),
      trust: { pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]) },
    };
  }
  return {
    certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem), verifyName: false },
  };
}

interface Worker {
  srv: EchoServer;
  fwd: CidForwarder;
}

/** Two "workers" on one port, hand-over wired unless `handOver` is false; closed after the test. */
async function twoWorkers(t: TestContext, pki: TempPki, handOver = true): Promise<{ port: number; workers: Worker[] }> {
  const token = randomBytes(16);
  const sessionCache = new MemorySessionCache();
  const workers: Worker[] = [];
  let port = 0;
  for (const node of [0, 1]) {
    const fwd = await CidForwarder.open({ node, token });
    const srv = await echoServer({
      port,
      reusePort: true,
      sessionCache,
      connectionId: { length: 8, node },
      cidHandOver: handOver ? (n, d, from) => fwd.forward(n, d, from) : undefined,
      certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
      rpk: ownRawPublicKey(pki.rpkServer.keyPem),
      trust: { anchors: loadTrustAnchors(pki.root.certPem), pinnedKeys: new PinnedKeys([pki.rpkClient.spkiPem]) },
      clientAuth: 'need',
    });
    fwd.receive((d, from) => srv.server.receiveHandedOver(d, from));
    port = srv.port;
    workers.push({ srv, fwd });
    t.after(async () => {
      await srv.server.close();
      await fwd.close();
    });
  }
  const routes = workers.map((w) => [w.fwd.node, w.fwd.address()] as [number, ReturnType<CidForwarder['address']>]);
  for (const w of workers) w.fwd.setRoutes(routes);
  return { port, workers };
}

test('hand-over frames: the client address survives, a wrong token, a changed address or garbage is refused', () => {
  const token = randomBytes(16);
  const rec = Buffer.from([25, 0xfe, 0xfd, 1, 2, 3]);
  for (const from of [
    { address: '127.0.0.9', port: 40000, family: 'IPv4' as const },
    { address: 'fd00::1:2', port: 5684, family: 'IPv6' as const },
  ]) {
    const h = decodeHandOver(token, encodeHandOver(token, from, rec));
    assert.deepEqual(h?.from, from);
    assert.deepEqual(h?.datagram, rec);
    assert.equal(decodeHandOver(randomBytes(16), encodeHandOver(token, from, rec)), undefined);
  }
  // The client address is covered by the tag: a frame whose address was changed on the way is refused.
  const frame = encodeHandOver(token, { address: '10.0.0.1', port: 40000, family: 'IPv4' }, rec);
  frame[frame.indexOf('10.0.0.1') + 7] = '9'.charCodeAt(0);
  assert.equal(decodeHandOver(token, frame), undefined);
  assert.equal(frame.includes(token), false, 'the token itself never travels');
  const bad = encodeHandOver(token, { address: 'not-an-ip', port: 1, family: 'IPv4' }, rec);
  assert.equal(decodeHandOver(token, bad), undefined);
  assert.equal(decodeHandOver(token, rec), undefined);
});

for (const mode of ['psk', 'rpk', 'x509'] as const) {
  test(`${mode}: a rebinding that moves the flow to the other worker keeps the session (hand-over)`, async (t) => {
    const pki = await makeTempPki(t);
    const { port, workers } = await twoWorkers(t, pki);
    const relay = await startRebindingRelay({ targetHost: '127.0.0.1', targetPort: port });
    t.after(() => relay.close());
    const c = await connect({
      host: '127.0.0.1',
      port: relay.port,
      connectionId: { length: 4 },
      ...clientCredentials(mode, pki),
    });
    t.after(() => c.close());
    const owner = workers.findIndex((w) => w.srv.connections.length === 1);
    assert.notEqual(owner, -1);
    assert.equal(c.connectionIds.peer?.[0], owner, "the CID's first byte names the worker holding the session");
    const other = workers[1 - owner];
    let tries = 0;
    while (other.fwd.stats.forwarded === 0 && tries < MAX_TRIES) {
      tries++;
      await relay.rebind();
      c.send(Buffer.from(`after ${tries}`));
      assert.equal((await nextData(c)).toString(), `after ${tries}`);
    }
    assert.ok(other.fwd.stats.forwarded > 0, `the flow never landed on the other worker in ${MAX_TRIES} rebindings`);
    // Once more from there: the owner answers, the new address verified, no handshake anywhere.
    c.send(Buffer.alloc(600, 7));
    assert.equal((await nextData(c)).length, 600);
    const ownerSrv = workers[owner].srv.server;
    assert.ok(ownerSrv.stats.connectionIds.addressUpdates >= 1);
    assert.equal(workers[owner].fwd.stats.received, other.fwd.stats.forwarded);
    assert.equal(
      ownerSrv.stats.sessionsEstablished + other.srv.server.stats.sessionsEstablished,
      1,
      'no second handshake',
    );
    assert.equal(
      workers[owner].srv.connections[0].remote.port,
      relay.outsidePort(),
      'the session moved to the new port',
    );
  });
}

test('psk: without the hand-over, a flow moved to the other worker loses the session', async (t) => {
  const pki = await makeTempPki(t);
  const { port, workers } = await twoWorkers(t, pki, false);
  const relay = await startRebindingRelay({ targetHost: '127.0.0.1', targetPort: port });
  t.after(() => relay.close());
  const c = await connect({
    host: '127.0.0.1',
    port: relay.port,
    connectionId: { length: 4 },
    psk: { identity: IDENTITY, key: KEY },
  });
  t.after(() => c.close());
  const owner = workers.findIndex((w) => w.srv.connections.length === 1);
  const other = workers[1 - owner].srv.server;
  let lost = false;
  for (let tries = 0; tries < MAX_TRIES && !lost; tries++) {
    await relay.rebind();
    c.send(Buffer.from('after'));
    lost = await nextData(c, 400).then(
      () => false,
      () => true,
    );
  }
  assert.ok(lost, 'the flow never landed on the other worker');
  assert.ok(other.stats.connectionIds.unknown >= 1, 'the other worker could not place the record');
});

for (const mode of ['psk', 'rpk', 'x509'] as const) {
  test(`${mode}: a session from one worker is resumed on the other`, async (t) => {
    const pki = await makeTempPki(t);
    const { port, workers } = await twoWorkers(t, pki);
    const first = await connect({
      host: '127.0.0.1',
      port,
      connectionId: { length: 4 },
      ...clientCredentials(mode, pki),
    });
    const owner = workers.findIndex((w) => w.srv.connections.length === 1);
    await first.close();
    let resumedOn = -1;
    for (let tries = 0; tries < MAX_TRIES && (resumedOn === -1 || resumedOn === owner); tries++) {
      const before = workers.map((w) => w.srv.connections.length);
      const c = await connect({ host: '127.0.0.1', port, session: first.session, ...clientCredentials(mode, pki) });
      assert.ok(c.resumed, 'an abbreviated handshake');
      resumedOn = workers.findIndex((w, i) => w.srv.connections.length > before[i]);
      await c.close();
    }
    assert.equal(resumedOn, 1 - owner, `no connection landed on the other worker in ${MAX_TRIES} tries`);
  });
}

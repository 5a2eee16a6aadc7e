/**
 * Connection ID (RFC 9146): negotiation, tls12_cid records, and sessions that survive a NAT
 * rebinding (the client's source port changes mid-session) only when a CID is in use, in PSK, RPK
 * and X.509. Forged and replayed CID records from other addresses never move a session.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  connect,
  type DtlsClientOptions,
  type DtlsConnection,
  loadTrustAnchors,
  ownCertificate,
  ownRawPublicKey,
  PinnedKeys,
} from '../../src/dtls/index.ts';
import { ContentType } from '../../src/dtls/wire/record.ts';
import { makeTempPki, type TempPki } from '../support/pki.ts';
import { echoServer, IDENTITY, KEY, nextData } from './helpers.ts';
import { startRebindingRelay } from './rebinding-relay.ts';

type Mode = 'psk' | 'rpk' | 'x509';

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

async function serverFor(pki: TempPki, extra: Parameters<typeof echoServer>[0] = {}) {
  return echoServer({
    certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
    rpk: ownRawPublicKey(pki.rpkServer.keyPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem), pinnedKeys: new PinnedKeys([pki.rpkClient.spkiPem]) },
    clientAuth: 'need',
    ...extra,
  });
}

/** A UDP socket bound to a free loopback port, closed after the test. */
async function loopbackSocket(t: TestContext): Promise<Socket> {
  const socket = createSocket('udp4');
  t.after(() => socket.close());
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return socket;
}

/**
 * A PSK echo server behind a rebinding relay, and a client with an own CID of `length` bytes
 * connected through the relay; all three closed after the test.
 */
async function pskClientBehindRelay(t: TestContext, length: number) {
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const relay = await startRebindingRelay({ targetHost: '127.0.0.1', targetPort: srv.port });
  t.after(() => relay.close());
  const c = await connect({
    host: '127.0.0.1',
    port: relay.port,
    psk: { identity: IDENTITY, key: KEY },
    connectionId: { length },
  });
  t.after(() => c.close());
  return { srv, relay, c };
}

/** Resolves with the next payload, or undefined when none comes within `ms`. */
async function maybeData(c: DtlsConnection, ms: number): Promise<Buffer | undefined> {
  try {
    return await nextData(c, ms);
  } catch {
    return undefined;
  }
}

let pki: TempPki;
test.before(async () => {
  pki = await makeTempPki();
});

for (const mode of ['psk', 'rpk', 'x509'] as const) {
  test(`${mode}: with a CID the session survives a NAT rebinding without a handshake`, async (t) => {
    const srv = await serverFor(pki);
    t.after(() => srv.server.close());
    const relay = await startRebindingRelay({ targetHost: '127.0.0.1', targetPort: srv.port });
    t.after(() => relay.close());
    const c = await connect({
      host: '127.0.0.1',
      port: relay.port,
      connectionId: { length: 4 },
      ...clientCredentials(mode, pki),
    });
    t.after(() => c.close());
    assert.equal(c.connectionIds.own?.length, 4);
    assert.equal(c.connectionIds.peer?.length, 8, 'the server gave an 8-byte CID');
    assert.equal(srv.connections[0].identity.mode, mode);
    c.send(Buffer.from('before'));
    assert.equal((await nextData(c)).toString(), 'before');
    // Records on the wire are tls12_cid from here on.
    assert.equal(relay.upstream.at(-1)?.[0], ContentType.tls12_cid);
    const oldPort = relay.outsidePort();
    const newPort = await relay.rebind();
    assert.notEqual(newPort, oldPort);
    c.send(Buffer.from('after'));
    assert.equal((await nextData(c)).toString(), 'after');
    assert.equal(srv.server.stats.connectionIds.addressUpdates, 1);
    assert.equal(srv.server.stats.sessionsEstablished, 1, 'no second handshake');
    assert.equal(srv.connections[0].remote.port, newPort, 'the session moved to the new port');
    // The new address is verified by that record's successor: replies flow without limit.
    c.send(Buffer.alloc(600, 1));
    assert.equal((await nextData(c)).length, 600);
  });

  test(`${mode}: without a CID the session is lost on a NAT rebinding`, async (t) => {
    const srv = await serverFor(pki);
    t.after(() => srv.server.close());
    const relay = await startRebindingRelay({ targetHost: '127.0.0.1', targetPort: srv.port });
    t.after(() => relay.close());
    const c = await connect({ host: '127.0.0.1', port: relay.port, ...clientCredentials(mode, pki) });
    t.after(() => c.close());
    assert.equal(c.connectionIds.peer, undefined);
    c.send(Buffer.from('before'));
    assert.equal((await nextData(c)).toString(), 'before');
    await relay.rebind();
    c.send(Buffer.from('after'));
    assert.equal(await maybeData(c, 600), undefined, 'the server cannot place the record');
    assert.equal(srv.server.stats.drops.noAssociation, 1);
    assert.equal(srv.server.stats.connectionIds.addressUpdates, 0);
  });
}

test('clients with and without a CID, and a zero-length own CID, on one port', async (t) => {
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const psk = { identity: IDENTITY, key: KEY };
  const [plain, withCid, zero] = await Promise.all([
    connect({ host: '127.0.0.1', port: srv.port, psk }),
    connect({ host: '127.0.0.1', port: srv.port, psk, connectionId: { length: 6 } }),
    connect({ host: '127.0.0.1', port: srv.port, psk, connectionId: { length: 0 } }),
  ]);
  t.after(() => Promise.all([plain.close(), withCid.close(), zero.close()]));
  assert.deepEqual(plain.connectionIds, { own: undefined, peer: undefined });
  assert.equal(withCid.connectionIds.own?.length, 6);
  assert.equal(withCid.connectionIds.peer?.length, 8);
  // A zero-length own CID: the server sends plain records to it, it sends the server's CID.
  assert.equal(zero.connectionIds.own, undefined);
  assert.equal(zero.connectionIds.peer?.length, 8);
  const cids = srv.connections.map((c) => c.connectionIds.own?.toString('hex')).filter((x) => x !== undefined);
  assert.equal(new Set(cids).size, 2, 'two distinct server CIDs');
  for (const [c, text] of [
    [plain, 'p'],
    [withCid, 'c'],
    [zero, 'z'],
  ] as const) {
    c.send(Buffer.from(text));
    assert.equal((await nextData(c)).toString(), text);
  }
});

test('a zero-length own CID client survives a rebinding too (the server reads its CID)', async (t) => {
  const { srv, relay, c } = await pskClientBehindRelay(t, 0);
  c.send(Buffer.from('one'));
  assert.equal((await nextData(c)).toString(), 'one');
  await relay.rebind();
  c.send(Buffer.from('two'));
  assert.equal((await nextData(c)).toString(), 'two');
  assert.equal(srv.server.stats.connectionIds.addressUpdates, 1);
});

test('CID records forged or replayed from other addresses never move a session', async (t) => {
  const { srv, relay, c } = await pskClientBehindRelay(t, 4);
  c.send(Buffer.from('real'));
  assert.equal((await nextData(c)).toString(), 'real');
  const recorded = relay.upstream.at(-1)!;
  assert.equal(recorded[0], ContentType.tls12_cid);
  const home = srv.connections[0].remote.port;

  const attacker = await loopbackSocket(t);
  const heard: Buffer[] = [];
  attacker.on('message', (m) => heard.push(m));
  const from = (d: Buffer) => attacker.send(d, srv.port, '127.0.0.1');
  // 1. A replay of an authentic record (already seen): dropped by the replay window.
  from(recorded);
  // 2. The same record with a flipped ciphertext byte: fails authentication.
  const flipped = Buffer.from(recorded);
  flipped[flipped.length - 3] ^= 1;
  from(flipped);
  // 3. A higher sequence number in the header (not what was authenticated): fails authentication.
  const bumped = Buffer.from(recorded);
  bumped[10] += 5;
  from(bumped);
  // 4. A CID nobody holds.
  const unknown = Buffer.from(recorded);
  unknown[11] ^= 0xff;
  from(unknown);
  await sleep(200);
  assert.equal(srv.server.stats.connectionIds.addressUpdates, 0);
  assert.equal(srv.connections[0].remote.port, home, 'the session stays where it was');
  assert.equal(heard.length, 0, 'nothing was sent to the attacker');
  assert.ok(srv.server.stats.connectionIds.unknown >= 1);
  assert.deepEqual(srv.received.map(String), ['real'], 'no forged or replayed payload was delivered');
  // The real client goes on from its own address.
  c.send(Buffer.from('still here'));
  assert.equal((await nextData(c)).toString(), 'still here');
});

test('only the newest authentic record moves a session, and the unverified address gets no more bytes than it sent', async (t) => {
  // Our CID is longer than the server's, so each echo is 8 bytes larger than the record it answers.
  const { srv, relay, c } = await pskClientBehindRelay(t, 16);
  const other = await loopbackSocket(t);
  const heard: Buffer[] = [];
  other.on('message', (m) => heard.push(m));

  const got: string[] = [];
  c.on('data', (d: Buffer) => got.push(d.toString()));
  c.send(Buffer.from('a'));
  await nextData(c);
  const olderA = relay.upstream.at(-1)!;
  // An on-path observer keeps 'b' from the server and sends it from its own address first.
  relay.holdNext();
  c.send(Buffer.from('b'));
  await sleep(50);
  const b = relay.upstream.at(-1)!;
  c.send(Buffer.from('c'));
  await nextData(c);
  // 'a' from elsewhere: a replay, nothing moves. 'b' from elsewhere: authentic but older than 'c'.
  other.send(olderA, srv.port, '127.0.0.1');
  other.send(b, srv.port, '127.0.0.1');
  await sleep(150);
  assert.equal(srv.server.stats.connectionIds.addressUpdates, 0);
  assert.deepEqual(srv.received.map(String), ['a', 'c', 'b'], "'b' is delivered (it is authentic) but moves nothing");
  assert.equal(heard.length, 0, 'the echo of b went to the real address');
  assert.deepEqual(got, ['a', 'c', 'b']);

  // Now the newest record, sent from elsewhere before the real one: the session moves, but the
  // echo (larger than what came from there) is held back until that address proves itself.
  relay.holdNext();
  c.send(Buffer.from('d'));
  await sleep(50);
  other.send(relay.upstream.at(-1)!, srv.port, '127.0.0.1');
  await sleep(150);
  assert.equal(srv.server.stats.connectionIds.addressUpdates, 1);
  assert.equal(srv.server.stats.connectionIds.addressLimited, 1);
  assert.equal(heard.length, 0, 'no byte beyond the budget went to the unverified address');
  // The next authenticated record from there verifies it; the held echo goes out.
  relay.holdNext();
  c.send(Buffer.from('e'));
  await sleep(50);
  other.send(relay.upstream.at(-1)!, srv.port, '127.0.0.1');
  await sleep(150);
  assert.equal(heard.length, 2, 'the held echo of d and the echo of e');
  // The real client's next record (newest again) takes the session back.
  // Its echo is 8 bytes larger than 'f', so it waits for the client's next record ('g'), which
  // verifies the address.
  c.send(Buffer.from('f'));
  await sleep(100);
  assert.equal(srv.server.stats.connectionIds.addressUpdates, 2);
  assert.equal(srv.server.stats.connectionIds.addressLimited, 2);
  assert.deepEqual(got, ['a', 'c', 'b']);
  c.send(Buffer.from('g'));
  await sleep(100);
  assert.deepEqual(got, ['a', 'c', 'b', 'f', 'g'], 'd and e were answered at the other address only');
});

test('a client with a CID follows a server whose address changed (the server behind a NAT)', async (t) => {
  // Equal CID lengths both ways: an echo is exactly as large as the record it answers.
  const { relay, c } = await pskClientBehindRelay(t, 8);
  c.send(Buffer.from('x'));
  assert.equal((await nextData(c)).toString(), 'x');
  const newFront = await relay.rebindFront();
  c.send(Buffer.from('y'));
  assert.equal((await nextData(c)).toString(), 'y');
  assert.equal(c.remote.port, newFront, 'the client now sends to where the server answers from');
  const before = relay.upstream.length;
  c.send(Buffer.from('z'));
  assert.equal((await nextData(c)).toString(), 'z');
  assert.equal(relay.upstream.length, before + 1);
});

test('malformed tls12_cid datagrams are dropped and counted; the session goes on', async (t) => {
  const srv = await echoServer();
  t.after(() => srv.server.close());
  const c = await connect({
    host: '127.0.0.1',
    port: srv.port,
    psk: { identity: IDENTITY, key: KEY },
    connectionId: { length: 4 },
  });
  t.after(() => c.close());
  c.send(Buffer.from('1'));
  await nextData(c);
  const cid = c.connectionIds.peer!;
  const junk = await loopbackSocket(t);
  const header = (length: number) => {
    const h = Buffer.alloc(13 + cid.length);
    h[0] = ContentType.tls12_cid;
    h.writeUInt16BE(0xfefd, 1);
    h.writeUInt16BE(1, 3);
    h.writeUInt32BE(999, 7);
    cid.copy(h, 11);
    h.writeUInt16BE(length, 11 + cid.length);
    return h;
  };
  const datagrams = [
    Buffer.of(ContentType.tls12_cid),
    Buffer.from([ContentType.tls12_cid, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, ...cid.subarray(0, 3)]),
    header(500), // length beyond the datagram
    Buffer.concat([header(4), Buffer.alloc(4)]), // too short for CCM
    Buffer.concat([header(40), Buffer.alloc(40, 0xaa)]), // does not authenticate
  ];
  for (let i = 0; i < 50; i++)
    datagrams.push(
      Buffer.concat([header(32), Buffer.from(Array.from({ length: 32 }, () => (Math.random() * 256) | 0))]),
    );
  for (const d of datagrams) junk.send(d, srv.port, '127.0.0.1');
  await sleep(200);
  assert.equal(srv.server.stats.connectionIds.addressUpdates, 0);
  assert.ok(srv.server.stats.connectionIds.unknown + srv.server.stats.drops.malformed >= 3);
  c.send(Buffer.from('2'));
  assert.equal((await nextData(c)).toString(), '2');
  assert.equal(srv.server.stats.sessions, 1);
});

test('an evicted session gives up its CID: its records from a new address reach nothing', async (t) => {
  const srv = await echoServer({ maxSessions: 1 });
  t.after(() => srv.server.close());
  const relay = await startRebindingRelay({ targetHost: '127.0.0.1', targetPort: srv.port });
  t.after(() => relay.close());
  const psk = { identity: IDENTITY, key: KEY };
  const first = await connect({ host: '127.0.0.1', port: relay.port, psk, connectionId: { length: 4 } });
  first.send(Buffer.from('a'));
  await nextData(first);
  const closed = new Promise<void>((r) => first.once('close', r));
  const second = await connect({ host: '127.0.0.1', port: srv.port, psk, connectionId: { length: 4 } });
  t.after(() => second.close());
  await closed; // the close_notify of the eviction
  assert.equal(srv.server.stats.evictions.sessionCapacity, 1);
  // The evicted session's last record, replayed from a new port, names a CID nobody holds now.
  const last = relay.upstream.at(-1)!;
  assert.equal(last[0], ContentType.tls12_cid);
  await relay.rebind();
  await sleep(100); // the evicted client's own close_notify (a CID record too) has come and gone
  const before = srv.server.stats.connectionIds.unknown;
  const s = await loopbackSocket(t);
  s.send(last, srv.port, '127.0.0.1');
  await sleep(100);
  assert.equal(srv.server.stats.connectionIds.unknown, before + 1);
  second.send(Buffer.from('ok'));
  assert.equal((await nextData(second)).toString(), 'ok');
});

test('two servers share a port with reusePort; each CID starts with its node number', async (t) => {
  const a = await echoServer({ reusePort: true, connectionId: { length: 8, node: 1 } });
  t.after(() => a.server.close());
  const b = await echoServer({ port: a.port, reusePort: true, connectionId: { length: 8, node: 2 } });
  t.after(() => b.server.close());
  assert.equal(b.port, a.port);
  const psk = { identity: IDENTITY, key: KEY };
  const clients = await Promise.all(
    Array.from({ length: 8 }, () => connect({ host: '127.0.0.1', port: a.port, psk, connectionId: { length: 0 } })),
  );
  t.after(() => Promise.all(clients.map((c) => c.close())));
  for (const c of clients) {
    c.send(Buffer.from('n'));
    assert.equal((await nextData(c)).toString(), 'n');
  }
  // The kernel put each flow on one of the two; every CID names the server that holds it.
  for (const c of a.connections) assert.equal(c.connectionIds.own?.[0], 1);
  for (const c of b.connections) assert.equal(c.connectionIds.own?.[0], 2);
  assert.equal(a.connections.length + b.connections.length, 8);
  await assert.rejects(echoServer({ connectionId: { length: 4, node: 1 } }), /at least 5/);
});

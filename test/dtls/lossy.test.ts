/**
 * Our client ↔ our server through a relay that drops 30 % of datagrams, duplicates and reorders:
 * handshakes (full and resumed) and data both ways must still complete. Application data is not
 * retransmitted by DTLS, so the test retries each message until its echo comes back, as CoAP would.
 */
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { test } from 'node:test';
import {
  connect,
  type DtlsConnection,
  DtlsServer,
  loadTrustAnchors,
  ownCertificate,
  ownRawPublicKey,
  PinnedKeys,
} from '../../src/dtls/index.ts';
import { startLossyRelay } from '../support/lossy-relay.ts';
import { makeTempPki } from '../support/pki.ts';
import { echoServer, IDENTITY, KEY } from './helpers.ts';

async function roundTrip(c: DtlsConnection, text: string): Promise<void> {
  const want = Buffer.from(text);
  for (let attempt = 0; attempt < 40; attempt++) {
    const got = await new Promise<boolean>((resolve) => {
      const onData = (d: Buffer) => {
        if (d.equals(want)) {
          c.off('data', onData);
          clearTimeout(timer);
          resolve(true);
        }
      };
      const timer = setTimeout(() => {
        c.off('data', onData);
        resolve(false);
      }, 150);
      c.on('data', onData);
      c.send(want);
    });
    if (got) return;
  }
  throw new Error(`no echo for ${text}`);
}

for (const mtu of [1232, 64]) {
  test(`lossy link (30 % drop, duplicates, reordering), MTU ${mtu}: full and resumed handshakes, data both ways`, async (t) => {
    // At MTU 64 a long identity makes the ClientKeyExchange fragment too (the server's flight always does).
    const identity = mtu < 100 ? 'd'.repeat(100) : IDENTITY;
    const srv = await echoServer({
      retransmitInitialMs: 100,
      maxRetransmits: 12,
      mtu,
      psk: (id) => (id === identity ? KEY : undefined),
    });
    t.after(() => srv.server.close());
    const relay = await startLossyRelay({
      targetHost: '127.0.0.1',
      targetPort: srv.port,
      drop: 0.3,
      duplicate: 0.2,
      reorder: 0.2,
      seed: 0x5ec5e + mtu,
    });
    t.after(() => relay.close());
    const opts = {
      host: '127.0.0.1',
      port: relay.port,
      psk: { identity, key: KEY },
      retransmitInitialMs: 100,
      maxRetransmits: 12,
      mtu,
    };
    let session: DtlsConnection['session'] | undefined;
    for (let i = 0; i < 4; i++) {
      const c = await connect({ ...opts, session });
      assert.equal(c.resumed, i > 0, `connection ${i} resumed`);
      for (let k = 0; k < 3; k++) await roundTrip(c, `msg-${i}-${k}`);
      session = c.session;
      await c.close();
    }
    assert.ok(relay.stats.dropped > 0 && relay.stats.duplicated > 0 && relay.stats.reordered > 0);
    for (let i = 0; i < 4; i++)
      for (let k = 0; k < 3; k++) {
        assert.ok(srv.received.some((d) => d.toString() === `msg-${i}-${k}`));
      }
  });
}

for (const mode of ['rpk', 'x509'] as const) {
  test(`lossy link, MTU 256: ${mode} handshakes (fragmented flights) and data both ways`, async (t) => {
    const pki = await makeTempPki(t);
    const server = await DtlsServer.listen({
      host: '127.0.0.1',
      port: 0,
      mtu: 256,
      retransmitInitialMs: 150,
      maxRetransmits: 12,
      certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
      rpk: ownRawPublicKey(pki.rpkServer.keyPem),
      trust: { anchors: loadTrustAnchors(pki.root.certPem), pinnedKeys: new PinnedKeys([pki.rpkClient.spkiPem]) },
      clientAuth: 'need',
    });
    t.after(() => server.close());
    const identities: string[] = [];
    server.on('connection', (c: DtlsConnection) => {
      identities.push(c.identity.mode);
      c.on('data', (d: Buffer) => c.send(d));
    });
    const relay = await startLossyRelay({
      targetHost: '127.0.0.1',
      targetPort: server.address().port,
      drop: 0.3,
      duplicate: 0.2,
      reorder: 0.2,
      seed: mode === 'rpk' ? 7 : 11,
    });
    t.after(() => relay.close());
    const creds =
      mode === 'rpk'
        ? { rpk: ownRawPublicKey(pki.rpkClient.keyPem), trust: { pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]) } }
        : {
            certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
            trust: { anchors: loadTrustAnchors(pki.root.certPem), verifyName: false },
          };
    let session: DtlsConnection['session'] | undefined;
    for (let i = 0; i < 2; i++) {
      const c = await connect({
        host: '127.0.0.1',
        port: relay.port,
        mtu: 256,
        retransmitInitialMs: 150,
        maxRetransmits: 12,
        session,
        ...creds,
      });
      assert.equal(c.identity.mode, mode);
      assert.equal(c.resumed, i > 0);
      for (let k = 0; k < 3; k++) await roundTrip(c, `${mode}-${i}-${k}`);
      session = c.session;
      await c.close();
    }
    assert.ok(identities.includes(mode));
    assert.ok(relay.stats.dropped > 0);
  });
}

/** A relay that holds every client→server datagram back for `delayMs` (longer than a retransmission timeout). */
async function slowUplinkRelay(targetPort: number, delayMs: number) {
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  let client: RemoteInfo | undefined;
  let forwarded = 0;
  const timers = new Set<NodeJS.Timeout>();
  front.on('message', (m, r) => {
    client = r;
    const t = setTimeout(() => {
      timers.delete(t);
      forwarded++;
      back.send(m, targetPort, '127.0.0.1');
    }, delayMs);
    timers.add(t);
  });
  back.on('message', (m) => {
    const c = client;
    forwarded++;
    if (c) front.send(m, c.port, c.address);
  });
  await new Promise<void>((r) => front.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => back.bind(0, '127.0.0.1', () => r()));
  return {
    port: front.address().port,
    forwarded: () => forwarded,
    close: () => {
      for (const t of timers) clearTimeout(t);
      front.close();
      back.close();
    },
  };
}

test('retransmissions crossing a slow link end with the handshake (no endless ping-pong of flights)', async (t) => {
  const srv = await echoServer({ retransmitInitialMs: 100 });
  t.after(() => srv.server.close());
  // The server's timer fires before each client flight arrives, so both sides retransmit.
  const relay = await slowUplinkRelay(srv.port, 150);
  t.after(() => relay.close());
  const opts = { host: '127.0.0.1', port: relay.port, psk: { identity: IDENTITY, key: KEY }, retransmitInitialMs: 100 };
  const full = await connect(opts);
  await new Promise((r) => setTimeout(r, 300));
  const resumed = await connect({ ...opts, session: full.session });
  assert.equal(resumed.resumed, true);
  await new Promise((r) => setTimeout(r, 600));
  const settled = relay.forwarded();
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(relay.forwarded(), settled, 'no datagrams once both handshakes are done');
  await resumed.close();
  await full.close();
});

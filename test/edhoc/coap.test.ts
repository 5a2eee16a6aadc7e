/**
 * EDHOC over CoAP (RFC 9528 Appendix A.2) between our CoAP client and server on loopback.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { CoapClient, CoapServer, UdpTransport } from '../../src/coap/index.ts';
import { CF_CID_EDHOC, CF_EDHOC, EDHOC_PATH, EdhocResource, edhocOverCoap } from '../../src/edhoc/coap.ts';
import { authKeyOf, ccsCredential, knownCredentials } from '../../src/edhoc/credentials.ts';
import { EdhocPeerError } from '../../src/edhoc/errors.ts';
import { EdhocInitiator } from '../../src/edhoc/initiator.ts';
import { decodeError } from '../../src/edhoc/messages.ts';
import type { EdhocSession } from '../../src/edhoc/session.ts';

function signer(kid: number) {
  const kp = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    cred: ccsCredential({ kid: Buffer.from([kid]), publicKey: authKeyOf(kp.publicKey) }),
    key: { kind: 'signature' as const, key: kp.privateKey },
  };
}

async function lab(t: { after(f: () => unknown): void }, opts: { suites?: number[]; maxPending?: number } = {}) {
  const i = signer(0x01);
  const r = signer(0x02);
  const sessions: EdhocSession[] = [];
  const resource = new EdhocResource({
    suites: opts.suites ?? [2],
    credential: r.cred,
    authKey: r.key,
    peers: knownCredentials([i.cred]),
    sendMessage4: true,
    maxPending: opts.maxPending,
    onSession: (s) => sessions.push(s),
  });
  const server = new CoapServer();
  resource.register(server);
  const tr = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(tr);
  const client = new CoapClient();
  t.after(async () => {
    await client.close();
    await server.close();
  });
  const uri = `coap://127.0.0.1:${tr.address().port}${EDHOC_PATH}`;
  const clientOpts = { method: 0, suites: [2], credential: i.cred, authKey: i.key, peers: knownCredentials([r.cred]) };
  return { resource, client, uri, sessions, clientOpts };
}

test('a key exchange over CoAP gives both ends the same OSCORE context', async (t) => {
  const { client, uri, sessions, clientOpts, resource } = await lab(t);
  const s = await edhocOverCoap(client, uri, clientOpts);
  assert.equal(sessions.length, 1);
  const a = s.oscore();
  const b = sessions[0].oscore();
  assert.deepEqual(a.masterSecret, b.masterSecret);
  assert.deepEqual(a.masterSalt, b.masterSalt);
  assert.deepEqual(a.senderId, b.recipientId);
  assert.deepEqual(a.recipientId, b.senderId);
  assert.deepEqual(resource.stats, { started: 1, completed: 1, failed: 0, evicted: 0, expired: 0, pending: 0 });
});

test('a suite the server does not support is renegotiated through ERR_CODE 2', async (t) => {
  const { client, uri, clientOpts, resource } = await lab(t, { suites: [2] });
  const s = await edhocOverCoap(client, uri, { ...clientOpts, suites: [2, 0] });
  assert.equal(s.suite.id, 2);
  assert.equal(resource.stats.failed, 1);
  await assert.rejects(
    edhocOverCoap(client, uri, { ...clientOpts, suites: [2, 0], retrySuites: false }),
    (e: unknown) => e instanceof EdhocPeerError && e.errCode === 2,
  );
});

test('bad requests get 4.00 with an EDHOC error message; pending exchanges are bounded', async (t) => {
  const { client, uri, resource, clientOpts } = await lab(t, { maxPending: 2 });
  const garbage = await client.post(uri, Buffer.from([0xf5, 0xff, 0x00]), { contentFormat: CF_CID_EDHOC });
  assert.equal(garbage.status, '4.00');
  assert.equal(garbage.contentFormat, CF_EDHOC);
  assert.equal(decodeError(garbage.payload).errCode, 1);
  const stray = await client.post(uri, Buffer.from([0x10, 0x41, 0x00]), { contentFormat: CF_CID_EDHOC });
  assert.equal(stray.status, '4.00');
  assert.match(decodeError(stray.payload).diagnostic ?? '', /no EDHOC exchange with C_R/);
  // Three message_1 with no message_3: the oldest is evicted, visibly.
  for (let n = 0; n < 3; n++) {
    const m1 = new EdhocInitiator({ ...clientOpts, connectionId: Buffer.from([0x05]) }).message1();
    const r = await client.post(uri, Buffer.concat([Buffer.from([0xf5]), m1]), { contentFormat: CF_CID_EDHOC });
    assert.equal(r.status, '2.04');
  }
  assert.equal(resource.stats.pending, 2);
  assert.equal(resource.stats.evicted, 1);
});

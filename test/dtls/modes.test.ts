/** One server port takes PSK, RPK and X.509 clients side by side, each with the right identity. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  connect,
  DtlsAlertError,
  type DtlsConnection,
  DtlsServer,
  loadTrustAnchors,
  ownCertificate,
  ownRawPublicKey,
  PinnedKeys,
} from '../../src/dtls/index.ts';
import { makeTempPki } from '../support/pki.ts';
import { IDENTITY, KEY, nextData } from './helpers.ts';

test('PSK, RPK and X.509 handshakes at once on one port, each reported with its identity', async (t) => {
  const pki = await makeTempPki(t);
  const server = await DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === IDENTITY ? KEY : undefined),
    certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
    rpk: ownRawPublicKey(pki.rpkServer.keyPem),
    trust: { anchors: loadTrustAnchors(pki.root.certPem), pinnedKeys: new PinnedKeys([pki.rpkClient.spkiPem]) },
    clientAuth: 'need',
  });
  t.after(() => server.close());
  const seen: DtlsConnection[] = [];
  server.on('connection', (c: DtlsConnection) => {
    seen.push(c);
    c.on('data', (d: Buffer) => c.send(Buffer.concat([Buffer.from(`${c.identity.mode}:`), d])));
  });
  const port = server.address().port;
  const [psk, rpk, x509] = await Promise.all([
    connect({ host: '127.0.0.1', port, psk: { identity: IDENTITY, key: KEY } }),
    connect({
      host: '127.0.0.1',
      port,
      rpk: ownRawPublicKey(pki.rpkClient.keyPem),
      trust: { pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]) },
    }),
    connect({
      host: 'localhost',
      port,
      certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
      trust: { anchors: loadTrustAnchors(pki.root.certPem) },
    }),
  ]);
  assert.equal(psk.cipherSuite, 'TLS_PSK_WITH_AES_128_CCM_8');
  assert.equal(rpk.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');
  assert.equal(x509.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8');
  // What each client learnt about the server.
  assert.deepEqual(psk.identity, { mode: 'psk', identity: IDENTITY });
  assert.equal(rpk.identity.mode === 'rpk' && rpk.identity.fingerprint, pki.rpkServer.fingerprint);
  assert.equal(x509.identity.mode === 'x509' && x509.identity.subject, 'CN=localhost');
  for (const [c, want] of [
    [psk, 'psk:a'],
    [rpk, 'rpk:b'],
    [x509, 'x509:c'],
  ] as const) {
    const echo = nextData(c);
    c.send(Buffer.from(want.slice(-1)));
    assert.equal((await echo).toString(), want);
  }
  // What the server learnt about each client.
  const byMode = new Map(seen.map((c) => [c.identity.mode, c.identity]));
  assert.deepEqual(byMode.get('psk'), { mode: 'psk', identity: IDENTITY });
  const r = byMode.get('rpk');
  assert.ok(r?.mode === 'rpk' && r.fingerprint === pki.rpkClient.fingerprint && r.spki.equals(pki.rpkClient.spkiDer));
  const x = byMode.get('x509');
  assert.ok(x?.mode === 'x509' && x.subject === 'CN=device-1' && x.chain.length === 2 && x.fingerprint.length === 64);
  // Resumption keeps the identity on both sides (RPK and X.509 sessions).
  for (const [c, mode] of [
    [rpk, 'rpk'],
    [x509, 'x509'],
  ] as const) {
    const session = c.session;
    const before = c.identity;
    await c.close();
    const serverSide = new Promise<DtlsConnection>((resolve) => server.once('connection', resolve));
    const again = await connect({
      host: mode === 'x509' ? 'localhost' : '127.0.0.1',
      port,
      session,
      ...(mode === 'rpk'
        ? {
            rpk: ownRawPublicKey(pki.rpkClient.keyPem),
            trust: { pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]) },
          }
        : {
            certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
            trust: { anchors: loadTrustAnchors(pki.root.certPem) },
          }),
    });
    assert.equal(again.resumed, true);
    assert.deepEqual(again.identity, before);
    const s = await serverSide;
    assert.equal(s.resumed, true);
    assert.deepEqual(s.identity, byMode.get(mode));
    await again.close();
  }
  await psk.close();
});

test('client authentication: want accepts a client without a certificate, need refuses it', async (t) => {
  const pki = await makeTempPki(t);
  const trust = { anchors: loadTrustAnchors(pki.root.certPem) };
  for (const clientAuth of ['none', 'want', 'need'] as const) {
    const server = await DtlsServer.listen({
      host: '127.0.0.1',
      port: 0,
      certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
      trust,
      clientAuth,
    });
    const port = server.address().port;
    const anonymous = connect({ host: 'localhost', port, trust });
    if (clientAuth === 'need') {
      await assert.rejects(
        anonymous,
        (e: unknown) => e instanceof DtlsAlertError && !e.sent && /handshake_failure/.test(e.message),
      );
    } else {
      const c = await anonymous;
      assert.equal(c.identity.mode, 'x509');
      await c.close();
    }
    // With a certificate, every policy but 'none' learns who the client is.
    const got = new Promise<DtlsConnection>((resolve) => server.once('connection', resolve));
    const c = await connect({
      host: 'localhost',
      port,
      trust,
      certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
    });
    const sc = await got;
    assert.equal(sc.identity.mode === 'x509' && sc.identity.subject, clientAuth === 'none' ? '' : 'CN=device-1');
    await c.close();
    await server.close();
  }
});

test('the client checks the server name: a certificate for localhost does not pass for another name', async (t) => {
  const pki = await makeTempPki(t);
  const server = await DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
  });
  t.after(() => server.close());
  const port = server.address().port;
  const anchors = loadTrustAnchors(pki.root.certPem);
  await assert.rejects(
    connect({ host: '127.0.0.1', port, serverName: 'other.example', trust: { anchors } }),
    (e: unknown) => e instanceof DtlsAlertError && e.sent && /bad_certificate/.test(e.message),
  );
  const c = await connect({
    host: '127.0.0.1',
    port,
    serverName: 'other.example',
    trust: { anchors, verifyName: false },
  });
  await c.close();
  const byIp = await connect({ host: '127.0.0.1', port, trust: { anchors } });
  await byIp.close();
});

test('the meter sees the RPK flights and their P-256 operations (client side, client auth)', async (t) => {
  const pki = await makeTempPki(t, { intermediate: false });
  const server = await DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    rpk: ownRawPublicKey(pki.rpkServer.keyPem),
    trust: { pinnedKeys: new PinnedKeys([pki.rpkClient.spkiPem]) },
    clientAuth: 'need',
  });
  t.after(() => server.close());
  const messages: string[] = [];
  const ops = new Map<string, number>();
  const c = await connect({
    host: '127.0.0.1',
    port: server.address().port,
    rpk: ownRawPublicKey(pki.rpkClient.keyPem),
    trust: { pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]) },
    meter: {
      handshakeMessage: (dir, type) => messages.push(`${dir}:${type}`),
      record: () => {},
      crypto: (op, n) => ops.set(op, (ops.get(op) ?? 0) + n),
    },
  });
  await c.close();
  assert.deepEqual(messages, [
    'out:client_hello',
    'in:hello_verify_request',
    'out:client_hello',
    'in:server_hello',
    'in:certificate',
    'in:server_key_exchange',
    'in:certificate_request',
    'in:server_hello_done',
    'out:certificate',
    'out:client_key_exchange',
    'out:certificate_verify',
    'out:finished',
    'in:finished',
  ]);
  assert.equal(ops.get('ecdh_keygen'), 1);
  assert.equal(ops.get('ecdh_agree'), 1);
  assert.equal(ops.get('ecdsa_sign'), 1);
  assert.equal(ops.get('ecdsa_verify'), 1);
});

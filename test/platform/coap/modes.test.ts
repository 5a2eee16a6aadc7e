/**
 * Devices in the public-key modes: a raw-public-key device and an X.509 device (by name
 * under a CA, and a self-signed one pinned) post over coaps:// with our own client and the points
 * appear over HTTP; an untrusted key and an untrusted certificate fail the handshake; a PSK device
 * still connects to the same port.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CoapClient, ContentFormat } from '../../../src/coap/index.ts';
import { loadTrustAnchors, ownCertificate, ownRawPublicKey, PinnedKeys } from '../../../src/dtls/credentials/index.ts';
import { DtlsAlertError } from '../../../src/dtls/index.ts';
import { createCa } from '../../../src/pki/index.ts';
import { makeTempPki } from '../../support/pki.ts';
import { target } from '../engines.ts';
import { call, newResource, newUser } from '../helpers.ts';
import { bindPsk, client, startCoapPlatform } from './helpers.ts';

const JSON_CF = { contentFormat: ContentFormat['application/json'] };

test('RPK, X.509 and PSK devices on one coaps:// port; untrusted keys and certificates fail the handshake', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const pki = await makeTempPki(t);
  const p = await startCoapPlatform(t, tg, {
    certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
    rpk: ownRawPublicKey(pki.rpkServer.keyPem),
  });
  const { uid, token } = await newUser(p.base, 'ann');
  const rRpk = await newResource(p.base, uid, token, 'rpk');
  const rX509 = await newResource(p.base, uid, token, 'x509');
  const rPin = await newResource(p.base, uid, token, 'pinned');
  const rPsk = await newResource(p.base, uid, token, 'psk');
  const bind = async (rid: number, body: Record<string, unknown>) => {
    const r = await call(p.base, 'POST', `/users/${uid}/resources/${rid}/devices`, { token, body });
    assert.equal(r.status, 201, r.text);
  };
  await bind(rRpk.rid, { mode: 'rpk', rpk: pki.rpkClient.spkiPem });
  await bind(rX509.rid, { mode: 'x509', x509_name: 'CN=device-1', x509_ca: pki.root.certPem });
  const self = await createCa({ cn: 'self-signed-device' });
  await bind(rPin.rid, { mode: 'x509', x509_certificate: self.certPem });
  const pskKey = await bindPsk(p.base, token, uid, rPsk.rid, 'psk-dev');

  const serverTrust = {
    pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]),
    anchors: loadTrustAnchors(pki.root.certPem),
  };
  const short = { maxRetransmits: 1, retransmitInitialMs: 300 };
  const devices: Array<[string, number, CoapClient]> = [
    ['rpk', rRpk.rid, client(t, { security: { rpk: ownRawPublicKey(pki.rpkClient.keyPem), trust: serverTrust } })],
    [
      'x509',
      rX509.rid,
      client(t, {
        security: { certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem), trust: serverTrust },
      }),
    ],
    [
      'pinned',
      rPin.rid,
      client(t, { security: { certificate: ownCertificate(self.keyPem, self.certPem), trust: serverTrust } }),
    ],
    ['psk', rPsk.rid, client(t, { security: { psk: { identity: 'psk-dev', key: pskKey } } })],
  ];
  for (const [mode, rid, c] of devices) {
    const res = await c.post(
      `${p.coapsBase}/users/${uid}/resources/${rid}/data`,
      JSON.stringify({ v: rid * 10 }),
      JSON_CF,
    );
    assert.equal(res.status, '2.04', `${mode}: ${res.payload.toString()}`);
    assert.ok(res.peer.identity, 'the server proved itself');
    const streams = await call(p.base, 'GET', `/users/${uid}/resources/${rid}/streams`, { token });
    const data = await call(p.base, 'GET', `/users/${uid}/resources/${rid}/streams/${streams.json[0].id}/data`, {
      token,
    });
    assert.deepEqual(
      data.json.points.map((x: { value: number }) => x.value),
      [rid * 10],
      mode,
    );
    // …and each is refused on a resource it is not bound to.
    const other = rid === rPsk.rid ? rRpk.rid : rPsk.rid;
    const refused = await c.post(`${p.coapsBase}/users/${uid}/resources/${other}/data`, '{"v":1}', JSON_CF);
    assert.equal(refused.status, '4.03', mode);
  }

  // Untrusted: a key bound nowhere, a certificate from another CA, a self-signed one not pinned.
  const stranger = await createCa({ cn: 'stranger' });
  const untrusted: Array<[string, CoapClient]> = [
    [
      'rpk stranger',
      client(t, { security: { rpk: ownRawPublicKey(pki.rpkStranger.keyPem), trust: serverTrust, ...short } }),
    ],
    [
      'x509 from another CA',
      client(t, {
        security: {
          certificate: ownCertificate(pki.untrusted.keyPem, pki.untrusted.chainPem),
          trust: serverTrust,
          ...short,
        },
      }),
    ],
    [
      'self-signed, not pinned',
      client(t, {
        security: { certificate: ownCertificate(stranger.keyPem, stranger.certPem), trust: serverTrust, ...short },
      }),
    ],
  ];
  for (const [what, c] of untrusted) {
    await assert.rejects(
      c.post(`${p.coapsBase}/users/${uid}/resources/${rRpk.rid}/data`, '{"v":1}', JSON_CF),
      (err: Error) => {
        assert.ok(err instanceof DtlsAlertError, `${what}: ${err.name} ${err.message}`);
        return true;
      },
    );
  }

  // A certificate from the bound CA with a name bound nowhere passes the handshake but acts as nothing.
  const other = await pki.issue('device-9', { usage: 'client' });
  const anon = client(t, {
    security: { certificate: ownCertificate(other.keyPem, other.chainPem), trust: serverTrust },
  });
  const r = await anon.post(`${p.coapsBase}/users/${uid}/resources/${rX509.rid}/data`, '{"v":1}', JSON_CF);
  assert.equal(r.status, '4.01');

  // Unpinning the self-signed device removes it from the trust anchors at once.
  const creds = await call(p.base, 'GET', `/users/${uid}/resources/${rPin.rid}/devices`, { token });
  assert.equal(
    (await call(p.base, 'DELETE', `/users/${uid}/resources/${rPin.rid}/devices/${creds.json[0].id}`, { token })).status,
    204,
  );
  const again = client(t, {
    security: { certificate: ownCertificate(self.keyPem, self.certPem), trust: serverTrust, ...short },
  });
  await assert.rejects(
    again.post(`${p.coapsBase}/users/${uid}/resources/${rPin.rid}/data`, '{"v":2}', JSON_CF),
    DtlsAlertError,
  );
});

/**
 * RFC 7250 on REAL bytes: gnutls-cli and gnutls-serv run a raw-public-key DTLS 1.2 handshake
 * (ECDHE-ECDSA, AES-128-CCM-8) through a recording UDP relay, and we decode the plaintext flights
 * with our codecs: the certificate-type extensions (a LIST in the ClientHello, ONE byte in the
 * ServerHello, RFC 7250 §4), the RPK Certificate form (a bare SubjectPublicKeyInfo, §3) on both
 * sides, the ServerKeyExchange signed by the server's raw key, the CertificateRequest, and the
 * client's CertificateVerify over the DTLS transcript. gnutls-serv then refuses the client's key
 * (it cannot verify raw keys): the bytes we check were all sent before that.
 */
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { test } from 'node:test';
import { PinnedKeys, verifyRawPublicKey } from '../../../src/dtls/credentials/rpk.ts';
import { checkCertificateVerify, checkServerKeyExchange } from '../../../src/dtls/crypto/ecc.ts';
import { Reader } from '../../../src/dtls/wire/buffer.ts';
import { parseCertificate } from '../../../src/dtls/wire/certificate.ts';
import { ClientCertificateType, parseCertificateRequest } from '../../../src/dtls/wire/certificate-request.ts';
import {
  CertificateType,
  EXT_CLIENT_CERTIFICATE_TYPE,
  EXT_SERVER_CERTIFICATE_TYPE,
  parseCertificateTypeList,
  parseCertificateTypeSelected,
} from '../../../src/dtls/wire/extensions-ecc.ts';
import { gnutlsCli, gnutlsRpkArgs, startGnutlsServ } from '../../support/dtls-peers.ts';
import { requireBinary } from '../../support/peers.ts';
import { makeTempPki } from '../../support/pki.ts';

interface Msg {
  dir: 'c2s' | 's2c';
  type: number;
  bytes: Buffer;
  body: Buffer;
}

/** Plaintext (epoch 0) handshake messages from DTLS datagrams; whole messages only (none is fragmented here). */
function decode(datagrams: Array<{ dir: 'c2s' | 's2c'; data: Buffer }>): Msg[] {
  const out: Msg[] = [];
  const seen = new Set<string>();
  for (const { dir, data } of datagrams) {
    const r = new Reader(data, 'datagram');
    while (r.remaining > 0) {
      const contentType = r.u8();
      r.u16();
      const epoch = r.u16();
      r.u48();
      const fragment = r.vec16('record');
      if (contentType !== 22 || epoch !== 0) continue;
      const h = new Reader(fragment, 'handshake');
      while (h.remaining > 0) {
        const start = h.offset;
        const type = h.u8();
        const length = h.u24();
        const seq = h.u16();
        const off = h.u24();
        const fragLength = h.u24();
        assert.equal(off, 0);
        assert.equal(fragLength, length);
        const body = h.bytes(length);
        const key = `${dir}:${seq}:${type}`;
        if (seen.has(key)) continue; // a retransmission
        seen.add(key);
        out.push({ dir, type, bytes: fragment.subarray(start, h.offset), body });
      }
    }
  }
  return out;
}

function helloExtensions(body: Buffer, isClient: boolean): Map<number, Buffer> {
  const r = new Reader(body, 'hello');
  r.bytes(2 + 32);
  r.vec8('session_id');
  if (isClient) {
    r.vec8('cookie');
    r.vec16('cipher_suites');
    r.vec8('compression_methods');
  } else {
    r.u16('cipher_suite');
    r.u8('compression_method');
  }
  const ext = new Reader(r.vec16('extensions'), 'extensions');
  const map = new Map<number, Buffer>();
  while (ext.remaining > 0) map.set(ext.u16(), ext.vec16());
  return map;
}

test('a GnuTLS raw-public-key handshake, decoded and re-checked with our code', async (t) => {
  if (!requireBinary(t, 'gnutls-serv') || !requireBinary(t, 'gnutls-cli')) return;
  const pki = await makeTempPki(t, { intermediate: false });
  const { port: serverPort } = await startGnutlsServ(t, [...gnutlsRpkArgs(pki.rpkServer), '--verify-client-cert']);

  // The recording relay.
  const relay = createSocket('udp4');
  const datagrams: Array<{ dir: 'c2s' | 's2c'; data: Buffer }> = [];
  let clientAddr: RemoteInfo | undefined;
  relay.on('message', (data, from) => {
    if (from.port === serverPort) {
      datagrams.push({ dir: 's2c', data });
      if (clientAddr) relay.send(data, clientAddr.port, clientAddr.address);
    } else {
      clientAddr = from;
      datagrams.push({ dir: 'c2s', data });
      relay.send(data, serverPort, '127.0.0.1');
    }
  });
  await new Promise<void>((r) => relay.bind(0, '127.0.0.1', () => r()));
  t.after(() => relay.close());

  const client = gnutlsCli(t, relay.address().port, [...gnutlsRpkArgs(pki.rpkClient), '--insecure']);
  await client.waitFor(/Successfully sent 1 certificate|Received alert/, 15_000);
  await client.exited.catch(() => undefined);

  const msgs = decode(datagrams);
  const find = (dir: 'c2s' | 's2c', type: number, last = false) => {
    const all = msgs.filter((m) => m.dir === dir && m.type === type);
    const m = last ? all.at(-1) : all[0];
    assert.ok(m, `no ${dir} handshake message of type ${type}; got ${msgs.map((x) => `${x.dir}:${x.type}`).join(' ')}`);
    return m;
  };
  const clientHello = find('c2s', 1, true); // the one after HelloVerifyRequest
  const serverHello = find('s2c', 2);

  // RFC 7250 §4: lists in the ClientHello, single bytes in the ServerHello.
  const ch = helloExtensions(clientHello.body, true);
  assert.deepEqual(parseCertificateTypeList(ch.get(EXT_CLIENT_CERTIFICATE_TYPE)!), [CertificateType.RawPublicKey]);
  assert.deepEqual(parseCertificateTypeList(ch.get(EXT_SERVER_CERTIFICATE_TYPE)!), [CertificateType.RawPublicKey]);
  const sh = helloExtensions(serverHello.body, false);
  assert.equal(parseCertificateTypeSelected(sh.get(EXT_CLIENT_CERTIFICATE_TYPE)!), CertificateType.RawPublicKey);
  assert.equal(parseCertificateTypeSelected(sh.get(EXT_SERVER_CERTIFICATE_TYPE)!), CertificateType.RawPublicKey);

  // The server's RPK Certificate is its SPKI as our tooling wrote it; pin it, verify ServerKeyExchange.
  const serverCert = parseCertificate(find('s2c', 11).body, CertificateType.RawPublicKey);
  assert.deepEqual(serverCert, { type: 'rpk', spki: pki.rpkServer.spkiDer });
  const serverKey = await verifyRawPublicKey(pki.rpkServer.spkiDer, {
    pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]),
  });
  assert.equal(serverKey.identity.mode === 'rpk' && serverKey.identity.fingerprint, pki.rpkServer.fingerprint);
  checkServerKeyExchange(
    find('s2c', 12).body,
    serverKey.publicKey,
    clientHello.body.subarray(2, 34),
    serverHello.body.subarray(2, 34),
  );

  // CertificateRequest: ecdsa_sign, no CA names (there are no CAs with raw keys).
  const req = parseCertificateRequest(find('s2c', 13).body);
  assert.ok(req.certificateTypes.includes(ClientCertificateType.ecdsa_sign));
  assert.deepEqual(req.certificateAuthorities, []);

  // The client's RPK and its CertificateVerify over the DTLS transcript.
  const clientCert = parseCertificate(find('c2s', 11).body, CertificateType.RawPublicKey);
  assert.deepEqual(clientCert, { type: 'rpk', spki: pki.rpkClient.spkiDer });
  const clientKey = await verifyRawPublicKey(pki.rpkClient.spkiDer, {
    pinnedKeys: new PinnedKeys([pki.rpkClient.fingerprint]),
  });
  const cv = find('c2s', 15);
  const transcript = Buffer.concat(msgs.slice(msgs.indexOf(clientHello), msgs.indexOf(cv)).map((m) => m.bytes));
  checkCertificateVerify(cv.body, clientKey.publicKey, transcript);
});

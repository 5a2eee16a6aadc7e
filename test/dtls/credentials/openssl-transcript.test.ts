/**
 * Our codecs, key-exchange helpers and chain verification on REAL bytes: an OpenSSL client and
 * server complete a mutually authenticated DTLS 1.2 ECDHE-ECDSA-AES128-CCM8 handshake, `s_client
 * -msg` dumps every handshake message, and we re-check the handshake from the dump:
 * ClientHello's ECC extensions, the server's Certificate chain, the ServerKeyExchange signature
 * over both randoms, the CertificateRequest's types, algorithms and CA names, the client's
 * ClientKeyExchange point and its CertificateVerify over the DTLS transcript (RFC 6347 §4.2.6:
 * the first ClientHello and the HelloVerifyRequest are left out; the DTLS handshake headers are in).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  certificatesFromPem,
  loadTrustAnchors,
  trustAnchorNames,
  verifyCertificateChain,
} from '../../../src/dtls/credentials/x509.ts';
import {
  checkCertificateVerify,
  checkServerKeyExchange,
  ecdhSharedSecret,
  generateEcdhKeyPair,
} from '../../../src/dtls/crypto/ecc.ts';
import { Reader } from '../../../src/dtls/wire/buffer.ts';
import { parseCertificate } from '../../../src/dtls/wire/certificate.ts';
import { ClientCertificateType, parseCertificateRequest } from '../../../src/dtls/wire/certificate-request.ts';
import { parseClientKeyExchangeEcdhe } from '../../../src/dtls/wire/client-key-exchange-ecdhe.ts';
import {
  CertificateType,
  ECDSA_SHA256,
  EXT_EC_POINT_FORMATS,
  EXT_SIGNATURE_ALGORITHMS,
  EXT_SUPPORTED_GROUPS,
  NamedGroup,
  parseEcPointFormats,
  parseSignatureAlgorithms,
  parseSupportedGroups,
} from '../../../src/dtls/wire/extensions-ecc.ts';
import { opensslDtlsClient, startOpensslDtlsServer } from '../../support/dtls-peers.ts';
import { requireBinary } from '../../support/peers.ts';
import { makeTempPki } from '../../support/pki.ts';
import { sleep } from '../../support/ports.ts';

interface DumpedMessage {
  dir: 'out' | 'in';
  /** The handshake message with its 12-byte DTLS header. */
  bytes: Buffer;
  type: number;
  body: Buffer;
}

/** Handshake messages (content type 22) from `openssl s_client -msg` output, in order. */
function handshakeMessages(dump: string): DumpedMessage[] {
  const out: DumpedMessage[] = [];
  const lines = dump.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^(>>>|<<<) .*content_type=22\) \[length ([0-9a-f]+)\]/.exec(lines[i]);
    if (!m) continue;
    const hex: string[] = [];
    while (i + 1 < lines.length && /^ {4}[0-9a-f]{2}( [0-9a-f]{2})*\s*$/.test(lines[i + 1]))
      hex.push(lines[++i].trim());
    const bytes = Buffer.from(hex.join('').replace(/\s+/g, ''), 'hex');
    assert.equal(bytes.length, Number.parseInt(m[2], 16), 'dump length');
    const r = new Reader(bytes, 'handshake');
    const type = r.u8();
    const length = r.u24();
    r.u16(); // message_seq
    const fragmentOffset = r.u24();
    const fragmentLength = r.u24();
    assert.equal(fragmentOffset, 0, 'OpenSSL dumps whole messages');
    assert.equal(fragmentLength, length);
    out.push({ dir: m[1] === '>>>' ? 'out' : 'in', bytes, type, body: r.bytes(length) });
  }
  return out;
}

/** The extensions of a ClientHello body (RFC 6347 §4.2.1: the cookie follows the session id). */
function clientHelloExtensions(body: Buffer): Map<number, Buffer> {
  const r = new Reader(body, 'client_hello');
  r.bytes(2 + 32);
  r.vec8('session_id');
  r.vec8('cookie');
  r.vec16('cipher_suites');
  r.vec8('compression_methods');
  const ext = new Reader(r.vec16('extensions'), 'extensions');
  const map = new Map<number, Buffer>();
  while (ext.remaining > 0) map.set(ext.u16(), ext.vec16());
  return map;
}

test('an OpenSSL mutual-auth DTLS handshake, re-checked message by message with our code', async (t) => {
  if (!requireBinary(t, 'openssl')) return;
  const pki = await makeTempPki(t);
  const { peer: server, port } = await startOpensslDtlsServer(t, {
    cert: { cert: pki.server.cert, key: pki.server.key, chain: pki.issuer.cert },
    caFile: pki.root.cert,
    requireClientCert: true,
  });
  await sleep(100);
  // x509 mode offers only P-256, the one curve our suite uses (RFC 7251); OpenSSL would pick X25519 first.
  const client = opensslDtlsClient(t, port, {
    cert: { cert: pki.device.cert, key: pki.device.key, chain: pki.issuer.cert },
    caFile: pki.root.cert,
    verifyReturnError: true,
    args: ['-msg'],
  });
  await client.waitFor(/Verify return code: 0 \(ok\)/, 15_000);
  await server.waitFor('subject=CN = device-1', 10_000);

  const msgs = handshakeMessages(client.stdout());
  const find = (dir: 'out' | 'in', type: number, nth = 0) => {
    const m = msgs.filter((x) => x.dir === dir && x.type === type)[nth];
    assert.ok(m, `no ${dir} handshake message of type ${type}`);
    return m;
  };
  const hvr = msgs.findIndex((m) => m.type === 3);
  // The ClientHello that counts is the one after the HelloVerifyRequest, when there is one.
  const clientHello = hvr >= 0 ? find('out', 1, 1) : find('out', 1);
  const serverHello = find('in', 2);
  const clientRandom = clientHello.body.subarray(2, 34);
  const serverRandom = serverHello.body.subarray(2, 34);

  // ClientHello: the ECC extensions in OpenSSL's own words.
  const ext = clientHelloExtensions(clientHello.body);
  assert.ok(parseSupportedGroups(ext.get(EXT_SUPPORTED_GROUPS)!).includes(NamedGroup.secp256r1));
  assert.ok(parseEcPointFormats(ext.get(EXT_EC_POINT_FORMATS)!).includes(0));
  assert.ok(
    parseSignatureAlgorithms(ext.get(EXT_SIGNATURE_ALGORITHMS)!).some((a) => a.hash === 4 && a.signature === 3),
  );

  // Server Certificate → chain verification → the key that must have signed ServerKeyExchange.
  const serverCert = parseCertificate(find('in', 11).body, CertificateType.X509);
  assert.equal(serverCert.type, 'x509');
  const anchors = loadTrustAnchors(pki.root.certPem);
  const chain = serverCert.type === 'x509' ? serverCert.certificateList : [];
  assert.deepEqual(chain, certificatesFromPem(pki.server.chainPem));
  const server509 = verifyCertificateChain(chain, { anchors, peerRole: 'server', serverName: 'localhost' });
  const { serverPoint } = checkServerKeyExchange(find('in', 12).body, server509.publicKey, clientRandom, serverRandom);
  assert.equal(serverPoint.length, 65);

  // CertificateRequest: ecdsa_sign, ecdsa_secp256r1_sha256, and our root's name as the CA.
  const req = parseCertificateRequest(find('in', 13).body);
  assert.ok(req.certificateTypes.includes(ClientCertificateType.ecdsa_sign));
  assert.ok(
    req.supportedSignatureAlgorithms.some(
      (a) => a.hash === ECDSA_SHA256.hash && a.signature === ECDSA_SHA256.signature,
    ),
  );
  assert.deepEqual(req.certificateAuthorities, trustAnchorNames(anchors));

  // The client's flight: Certificate, ClientKeyExchange (a valid P-256 point), CertificateVerify.
  const clientCert = parseCertificate(find('out', 11).body, CertificateType.X509);
  const device509 = verifyCertificateChain(clientCert.type === 'x509' ? clientCert.certificateList : [], {
    anchors,
    peerRole: 'client',
  });
  assert.equal(device509.identity.subject, 'CN=device-1');
  const { publicPoint } = parseClientKeyExchangeEcdhe(find('out', 16).body);
  assert.equal(ecdhSharedSecret(generateEcdhKeyPair(), publicPoint).length, 32);

  const cvIndex = msgs.indexOf(find('out', 15));
  const start = msgs.indexOf(clientHello);
  const transcript = Buffer.concat(msgs.slice(start, cvIndex).map((m) => m.bytes));
  checkCertificateVerify(find('out', 15).body, device509.publicKey, transcript);
  // Leaving the DTLS headers out (TLS's rule) must NOT verify: the headers are part of the DTLS transcript.
  const tlsStyle = Buffer.concat(
    msgs.slice(start, cvIndex).map((m) => Buffer.concat([m.bytes.subarray(0, 4), m.body])),
  );
  assert.throws(() => checkCertificateVerify(find('out', 15).body, device509.publicKey, tlsStyle));
});

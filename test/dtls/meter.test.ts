/**
 * The meter as the device model needs it: every crypto operation the engine performs is
 * reported by the code that performs it, named by message and purpose — the stateless cookie and
 * its HelloVerifyRequest, each PRF call, each signature of a peer's certificate chain.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verifyCertificateChain } from '../../src/dtls/credentials/index.ts';
import { certificatesFromPem } from '../../src/dtls/credentials/x509.ts';
import {
  type CryptoOp,
  type CryptoPurpose,
  connect,
  type DtlsMeter,
  DtlsServer,
  loadTrustAnchors,
  ownCertificate,
} from '../../src/dtls/index.ts';
import { createCa, issueCertificate } from '../../src/pki/index.ts';
import { echoServer, IDENTITY, KEY } from './helpers.ts';

interface Call {
  op: CryptoOp;
  count: number;
  context?: string;
  purpose?: CryptoPurpose;
}

function recordingMeter() {
  const calls: Call[] = [];
  const messages: string[] = [];
  const records: string[] = [];
  const meter: DtlsMeter = {
    handshakeMessage: (dir, type, bytes) => messages.push(`${dir}:${type}:${bytes}`),
    record: (dir, contentType, epoch) => records.push(`${dir}:${contentType}:${epoch}`),
    crypto: (op, count, context, purpose) => calls.push({ op, count, context, purpose }),
  };
  const sum = (f: (c: Call) => boolean) => calls.filter(f).reduce((n, c) => n + c.count, 0);
  return { meter, calls, messages, records, sum };
}

const psk = { identity: IDENTITY, key: KEY };

describe('the meter names every operation', () => {
  it('PSK: the server reports its HelloVerifyRequest and the cookie HMAC made and checked; each PRF call by purpose', async (t) => {
    const s = recordingMeter();
    const c = recordingMeter();
    const srv = await echoServer({ meter: s.meter });
    t.after(() => srv.server.close());
    const conn = await connect({ host: '127.0.0.1', port: srv.port, psk, meter: c.meter });
    await conn.close();

    // The stateless HelloVerifyRequest: a 32-byte cookie (body 2 + 1 + 32 bytes), then its record.
    assert.equal(s.messages[0], 'out:hello_verify_request:35');
    assert.equal(s.records[0], 'out:handshake:0');
    assert.deepEqual(
      s.calls.filter((x) => x.purpose === 'cookie'),
      [
        { op: 'hmac', count: 1, context: 'hello_verify_request', purpose: 'cookie' },
        { op: 'hmac', count: 1, context: 'client_hello', purpose: 'cookie' },
      ],
    );
    // The client computes no cookie.
    assert.equal(
      c.calls.some((x) => x.purpose === 'cookie'),
      false,
    );

    for (const side of [s, c]) {
      const prf = (p: CryptoPurpose) => side.sum((x) => x.op === 'prf' && x.purpose === p);
      const hmac = (p: CryptoPurpose) => side.sum((x) => x.op === 'hmac' && x.purpose === p);
      assert.equal(prf('master_secret'), 1);
      assert.equal(prf('key_block'), 1);
      assert.equal(prf('finished'), 2, 'the peer’s Finished and our own');
      assert.equal(
        side.sum((x) => x.op === 'prf'),
        4,
      );
      // P_SHA256 takes two HMACs per 32 bytes of output (RFC 5246 §5): 48-byte master secret,
      // 40-byte key block (2 × (16-byte key + 4-byte IV)), 12-byte verify_data.
      assert.equal(hmac('master_secret'), 4);
      assert.equal(hmac('key_block'), 4);
      assert.equal(hmac('finished'), 4);
      // The master secret and key block belong to ClientKeyExchange (prepared by the client,
      // processed by the server); with the extended master secret its session hash too.
      for (const x of side.calls.filter((x) => x.purpose === 'master_secret' || x.purpose === 'key_block')) {
        assert.equal(x.context, 'client_key_exchange');
      }
      assert.equal(
        side.calls.filter((x) => x.purpose === 'session_hash' && x.context === 'client_key_exchange').length,
        1,
      );
      assert.equal(side.calls.filter((x) => x.purpose === 'handshake_hash' && x.context === 'finished').length, 2);
      // Nothing anonymous: each call has a purpose, or names the message it serves.
      for (const x of side.calls) assert.ok(x.purpose || x.context, JSON.stringify(x));
      assert.ok(side.sum((x) => x.op === 'aes_block' && x.purpose === 'record') > 0);
    }
  });

  it('an abbreviated handshake derives no master secret; its key block belongs to the ServerHello', async (t) => {
    const srv = await echoServer();
    t.after(() => srv.server.close());
    const first = await connect({ host: '127.0.0.1', port: srv.port, psk });
    const session = first.session;
    await first.close();
    const c = recordingMeter();
    const again = await connect({ host: '127.0.0.1', port: srv.port, psk, session, meter: c.meter });
    assert.equal(again.resumed, true);
    await again.close();
    assert.equal(
      c.sum((x) => x.purpose === 'master_secret'),
      0,
    );
    assert.deepEqual(
      c.calls.filter((x) => x.op === 'prf' && x.purpose === 'key_block').map((x) => x.context),
      ['server_hello'],
    );
  });

  it('X.509 with an intermediate: each side reports both chain signatures it checks, on the Certificate', async (t) => {
    const root = await createCa({ cn: 'Meter Root' });
    const intermediate = await createCa({ cn: 'Meter Intermediate', parent: root });
    const server = await issueCertificate({ ca: intermediate, cn: 'cloud', ip: ['127.0.0.1'], usage: 'server' });
    const device = await issueCertificate({ ca: intermediate, cn: 'device', usage: 'client' });
    const anchors = loadTrustAnchors(root.certPem);
    const s = recordingMeter();
    const c = recordingMeter();
    const srv = await DtlsServer.listen({
      host: '127.0.0.1',
      port: 0,
      certificate: ownCertificate(server.keyPem!, server.chainPem),
      trust: { anchors },
      clientAuth: 'need',
      meter: s.meter,
    });
    t.after(() => srv.close());
    const conn = await connect({
      host: '127.0.0.1',
      port: srv.address().port,
      certificate: ownCertificate(device.keyPem!, device.chainPem),
      trust: { anchors },
      meter: c.meter,
    });
    assert.equal(conn.identity.mode, 'x509');
    await conn.close();
    for (const [side, other] of [
      [s, 'certificate_verify'],
      [c, 'server_key_exchange'],
    ] as const) {
      const chain = side.calls.filter((x) => x.purpose === 'certificate_chain');
      // leaf ← intermediate, intermediate ← root
      assert.deepEqual(chain, [
        { op: 'ecdsa_verify', count: 1, context: 'certificate', purpose: 'certificate_chain' },
        { op: 'ecdsa_verify', count: 1, context: 'certificate', purpose: 'certificate_chain' },
      ]);
      assert.equal(
        side.sum((x) => x.op === 'ecdsa_verify' && x.context === other),
        1,
      );
      assert.equal(
        side.sum((x) => x.op === 'ecdsa_verify'),
        3,
      );
    }
  });

  it('verifyCertificateChain reports every signature it tries, a refused one included', async () => {
    const root = await createCa({ cn: 'Meter Root' });
    const impostor = await createCa({ cn: 'Meter Root' }); // same name, another key
    const leaf = await issueCertificate({ ca: impostor, cn: 'device', usage: 'client' });
    const m = recordingMeter();
    assert.throws(
      () =>
        verifyCertificateChain(certificatesFromPem(leaf.certPem), {
          anchors: loadTrustAnchors(root.certPem),
          peerRole: 'client',
          meter: m.meter,
        }),
      /does not verify/,
    );
    assert.deepEqual(m.calls, [{ op: 'ecdsa_verify', count: 1, context: 'certificate', purpose: 'certificate_chain' }]);
  });
});

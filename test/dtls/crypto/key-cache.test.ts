/**
 * The parse caches of the public-key modes: raw public keys and certificates are parsed once per
 * distinct byte string, but whether a key is trusted, whether a chain is valid now and whether a
 * signature verifies is decided afresh every time.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  PinnedKeys,
  parseCertificateDer,
  verifyCertificateChain,
  verifyRawPublicKey,
} from '../../../src/dtls/credentials/index.ts';
import { certificatesFromPem, loadTrustAnchors } from '../../../src/dtls/credentials/x509.ts';
import { parseSpki, spkiDer } from '../../../src/dtls/crypto/ecc.ts';
import { AlertDescription, DtlsAlertError } from '../../../src/dtls/errors.ts';
import { LruCache } from '../../../src/dtls/lru.ts';
import type { CryptoOp, DtlsMeter } from '../../../src/dtls/meter.ts';
import { createCa, issueCertificate } from '../../../src/pki/index.ts';

const newSpki = () => spkiDer(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey);
const alert = (d: AlertDescription) => (err: unknown) => err instanceof DtlsAlertError && err.description === d;

describe('LruCache', () => {
  it('keeps at most max entries, dropping the least recently used', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1);
    c.set('b', 2);
    assert.equal(c.get('a'), 1); // 'a' is now the most recent
    c.set('c', 3);
    assert.equal(c.size, 2);
    assert.equal(c.get('b'), undefined);
    assert.equal(c.get('a'), 1);
    assert.equal(c.get('c'), 3);
    assert.throws(() => new LruCache(0), RangeError);
  });
});

describe('raw public keys', () => {
  it('the same bytes give the same parsed key; other bytes never hit it', () => {
    const spki = newSpki();
    const a = parseSpki(spki);
    assert.equal(parseSpki(Buffer.from(spki)), a);
    const other = Buffer.from(spki);
    other[other.length - 1] ^= 1; // another point (or none): parsed afresh, never the cached key
    try {
      assert.notEqual(parseSpki(other).fingerprint, a.fingerprint);
    } catch (err) {
      assert.ok(alert(AlertDescription.bad_certificate)(err));
    }
  });

  it('a malformed key is refused every time (errors are not cached)', () => {
    const junk = Buffer.from('30 03 02 01 00'.replace(/ /g, ''), 'hex');
    for (let i = 0; i < 2; i++) assert.throws(() => parseSpki(junk), alert(AlertDescription.bad_certificate));
  });

  it('trust is decided afresh at each verification, however the key was cached', async () => {
    const spki = newSpki();
    let allow = true;
    const rpkLookup = () => allow;
    const first = await verifyRawPublicKey(spki, { rpkLookup });
    assert.equal(first.identity.spki.equals(spki), true);
    allow = false;
    await assert.rejects(verifyRawPublicKey(spki, { rpkLookup }), alert(AlertDescription.bad_certificate));
    // Pinned in one set, not in another.
    const pins = new PinnedKeys([spki]);
    assert.ok(pins.parsedKey(spki));
    assert.equal(
      (await verifyRawPublicKey(spki, { pinnedKeys: pins })).identity.fingerprint,
      first.identity.fingerprint,
    );
    await assert.rejects(
      verifyRawPublicKey(spki, { pinnedKeys: new PinnedKeys([newSpki()]) }),
      alert(AlertDescription.bad_certificate),
    );
  });

  it("the identity's key bytes are its own, never the parse cache's: writing into them changes no trust decision", async () => {
    const spki = newSpki();
    const pins = new PinnedKeys([spki]);
    const a = await verifyRawPublicKey(spki, { pinnedKeys: pins });
    const fingerprint = a.identity.fingerprint;
    a.identity.spki.fill(0);
    // The key's sessions share one identity (credentials/rpk.ts), so the scribble shows there, and
    // only there: the parsed key, its fingerprint and the pins are untouched.
    const b = await verifyRawPublicKey(spki, { pinnedKeys: pins });
    assert.equal(b.identity.fingerprint, fingerprint);
    assert.ok(spkiDer(b.publicKey).equals(spki));
    assert.ok(pins.parsedKey(spki));
    await assert.rejects(
      verifyRawPublicKey(Buffer.alloc(spki.length), { pinnedKeys: pins }),
      alert(AlertDescription.bad_certificate),
    );
  });
});

describe('certificates', () => {
  it('a parse is shared and keeps its own bytes; validity and signatures are checked every time', async () => {
    const root = await createCa({ cn: 'Cache Root' });
    const leaf = await issueCertificate({ ca: root, cn: 'device', usage: 'client' });
    const der = certificatesFromPem(leaf.certPem)[0];
    const input = Buffer.from(der);
    const parsed = parseCertificateDer(input);
    assert.equal(parseCertificateDer(Buffer.from(der)), parsed);
    input.fill(0); // the caller's buffer (a datagram's) is reused: the cached parse must not change
    assert.ok(parsed.der.equals(der));

    const anchors = loadTrustAnchors(root.certPem);
    let verifies = 0;
    const meter: DtlsMeter = {
      handshakeMessage() {},
      record() {},
      crypto(op: CryptoOp, n: number) {
        if (op === 'ecdsa_verify') verifies += n;
      },
    };
    const opts = { anchors, peerRole: 'client' as const, meter };
    verifyCertificateChain([der], opts);
    verifyCertificateChain([der], opts);
    assert.equal(verifies, 2, 'one signature check per verification, cache or not');
    const later = new Date(parsed.notAfter.getTime() + 1000);
    assert.throws(
      () => verifyCertificateChain([der], { ...opts, now: later }),
      alert(AlertDescription.certificate_expired),
    );
    // Another root of the same name: the cached leaf does not carry its earlier success along.
    const impostor = await createCa({ cn: 'Cache Root' });
    assert.throws(
      () => verifyCertificateChain([der], { ...opts, anchors: loadTrustAnchors(impostor.certPem) }),
      alert(AlertDescription.decrypt_error),
    );
  });
});

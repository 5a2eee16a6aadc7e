import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { PinnedKeys, pinFingerprint, verifyRawPublicKey } from '../../../src/dtls/credentials/rpk.ts';
import { AlertDescription, DtlsAlertError } from '../../../src/dtls/errors.ts';
import { hasBinary } from '../../support/peers.ts';
import { makeTempPki, type TempPki } from '../../support/pki.ts';

const alert = (d: AlertDescription) => (e: unknown) => {
  assert.ok(e instanceof DtlsAlertError, `expected DtlsAlertError, got ${String(e)}`);
  assert.equal(AlertDescription[e.description], AlertDescription[d], e.message);
  return true;
};

let pki: TempPki;
test.before(async () => {
  pki = await makeTempPki(undefined, { intermediate: false });
});
test.after(() => pki.cleanup());

test('pinned keys: by SPKI DER, SPKI PEM, private key PEM, fingerprint in three spellings', async () => {
  const { spkiDer, spkiPem, keyPem, fingerprint } = pki.rpkClient;
  const colons = fingerprint.toUpperCase().match(/../g)!.join(':');
  for (const entry of [spkiDer, spkiPem, keyPem, fingerprint, `sha256:${fingerprint}`, colons]) {
    const pins = new PinnedKeys([entry]);
    const v = await verifyRawPublicKey(spkiDer, { pinnedKeys: pins });
    assert.deepEqual(v.identity, { mode: 'rpk', spki: spkiDer, fingerprint });
    // The identity outlives the handshake (the session cache keeps it): its SPKI holds no larger
    // buffer alive (a slice of Node's 8 KiB pool did, ~5 KB per cached RPK session).
    assert.equal(v.identity.spki.buffer.byteLength, v.identity.spki.length);
    assert.equal(v.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  }
  assert.equal(pinFingerprint(spkiPem), fingerprint);
  assert.throws(() => pinFingerprint('nonsense'), /not a P-256 public key/);
});

test('the fingerprint is the SHA-256 of the SPKI as OpenSSL encodes it', {
  skip: !hasBinary('openssl') && process.env.CI !== 'true',
}, () => {
  const der = execFileSync('openssl', ['pkey', '-pubin', '-in', pki.rpkServer.spki, '-outform', 'DER']);
  const digest = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der }).toString().split(' ')[0];
  assert.equal(digest, pki.rpkServer.fingerprint);
  assert.deepEqual(der, pki.rpkServer.spkiDer);
});

test('unpinned, wrong-curve, garbage and empty keys get their alerts', async () => {
  const pins = new PinnedKeys([pki.rpkClient.spkiDer]);
  await assert.rejects(
    verifyRawPublicKey(pki.rpkStranger.spkiDer, { pinnedKeys: pins }),
    alert(AlertDescription.bad_certificate),
  );
  await assert.rejects(verifyRawPublicKey(pki.rpkStranger.spkiDer, {}), alert(AlertDescription.bad_certificate));
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).publicKey.export({ type: 'spki', format: 'der' });
  await assert.rejects(verifyRawPublicKey(p384, { pinnedKeys: pins }), alert(AlertDescription.unsupported_certificate));
  await assert.rejects(
    verifyRawPublicKey(Buffer.from('3003020101', 'hex'), { pinnedKeys: pins }),
    alert(AlertDescription.bad_certificate),
  );
  await assert.rejects(
    verifyRawPublicKey(Buffer.alloc(0), { pinnedKeys: pins }),
    alert(AlertDescription.handshake_failure),
  );
});

test('one frozen identity per key, shared by every verification and handed to the lookup', async () => {
  const pins = new PinnedKeys([pki.rpkClient.spkiDer]);
  // Fresh copies, as each handshake's Certificate message brings.
  const first = (await verifyRawPublicKey(Buffer.from(pki.rpkClient.spkiDer), { pinnedKeys: pins })).identity;
  const again = (await verifyRawPublicKey(Buffer.from(pki.rpkClient.spkiDer), { pinnedKeys: pins })).identity;
  assert.equal(again, first);
  assert.ok(Object.isFrozen(first));
  assert.deepEqual(first.spki, pki.rpkClient.spkiDer);
  assert.equal(first.spki.buffer.byteLength, first.spki.length, 'memory of its own, not a slice of a pool');
  const handed: Buffer[] = [];
  const viaLookup = (
    await verifyRawPublicKey(Buffer.from(pki.rpkStranger.spkiDer), {
      rpkLookup: (spki) => handed.push(spki) > 0,
    })
  ).identity;
  assert.equal(handed[0], viaLookup.spki);
  assert.notEqual(viaLookup, first);
});

test('a lookup function (async) decides about keys that are not pinned; a throwing lookup is internal_error', async () => {
  const seen: string[] = [];
  const known = new Set([pki.rpkClient.fingerprint]);
  const rpkLookup = async (_spki: Buffer, fp: string) => {
    seen.push(fp);
    await new Promise((r) => setImmediate(r));
    return known.has(fp);
  };
  const v = await verifyRawPublicKey(pki.rpkClient.spkiDer, { rpkLookup });
  assert.equal(v.identity.mode === 'rpk' && v.identity.fingerprint, pki.rpkClient.fingerprint);
  await assert.rejects(
    verifyRawPublicKey(pki.rpkStranger.spkiDer, { rpkLookup }),
    alert(AlertDescription.bad_certificate),
  );
  assert.deepEqual(seen, [pki.rpkClient.fingerprint, pki.rpkStranger.fingerprint]);
  // Pinned keys answer first; the lookup is not asked.
  await verifyRawPublicKey(pki.rpkServer.spkiDer, {
    pinnedKeys: new PinnedKeys([pki.rpkServer.fingerprint]),
    rpkLookup,
  });
  assert.equal(seen.length, 2);
  await assert.rejects(
    verifyRawPublicKey(pki.rpkClient.spkiDer, {
      rpkLookup: () => {
        throw new Error('database down');
      },
    }),
    alert(AlertDescription.internal_error),
  );
});

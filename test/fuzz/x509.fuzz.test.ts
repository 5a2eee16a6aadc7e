/**
 * Mutation fuzzing of src/dtls/credentials/x509.ts: DER certificates from a real chain (leaf,
 * intermediate, root), damaged, then parsed and verified as a peer's chain. Every outcome is a
 * verified chain or a DtlsAlertError (the alert the handshake sends, RFC 5246 §7.2.2), never
 * another exception. Certificate parsing costs real time, so the count is bounded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  certificatesFromPem,
  loadTrustAnchors,
  parseCertificateDer,
  verifyCertificateChain,
} from '../../src/dtls/credentials/x509.ts';
import { AlertDescription, DtlsAlertError } from '../../src/dtls/errors.ts';
import { makeTempPki } from '../support/pki.ts';
import { describeFailures, type FuzzFailure, fuzzIterations, fuzzSeeds, mutate, Rng } from './mutate.ts';

/** DER length-field offsets in a certificate: the outer SEQUENCE, the TBS, and the first fields. */
function derLengthFields(der: Buffer): Array<{ offset: number; width: 1 | 2 | 3 }> {
  const out: Array<{ offset: number; width: 1 | 2 | 3 }> = [];
  // Walk the first TLVs along the "first child" path and a few siblings.
  let off = 0;
  for (let i = 0; i < 12 && off + 2 <= der.length; i++) {
    const len = der[off + 1];
    const n = len & 0x80 ? len & 0x7f : 0;
    out.push({ offset: off + 1, width: 1 });
    if (n >= 1 && n <= 3) out.push({ offset: off + 2, width: n as 1 | 2 | 3 });
    const constructed = (der[off] & 0x20) !== 0;
    const header = 2 + n;
    off = constructed ? off + header : off + header + (n ? der.readUIntBE(off + 2, n) : len);
  }
  return out;
}

test('a certificate whose key algorithm OpenSSL cannot load is bad_certificate, not an internal error', async (t) => {
  const pki = await makeTempPki(t);
  const root = certificatesFromPem(pki.root.certPem)[0];
  // id-ecPublicKey 1.2.840.10045.2.1 → 1.2.840.10045.31.1: X509Certificate still parses, the key does not load.
  const hex = root.toString('hex');
  const damaged = Buffer.from(hex.replace('2a8648ce3d0201', '2a8648ce3d1f01'), 'hex');
  assert.notEqual(damaged.toString('hex'), hex);
  assert.throws(
    () =>
      verifyCertificateChain([damaged], {
        anchors: { certificates: [parseCertificateDer(damaged)] },
        peerRole: 'server',
      }),
    (err: unknown) => err instanceof DtlsAlertError && err.description === AlertDescription.bad_certificate,
  );
});

test('mutated DER certificates: a verified chain or a DtlsAlertError, never another exception', async (t) => {
  const pki = await makeTempPki(t);
  const chain = certificatesFromPem(pki.server.chainPem);
  const root = certificatesFromPem(pki.root.certPem)[0];
  const device = certificatesFromPem(pki.device.chainPem);
  const anchors = loadTrustAnchors(pki.root.certPem);
  const seeds = [chain[0], chain[1], root, device[0]];
  // Sanity: the untouched chain verifies.
  assert.equal(verifyCertificateChain(chain, { anchors, peerRole: 'server', serverName: 'localhost' }).path.length, 3);

  const perSeed = fuzzIterations(1000);
  const failures: FuzzFailure[] = [];
  const alerts = new Map<string, number>();
  let ran = 0;
  let verified = 0;
  for (const seed of fuzzSeeds()) {
    const rng = new Rng(seed ^ 0x509);
    for (let i = 0; i < perSeed; i++) {
      const which = rng.int(seeds.length);
      const der = mutate(rng, seeds[which], { others: seeds, lengthFields: derLengthFields(seeds[which]) });
      ran++;
      try {
        const parsed = parseCertificateDer(der);
        // As the peer's leaf, or as the intermediate after the real leaf; or, so that the checks
        // after path building (extensions, key, validity, name) see damaged fields too, as a
        // certificate that is itself the trust anchor (a pinned self-signed peer).
        const pinned = rng.chance(0.3);
        const sent = pinned ? [der] : which === 1 ? [chain[0], der] : [der, chain[1]];
        verifyCertificateChain(sent, {
          anchors: pinned ? { certificates: [parsed] } : anchors,
          peerRole: which === 3 ? 'client' : 'server',
          serverName: which === 3 ? undefined : 'localhost',
        });
        verified++;
      } catch (err) {
        if (err instanceof DtlsAlertError) {
          const name = AlertDescription[err.description] ?? String(err.description);
          alerts.set(name, (alerts.get(name) ?? 0) + 1);
        } else {
          failures.push({
            seed,
            iteration: i,
            input: der.toString('hex'),
            error: `${(err as Error).name}: ${(err as Error).message}`,
          });
        }
      }
    }
  }
  t.diagnostic(`${ran} certificates, ${verified} verified; alerts ${JSON.stringify(Object.fromEntries(alerts))}`);
  assert.equal(failures.length, 0, `${failures.length} failures:\n${describeFailures(failures)}`);
});

/**
 * coaps:// interop in the public-key modes (RFC 7252 §9.1.3.2 RawPublicKey, §9.1.3.3 Certificate;
 * TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8) with libcoap 4.3, both roles, mutual authentication: X.509
 * with the GnuTLS and OpenSSL builds, raw public keys with the GnuTLS build (libcoap's -M is
 * GnuTLS-only). Scenarios in test/coap/interop-scenarios.ts.
 */
import { test } from 'node:test';
import { libcoapClientAgainstUs, ourClientAgainstLibcoap } from '../coap/interop-scenarios.ts';
import { makeTempPki } from '../support/pki.ts';

for (const build of ['gnutls', 'openssl'] as const) {
  test(`our client → coap-server-${build} (X.509)`, async (t) =>
    ourClientAgainstLibcoap(t, build, { mode: 'x509', pki: await makeTempPki(t, { intermediate: false }) }));
  test(`coap-client-${build} → our server (X.509)`, async (t) =>
    libcoapClientAgainstUs(t, build, { mode: 'x509', pki: await makeTempPki(t, { intermediate: false }) }));
}
test('our client → coap-server-gnutls (RPK)', async (t) =>
  ourClientAgainstLibcoap(t, 'gnutls', { mode: 'rpk', pki: await makeTempPki(t, { intermediate: false }) }));
test('coap-client-gnutls → our server (RPK)', async (t) =>
  libcoapClientAgainstUs(t, 'gnutls', { mode: 'rpk', pki: await makeTempPki(t, { intermediate: false }) }));

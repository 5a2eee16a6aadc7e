/**
 * coaps:// interop in PreSharedKey mode (RFC 7252 §9.1.3.1, TLS_PSK_WITH_AES_128_CCM_8) with
 * libcoap 4.3's GnuTLS and OpenSSL builds in both roles (scenarios in test/coap/interop-scenarios.ts).
 */
import { test } from 'node:test';
import { libcoapClientAgainstUs, ourClientAgainstLibcoap } from '../coap/interop-scenarios.ts';

const sec = { mode: 'psk', psk: { identity: 'sensor-17', key: 'secretPSK-0123456789' } } as const;

for (const build of ['gnutls', 'openssl'] as const) {
  test(`our client → coap-server-${build} (PSK)`, (t) => ourClientAgainstLibcoap(t, build, sec));
  test(`coap-client-${build} → our server (PSK)`, (t) => libcoapClientAgainstUs(t, build, sec));
}

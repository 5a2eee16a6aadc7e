/**
 * CoAP interop in NoSec mode (RFC 7252 §9) with libcoap 4.3 — its notls, GnuTLS and OpenSSL builds —
 * in both roles (scenarios in test/coap/interop-scenarios.ts).
 */
import { test } from 'node:test';
import { libcoapClientAgainstUs, ourClientAgainstLibcoap } from '../coap/interop-scenarios.ts';

for (const build of ['notls', 'gnutls', 'openssl'] as const) {
  test(`our client → coap-server-${build} (NoSec)`, (t) => ourClientAgainstLibcoap(t, build));
  test(`coap-client-${build} → our server (NoSec)`, (t) => libcoapClientAgainstUs(t, build));
}

/**
 * The DTLS security flags of `dtls`, `coap` and `device run`, as option tables with their help
 * lines. The flags are read by `readSecurityFlags` (src/dtls/credentials/flags.ts), whose option
 * names these tables keep.
 */
import type { OptionTable } from './args.ts';

const GROUP = 'security';

/** Credentials and trust: both roles. */
export const CREDENTIAL_OPTIONS = {
  psk: { type: 'string', multiple: true, arg: 'ID:HEX', help: 'pre-shared key identity and key (hex)', group: GROUP },
  cert: { type: 'string', arg: 'FILE', help: 'our X.509 certificate (PEM; its chain may follow)', group: GROUP },
  key: { type: 'string', arg: 'FILE', help: 'the private key of --cert', group: GROUP },
  ca: { type: 'string', multiple: true, arg: 'FILE', help: 'a trust anchor (PEM)', group: GROUP },
  'rpk-key': {
    type: 'string',
    arg: 'FILE',
    help: 'a P-256 private key whose public key is our raw public key (RFC 7250)',
    group: GROUP,
  },
  'trust-rpk': {
    type: 'string',
    multiple: true,
    arg: 'FILE',
    help: 'pinned raw public keys (PEM) or SHA-256 fingerprints',
    group: GROUP,
  },
  'client-auth': {
    type: 'string',
    arg: 'MODE',
    help: '(server) none, want or need a client certificate / raw public key',
    group: GROUP,
  },
  'no-verify-name': {
    type: 'boolean',
    help: '(client) accept a server certificate whatever names it carries',
    group: GROUP,
  },
} as const satisfies OptionTable;

/** Endpoint settings that go with them. */
export const DTLS_SETTING_OPTIONS = {
  mtu: { type: 'string', arg: 'N', help: 'largest DTLS datagram, 64..65507', group: GROUP },
  hint: { type: 'string', arg: 'TEXT', help: '(server) PSK identity hint', group: GROUP },
} as const satisfies OptionTable;

export const SECURITY_OPTIONS = { ...CREDENTIAL_OPTIONS, ...DTLS_SETTING_OPTIONS } as const satisfies OptionTable;

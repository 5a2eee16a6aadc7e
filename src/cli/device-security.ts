/**
 * The agent's security flags: the shared parser of src/cli/security-flags.ts (the same flags as
 * `securesense dtls` and `securesense coap`), split the way the agent uses them: the first
 * `--psk` and the public-key credentials for `--push coaps://`, every `--psk` and the same
 * public-key credentials for `--serve-dtls`. The agent is both client and server, so it takes the
 * flags of both roles (`--no-verify-name` for its pushes, `--client-auth` for its DTLS server).
 */
import type { CoapsSecurity } from '../coap/transport-dtls.ts';
import type { PublicKeyCredentials } from '../dtls/credentials/index.ts';
import type { PskCredential } from '../dtls/credentials/psk.ts';
import { dtlsClientSecurity, readSecurityFlags, type SecurityFlags } from './security-flags.ts';

/** What the agent needs on each side. */
export interface DeviceSecurity {
  /** Credentials for `coaps://` pushes (undefined: none that could authenticate a server). */
  client?: CoapsSecurity;
  /** Every PSK given, for the DTLS server of serve mode. */
  psks: PskCredential[];
  /** Public-key credentials, when files were given. */
  publicKey?: PublicKeyCredentials;
}

/** Turns the flags into the agent's credentials; throws a clear message for each bad value. */
export function parseSecurityFlags(f: SecurityFlags): DeviceSecurity {
  const s = readSecurityFlags(f, 'both');
  const publicKey = Object.keys(s.publicKey).length > 0 ? s.publicKey : undefined;
  // A push needs to authenticate the cloud: a PSK, or trust for its certificate / raw public key.
  // Own public-key credentials without trust serve --serve-dtls only.
  const client = s.psks.length > 0 || s.publicKey.trust ? dtlsClientSecurity(s) : undefined;
  return { client, psks: s.psks, publicKey };
}

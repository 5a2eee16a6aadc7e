/**
 * `--edhoc` on `securesense coap get|post|put|delete`: run EDHOC (RFC 9528, method 0, suite 2) at the
 * server's `/.well-known/edhoc` first and protect the request with the OSCORE context it keys. The
 * credentials are the DTLS security flags the command already takes, with the meaning they have for
 * the platform (docs/oscore.md):
 *
 * - `--rpk-key FILE`: our raw public key as a CCS sent by value (`kccs`), as the platform pins
 *   device keys by fingerprint only; `--cert FILE --key FILE`: our certificate chain sent by value
 *   (`x5chain`), or referenced by its hash with `--edhoc-x5t` (a peer that pinned it);
 * - `--trust-rpk FILE`: a server raw public key we accept (PEM; referenced by the kid of its
 *   SHA-256 fingerprint, the platform's), `--ca FILE`: anchors for a server that sends `x5chain`.
 */
import { readFileSync } from 'node:fs';
import { loadTrustAnchors, ownCertificate, ownRawPublicKey } from '../dtls/credentials/index.ts';
import type { EdhocClientOptions } from '../edhoc/coap.ts';
import {
  byValue,
  type EdhocCredential,
  knownCredentials,
  rpkCredential,
  x5chainCredential,
  x509Credential,
} from '../edhoc/credentials.ts';
import { anyCredential, x509ChainResolver } from '../edhoc/x509-trust.ts';
import { type OptionTable, UsageError } from './args.ts';
import type { SecurityFlags } from './security-flags.ts';

export const EDHOC_CLIENT_OPTIONS = {
  edhoc: {
    type: 'boolean',
    help: 'run EDHOC at /.well-known/edhoc first, then send the request over the OSCORE context it keys (coap:// only; credentials: --rpk-key and --trust-rpk, or --cert/--key and --trust-rpk/--ca)',
  },
  'edhoc-combined': {
    type: 'boolean',
    help: 'with --edhoc: carry EDHOC message_3 in the request itself (RFC 9668), one round trip less',
  },
  'edhoc-x5t': {
    type: 'boolean',
    help: 'with --edhoc --cert: refer to our certificate by its hash (x5t) instead of sending the chain',
  },
} as const satisfies OptionTable;

export interface EdhocFlags extends SecurityFlags {
  edhoc?: boolean;
  'edhoc-combined'?: boolean;
  'edhoc-x5t'?: boolean;
}

function read(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${flag} ${path}: ${(err as Error).message}`);
  }
}

/** Our EDHOC credential and the servers we accept, from the flags; every fault is a usage error naming its flag. */
export function edhocInitiatorFromFlags(v: EdhocFlags): Omit<EdhocClientOptions, 'proxy'> {
  if (v.psk?.length) throw new UsageError('--edhoc authenticates with --rpk-key or --cert/--key, not --psk');
  if (v['rpk-key'] !== undefined && v.cert !== undefined)
    throw new UsageError('--edhoc: give --rpk-key or --cert, not both');
  if (v['edhoc-x5t'] && v.cert === undefined) throw new UsageError('--edhoc-x5t goes with --cert');
  let credential: EdhocCredential;
  let key: ReturnType<typeof ownRawPublicKey>['key'];
  try {
    if (v['rpk-key'] !== undefined) {
      const own = ownRawPublicKey(read(v['rpk-key'], '--rpk-key'));
      credential = byValue(rpkCredential(own.spki));
      key = own.key;
    } else if (v.cert !== undefined) {
      if (v.key === undefined) throw new UsageError('--cert needs --key');
      const own = ownCertificate(read(v.key, '--key'), read(v.cert, '--cert'));
      credential = v['edhoc-x5t'] ? x509Credential(own.chain[0], 'x5t') : x5chainCredential(own.chain);
      key = own.key;
    } else {
      throw new UsageError('--edhoc needs our credential: --rpk-key FILE, or --cert FILE --key FILE');
    }
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError(`--edhoc: ${(err as Error).message}`);
  }
  const pinned = (v['trust-rpk'] ?? []).map((f) => {
    const text = read(f, '--trust-rpk').toString('utf8');
    if (!text.includes('-----BEGIN')) {
      throw new UsageError(`--trust-rpk ${f}: EDHOC needs the server's public key (PEM), not a fingerprint`);
    }
    try {
      return rpkCredential(text);
    } catch (err) {
      throw new UsageError(`--trust-rpk ${f}: ${(err as Error).message}`);
    }
  });
  const cas = v.ca ?? [];
  if (pinned.length === 0 && cas.length === 0) {
    throw new UsageError('--edhoc needs the server to trust: --trust-rpk FILE (its raw public key) or --ca FILE');
  }
  let peers = knownCredentials(pinned);
  if (cas.length > 0) {
    let anchors: ReturnType<typeof loadTrustAnchors>;
    try {
      anchors = loadTrustAnchors(cas.map((f) => read(f, '--ca')));
    } catch (err) {
      throw new UsageError(`--ca: ${(err as Error).message}`);
    }
    peers = anyCredential(peers, x509ChainResolver({ anchors, peerRole: 'server' }));
  }
  return { method: 0, suites: [2], credential, authKey: { kind: 'signature', key }, peers };
}

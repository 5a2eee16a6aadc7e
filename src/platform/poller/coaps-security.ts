/**
 * What the poller shows and trusts when it pulls a `coaps://` device. The platform is
 * the DTLS client there, and the resource's device credentials say who the device is:
 *
 * - `psk`: the platform logs in with the bound identity and key (RFC 4279) — the key proves both
 *   sides at once;
 * - `rpk`: the platform shows its own raw public key (RFC 7250) and accepts only a device key
 *   whose SHA-256 SPKI fingerprint is bound to the resource (pinned in the handshake, so another
 *   key ends it with `bad_certificate`);
 * - `x509`: the platform shows its own certificate and accepts a device chain that ends at a
 *   bound CA or is a bound (pinned) certificate (`unknown_ca` otherwise); after the handshake the
 *   leaf must match one binding exactly: its fingerprint pinned, or its subject/SAN bound under
 *   the CA that issued it.
 *
 * The platform's own raw public key and certificate are those its `coaps://` server shows
 * (`createPlatform(config, { coap: { dtls: { certificate, rpk } } })`). Every mode the resource
 * has a binding for, and the platform has a credential for, is offered in one ClientHello (the
 * PSK suite and the ECDHE_ECDSA suite with the RFC 7250 certificate-type lists); the device picks.
 *
 * The server-name check of RFC 6125 is off: the device's binding is what names it, not the host
 * in the polling URL (which is often an address).
 */
import { createHash } from 'node:crypto';
import {
  loadTrustAnchors,
  type OwnCertificate,
  type OwnRawPublicKey,
  type PeerIdentity,
  PinnedKeys,
  type SecurityMode,
} from '../../dtls/credentials/index.ts';
import type { DtlsClientOptions } from '../../dtls/index.ts';
import { x509BindingMatches } from '../devices.ts';
import type { DeviceCredentialRecord } from '../model.ts';
import { PollError } from './errors.ts';

/** The platform's own credentials for the public-key modes: what its coaps:// server shows. */
export interface PlatformDtlsCredentials {
  /** Shown to X.509 devices. Its extendedKeyUsage must allow clientAuth (or be absent) for a device to accept it from a client. */
  certificate?: OwnCertificate;
  /** Shown to raw-public-key devices. */
  rpk?: OwnRawPublicKey;
}

/** A coaps:// poll's DTLS client configuration, built from the resource's bindings. */
export interface CoapsPollSecurity {
  /** What the DTLS client offers and trusts. */
  options: Pick<DtlsClientOptions, 'psk' | 'certificate' | 'rpk' | 'trust'>;
  /** Modes offered, in the order the ClientHello lists their suites. */
  modes: SecurityMode[];
  /**
   * Names everything above (secrets hashed): a session made under another key is not reused,
   * nor resumed — new credentials mean a new full handshake.
   */
  key: string;
  /**
   * Checks what the handshake proved against the resource's bindings: undefined when it matches,
   * else why not.
   */
  check(identity: PeerIdentity): string | undefined;
}

/**
 * The DTLS client configuration for polling a resource with these device credentials. Throws a
 * {@link PollError} `credentials` when nothing can be offered: no binding at all, or only
 * public-key bindings whose kind of credential the platform lacks.
 */
export function coapsPollSecurity(
  bindings: readonly DeviceCredentialRecord[],
  own: PlatformDtlsCredentials,
): CoapsPollSecurity {
  if (bindings.length === 0) {
    throw new PollError(
      'credentials',
      'coaps:// polls need a device credential on the resource (psk, rpk or x509) to know the device by',
    );
  }
  const h = createHash('sha256');
  const options: CoapsPollSecurity['options'] = {};
  const modes: SecurityMode[] = [];
  const missing: string[] = [];

  // RFC 4279: the first PSK binding with a key (a resource normally has one).
  const psk = bindings.find((c) => c.mode === 'psk' && c.pskIdentity && c.pskKey);
  if (psk?.pskIdentity && psk.pskKey) {
    options.psk = { identity: psk.pskIdentity, key: psk.pskKey };
    modes.push('psk');
    h.update(`psk:${psk.pskIdentity.length}:${psk.pskIdentity}:`).update(psk.pskKey);
  }

  const rpkPins = bindings.flatMap((c) => (c.mode === 'rpk' && c.rpkFingerprint ? [c.rpkFingerprint] : []));
  const pinnedKeys = new PinnedKeys();
  if (rpkPins.length > 0) {
    if (own.rpk) {
      for (const fp of rpkPins) {
        pinnedKeys.add(fp);
        h.update(`rpk-pin:${fp}`);
      }
      options.rpk = own.rpk;
      h.update('own-rpk:').update(own.rpk.spki);
      modes.push('rpk');
    } else {
      missing.push(
        'the resource binds a raw public key, but the platform has no raw public key of its own (config.coap.rpkKey, SECURESENSE_COAPS_RPK_KEY)',
      );
    }
  }

  const x509 = bindings.filter((c) => c.mode === 'x509');
  // A binding by fingerprint alone gives the handshake nothing to build a chain to: the pinned
  // certificate itself, or the bound CA, has to be known.
  const anchorPems = x509.flatMap((c) => [c.x509Ca, c.x509Certificate].filter((p): p is string => p !== null));
  if (x509.length > 0) {
    if (!own.certificate) {
      missing.push(
        'the resource binds an X.509 identity, but the platform has no certificate of its own (config.coap.cert and key, SECURESENSE_COAPS_CERT/KEY)',
      );
    } else if (anchorPems.length === 0) {
      missing.push(
        'the resource binds X.509 by fingerprint only: bind the certificate itself (x509_certificate) or its CA (x509_ca) so that the poller can verify the device',
      );
    } else {
      options.certificate = own.certificate;
      for (const der of own.certificate.chain) h.update('own-cert:').update(der);
      for (const c of x509) h.update(`x509:${c.x509Fingerprint ?? ''}|${c.x509Name ?? ''}|${c.x509Ca ?? ''}|`);
      modes.push('x509');
    }
  }

  if (modes.length === 0) throw new PollError('credentials', missing.join('; '));
  if (modes.includes('rpk') || modes.includes('x509')) {
    options.trust = {
      ...(modes.includes('rpk') ? { pinnedKeys } : {}),
      ...(modes.includes('x509') ? { anchors: loadTrustAnchors(anchorPems) } : {}),
      verifyName: false,
    };
  }
  const rpkSet = new Set(rpkPins);
  return {
    options,
    modes,
    key: h.digest('hex').slice(0, 32),
    check(identity) {
      switch (identity.mode) {
        case 'psk':
          return identity.identity === options.psk?.identity
            ? undefined
            : `PSK identity ${identity.identity} not offered`;
        case 'rpk':
          return modes.includes('rpk') && rpkSet.has(identity.fingerprint)
            ? undefined
            : `the device's raw public key ${identity.fingerprint} is not bound to this resource`;
        case 'x509': {
          if (modes.includes('x509') && x509.some((c) => x509BindingMatches(identity, c, 'server'))) return undefined;
          const names = [identity.subject, ...identity.sans].join(', ');
          return `the device's certificate (${names}; sha256 ${identity.fingerprint}) matches no X.509 binding of this resource`;
        }
      }
    },
  };
}

/**
 * Certificates sent by value (x5chain) checked against our X.509 trust anchors, with the same
 * path building and validation as DTLS (`verifyCertificateChain` of src/dtls/credentials): the
 * leaf's key becomes the peer's credential. Certificates referenced by x5t must be known already
 * (a hash cannot be validated), so this resolver answers x5chain only; combine it with
 * `knownCredentials` through {@link anyCredential}.
 */
import { type TrustAnchors, verifyCertificateChain } from '../dtls/credentials/x509.ts';
import { encode } from '../util/cbor.ts';
import { authKeyOf, type CredentialResolver, type EdhocCredential } from './credentials.ts';

export interface X509ResolverOptions {
  readonly anchors: TrustAnchors;
  /** Which extended key usage the peer's leaf must allow when it has one (default: client for a Responder's peer). */
  readonly peerRole?: 'client' | 'server';
  /** Told why a chain was refused (the exchange then fails with ERR_CODE 3). */
  readonly onRefused?: (reason: string) => void;
}

export function x509ChainResolver(opts: X509ResolverOptions): CredentialResolver {
  return (id) => {
    if (id.kind !== 'x5chain') return undefined;
    try {
      const v = verifyCertificateChain(id.certificates, {
        anchors: opts.anchors,
        peerRole: opts.peerRole ?? 'client',
        verifyName: false,
      });
      const credential: EdhocCredential = {
        idCred: id,
        cred: encode(id.certificates[0]),
        publicKey: authKeyOf(v.publicKey),
      };
      return credential;
    } catch (e) {
      opts.onRefused?.((e as Error).message);
      return undefined;
    }
  };
}

/** The first resolver that knows the credential. */
export function anyCredential(...resolvers: CredentialResolver[]): CredentialResolver {
  return (id) => {
    for (const r of resolvers) {
      const c = r(id);
      if (c) return c;
    }
    return undefined;
  };
}

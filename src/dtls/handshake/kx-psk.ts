/**
 * The PSK key exchange (RFC 4279 §2): the server may send a ServerKeyExchange with an identity
 * hint, the client names its identity in ClientKeyExchange, and the premaster secret is made from
 * the key alone (crypto/psk.ts). No certificates, no ECC extensions.
 */
import { pskPremaster } from '../crypto/psk.ts';
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import type { PeerAddress } from '../peer-address.ts';
import { encodeClientKeyExchangePsk, parseClientKeyExchangePsk } from '../wire/client-key-exchange.ts';
import { CertificateType } from '../wire/extensions-ecc.ts';
import { HandshakeType } from '../wire/handshake.ts';
import { encodeServerKeyExchangePsk, parseServerKeyExchangePsk } from '../wire/server-key-exchange.ts';
import type {
  ClientAgreement,
  ClientKeyMaker,
  ClientKxParams,
  KeyExchange,
  OutMessage,
  ServerAgreement,
  ServerCredentials,
  ServerKxParams,
  ServerKxResult,
} from './key-exchange.ts';

/** A lookup (PSK store) may answer at once or with a promise. */
const isPromiseLike = <T>(v: T | PromiseLike<T>): v is PromiseLike<T> =>
  typeof (v as PromiseLike<T> | undefined)?.then === 'function';

const NO_EXTENSIONS: readonly never[] = [];

class PskServerAgreement implements ServerAgreement {
  readonly serverHelloExtensions = NO_EXTENSIONS;
  readonly messages: readonly OutMessage[];
  readonly clientCertificateType = undefined;
  readonly anonymousClient = { mode: 'psk', identity: '' } as const;

  constructor(private readonly credentials: ServerCredentials) {
    const hint = credentials.pskIdentityHint;
    // RFC 4279 §2: the ServerKeyExchange is sent only when there is an identity hint.
    this.messages =
      hint === undefined
        ? NO_EXTENSIONS
        : [
            {
              msgType: HandshakeType.server_key_exchange,
              body: encodeServerKeyExchangePsk({ identityHint: Buffer.from(hint, 'utf8') }),
            },
          ];
  }

  clientKeyExchange(body: Buffer, peer: PeerAddress): ServerKxResult | Promise<ServerKxResult> {
    const identity = parseClientKeyExchangePsk(body).identity.toString('utf8');
    const lookup = this.credentials.psk;
    if (!lookup) throw new DtlsAlertError(AlertDescription.internal_error, 'PSK suite without a PSK store');
    const key = lookup(identity, peer);
    if (isPromiseLike(key)) return Promise.resolve(key).then((k) => withKey(identity, k));
    return withKey(identity, key);
  }
}

function withKey(identity: string, key: Buffer | undefined): ServerKxResult {
  // RFC 4279 §2: an unknown identity is refused with unknown_psk_identity.
  if (!key) throw new DtlsAlertError(AlertDescription.unknown_psk_identity, `unknown PSK identity '${identity}'`);
  return { premaster: pskPremaster(key), identity: { mode: 'psk', identity } };
}

class PskKeyMaker implements ClientKeyMaker {
  constructor(
    private readonly identity: string,
    private readonly key: Buffer,
    readonly hint: string | undefined,
  ) {}

  clientKeyExchange(): { body: Buffer; premaster: Buffer } {
    return {
      body: encodeClientKeyExchangePsk({ identity: Buffer.from(this.identity, 'utf8') }),
      premaster: pskPremaster(this.key),
    };
  }
}

class PskClientAgreement implements ClientAgreement {
  readonly serverIdentity;
  readonly serverCertificateType = CertificateType.X509;
  readonly clientCertificateType = CertificateType.X509;
  readonly serverKeyExchangeRequired = false;

  constructor(private readonly psk: { identity: string; key: Buffer }) {
    this.serverIdentity = { mode: 'psk', identity: psk.identity } as const;
  }

  serverKeyExchange(body: Buffer): ClientKeyMaker {
    const hint = parseServerKeyExchangePsk(body).identityHint.toString('utf8');
    return new PskKeyMaker(this.psk.identity, this.psk.key, hint);
  }

  withoutServerKeyExchange(): ClientKeyMaker {
    return new PskKeyMaker(this.psk.identity, this.psk.key, undefined);
  }
}

export const PSK_KEY_EXCHANGE: KeyExchange = {
  certificates: false,
  serverHelloExtensionTypes: NO_EXTENSIONS,
  canOffer: (c) => c.psk !== undefined,
  clientHelloExtensions: () => [],
  canServe: (c) => c.psk !== undefined,
  startServer: (p: ServerKxParams) => new PskServerAgreement(p.credentials),
  startClient: (p: ClientKxParams) => {
    const psk = p.credentials.psk;
    if (!psk) throw new DtlsAlertError(AlertDescription.internal_error, 'PSK suite without a PSK');
    return new PskClientAgreement(psk);
  },
};

/**
 * The PSK key exchange (RFC 4279 §2): the server may send a ServerKeyExchange with an identity
 * hint, the client names its identity in ClientKeyExchange, and the premaster secret is made from
 * the key alone (crypto/psk.ts). No certificates, no ECC extensions.
 */
import type { PeerIdentity } from '../credentials/identity.ts';
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
const ANONYMOUS_PSK = Object.freeze({ mode: 'psk', identity: '' } as const);

class PskServerAgreement implements ServerAgreement {
  readonly serverHelloExtensions = NO_EXTENSIONS;
  readonly messages: readonly OutMessage[];
  readonly clientCertificateType = undefined;
  readonly anonymousClient = ANONYMOUS_PSK;

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

type PskIdentity = Extract<PeerIdentity, { mode: 'psk' }>;

/**
 * The identity of a key's sessions, made once and frozen (credentials/identity.ts): each full
 * handshake caches a session, and a device that handshakes again and again would otherwise leave an
 * identity object and string of its own in each (~100 bytes; 100 000 cached sessions, the bound,
 * held 11 MB of them). Keyed by the Buffer the PSK store returns: a store that makes a new Buffer
 * per lookup simply shares nothing.
 */
const IDENTITIES = new WeakMap<Buffer, PskIdentity>();
function identityOf(identity: string, key: Buffer): PskIdentity {
  const known = IDENTITIES.get(key);
  if (known?.identity === identity) return known;
  const made: PskIdentity = Object.freeze({ mode: 'psk', identity });
  IDENTITIES.set(key, made);
  return made;
}

function withKey(identity: string, key: Buffer | undefined): ServerKxResult {
  // RFC 4279 §2: an unknown identity is refused with unknown_psk_identity.
  if (!key) throw new DtlsAlertError(AlertDescription.unknown_psk_identity, `unknown PSK identity '${identity}'`);
  return { premaster: pskPremaster(key), identity: identityOf(identity, key) };
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

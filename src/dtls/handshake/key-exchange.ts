/**
 * The key exchange of a cipher suite as a strategy (Go crypto/tls's `keyAgreement`): each suite
 * row carries one (crypto/suites.ts, `kx`), and the role state machines call it where RFC 5246
 * §7.3 puts a key-exchange step, never asking which exchange it is.
 *
 *   client: ClientHello extensions → startClient (after ServerHello) → [Certificate, by the state
 *           machine, when the exchange names no peer] → ServerKeyExchange → ClientKeyExchange
 *   server: canServe (choosing the suite) → startServer (its ServerHello extensions and the
 *           messages between ServerHello and ServerHelloDone) → ClientKeyExchange → premaster
 *
 * Implementations: kx-psk.ts (RFC 4279) and kx-ecdhe.ts (ECDHE_ECDSA with X.509 or raw public
 * keys, RFC 8422, RFC 7250). Each per-handshake object is made at the point where everything it
 * holds is known, so none of them has a field that is still to be filled in.
 */
import type { KeyObject } from 'node:crypto';
import type { PeerIdentity } from '../credentials/identity.ts';
import type { PublicKeyCredentials } from '../credentials/keys.ts';
import type { HandshakeCrypto } from '../crypto/provider.ts';
import type { PeerAddress } from '../peer-address.ts';
import type { ClientHello } from '../wire/client-hello.ts';
import type { Extension } from '../wire/extensions.ts';

/** A PSK store: the key of an identity, at once or later (undefined: unknown identity). */
export type PskLookup = (identity: string, peer: PeerAddress) => Buffer | undefined | Promise<Buffer | undefined>;

/** What a server may serve with. */
export interface ServerCredentials {
  psk?: PskLookup;
  pki?: PublicKeyCredentials;
  pskIdentityHint?: string;
}

/** What a client may authenticate with. */
export interface ClientCredentials {
  psk?: { identity: string; key: Buffer };
  pki?: PublicKeyCredentials;
}

/** The ECC capabilities a ClientHello announced (undefined: extension absent, RFC 8422 §5.1). */
export interface EccOffer {
  readonly groups: number[] | undefined;
  readonly formats: number[] | undefined;
}

/** One handshake message to send: its type and body. */
export interface OutMessage {
  readonly msgType: number;
  readonly body: Buffer;
}

/** What the exchange learned from a ClientKeyExchange. */
export interface ServerKxResult {
  readonly premaster: Buffer;
  /** The client's identity when the exchange establishes it (PSK); certificate exchanges leave it to the Certificate. */
  readonly identity: PeerIdentity | undefined;
}

/** The server's side of one handshake's key exchange, from its ServerHello on. */
export interface ServerAgreement {
  /** Extensions the ServerHello carries for this exchange (answers to the client's, in order). */
  readonly serverHelloExtensions: readonly Extension[];
  /** The messages between ServerHello and ServerHelloDone (Certificate, ServerKeyExchange, CertificateRequest). */
  readonly messages: readonly OutMessage[];
  /** The certificate type the client must send, when a CertificateRequest is among `messages`. */
  readonly clientCertificateType: number | undefined;
  /** The identity of an anonymous client (no Certificate, or an empty one) in this exchange. */
  readonly anonymousClient: PeerIdentity;
  /** The premaster secret from the client's ClientKeyExchange; a promise only when a PSK lookup is one. */
  clientKeyExchange(body: Buffer, peer: PeerAddress): ServerKxResult | Promise<ServerKxResult>;
}

/** The client's means to answer the server's flight once its ServerKeyExchange (if any) is read. */
export interface ClientKeyMaker {
  /** The PSK identity hint the server sent, if any (RFC 4279 §2). */
  readonly hint: string | undefined;
  /** Our ClientKeyExchange body and the premaster secret. */
  clientKeyExchange(): { body: Buffer; premaster: Buffer };
}

/** The client's side of one handshake's key exchange, from the ServerHello on. */
export interface ClientAgreement {
  /**
   * The server's identity when the exchange itself establishes it (PSK: the identity we used);
   * undefined when the server must send a Certificate first.
   */
  readonly serverIdentity: PeerIdentity | undefined;
  /** The certificate type the server sends, and the one we send when asked (RFC 7250 §4). */
  readonly serverCertificateType: number;
  readonly clientCertificateType: number;
  /** A ServerKeyExchange must come (ECDHE) or may (PSK, with an identity hint). */
  readonly serverKeyExchangeRequired: boolean;
  /** Reads the ServerKeyExchange; `serverKey` is the key from the server's Certificate, when it sent one. */
  serverKeyExchange(body: Buffer, serverKey: KeyObject | undefined): ClientKeyMaker;
  /** No ServerKeyExchange came (only when it is not required). */
  withoutServerKeyExchange(): ClientKeyMaker;
}

export interface ServerKxParams {
  readonly credentials: ServerCredentials;
  readonly crypto: HandshakeCrypto;
  readonly clientHello: ClientHello;
  readonly clientRandom: Buffer;
  readonly serverRandom: Buffer;
  readonly ecc: EccOffer;
}

export interface ClientKxParams {
  readonly credentials: ClientCredentials;
  readonly crypto: HandshakeCrypto;
  readonly clientRandom: Buffer;
  readonly serverRandom: Buffer;
  /** The extensions of our ClientHello and of the ServerHello. */
  readonly sent: readonly Extension[];
  readonly answered: readonly Extension[];
}

export interface KeyExchange {
  /**
   * The exchange signs with a certificate's key (or a raw public key): the transcript's messages
   * are kept for a CertificateVerify (RFC 5246 §7.4.8).
   */
  readonly certificates: boolean;
  /** ServerHello extensions the exchange may bring beyond the common ones. */
  readonly serverHelloExtensionTypes: readonly number[];
  /** Client: can offer this exchange with these credentials. */
  canOffer(credentials: ClientCredentials): boolean;
  /** Client: the ClientHello extensions this exchange needs (`lean`: the fewest bytes). */
  clientHelloExtensions(credentials: ClientCredentials, lean: boolean): Extension[];
  /** Server: can serve this exchange with these credentials to a client with this ECC offer. */
  canServe(credentials: ServerCredentials, ecc: EccOffer): boolean;
  startServer(p: ServerKxParams): ServerAgreement;
  startClient(p: ClientKxParams): ClientAgreement;
}

/**
 * The ECDHE_ECDSA key exchange (RFC 8422 §5, RFC 7251) with X.509 certificates or raw public keys
 * (RFC 7250): the server sends its Certificate and a ServerKeyExchange with a fresh P-256 point
 * signed by the certificate's key, optionally a CertificateRequest; the client checks the
 * signature, answers with its own point, and the premaster secret is the ECDH shared secret.
 * The certificate types are negotiated here (credentials/keys.ts); the Certificate and
 * CertificateVerify messages of the client are the state machines' (they follow RFC 5246 §7.3
 * for any exchange that signs).
 */
import type { KeyObject } from 'node:crypto';
import type { PeerIdentity } from '../credentials/identity.ts';
import {
  acceptServerCertificateTypes,
  chooseCertificateTypes,
  clientHelloEccExtensions,
  ownCertificateMessage,
  signingKey,
} from '../credentials/keys.ts';
import { trustAnchorNames } from '../credentials/x509.ts';
import {
  checkServerKeyExchange,
  type EcdhKeyPair,
  makeClientKeyExchange,
  makeServerKeyExchange,
  premasterFromClientKeyExchange,
} from '../crypto/ecc.ts';
import type { HandshakeCrypto } from '../crypto/provider.ts';
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import { encodeCertificate } from '../wire/certificate.ts';
import { ecdsaCertificateRequest, encodeCertificateRequest } from '../wire/certificate-request.ts';
import { type Extension, findExtension } from '../wire/extensions.ts';
import {
  CertificateType,
  ECPointFormat,
  EXT_CLIENT_CERTIFICATE_TYPE,
  EXT_EC_POINT_FORMATS,
  EXT_SERVER_CERTIFICATE_TYPE,
  ecPointFormatsExtension,
  NamedGroup,
  parseCertificateTypeList,
  parseCertificateTypeSelected,
} from '../wire/extensions-ecc.ts';
import { HandshakeType } from '../wire/handshake.ts';
import type {
  ClientAgreement,
  ClientKeyMaker,
  ClientKxParams,
  KeyExchange,
  OutMessage,
  ServerAgreement,
  ServerKxParams,
  ServerKxResult,
} from './key-exchange.ts';

/**
 * A peer that authenticated with nothing, one frozen value per mode: every cached session of a
 * server that asks for no client certificate holds it, and a fresh object with its own empty
 * Buffer and arrays per handshake was ~150 bytes a session (15 MB at the cache's 100 000).
 */
const ANONYMOUS_RPK: PeerIdentity = Object.freeze({ mode: 'rpk', spki: Buffer.alloc(0), fingerprint: '' });
const ANONYMOUS_X509: PeerIdentity = Object.freeze({
  mode: 'x509',
  subject: '',
  sans: Object.freeze([]),
  fingerprint: '',
  chain: Object.freeze([]),
});

/** The identity of a peer that authenticated with nothing, in the mode of `type`. */
export function anonymousIdentity(type: number): PeerIdentity {
  return type === CertificateType.RawPublicKey ? ANONYMOUS_RPK : ANONYMOUS_X509;
}

class EcdheServerAgreement implements ServerAgreement {
  readonly serverHelloExtensions: readonly Extension[];
  readonly messages: readonly OutMessage[];
  readonly clientCertificateType: number | undefined;
  readonly anonymousClient: PeerIdentity;
  private readonly ephemeral: EcdhKeyPair;
  private readonly crypto: HandshakeCrypto;

  constructor(p: ServerKxParams) {
    const pki = p.credentials.pki;
    const certTypes = (type: number) => {
      const e = findExtension(p.clientHello.extensions, type);
      return e ? parseCertificateTypeList(e.data) : undefined;
    };
    const choice = chooseCertificateTypes(
      {
        clientCertificateTypes: certTypes(EXT_CLIENT_CERTIFICATE_TYPE),
        serverCertificateTypes: certTypes(EXT_SERVER_CERTIFICATE_TYPE),
      },
      pki,
    );
    // RFC 8422 §5.2: answer ec_point_formats when the client sent it.
    this.serverHelloExtensions = p.ecc.formats
      ? [ecPointFormatsExtension(), ...choice.serverHelloExtensions]
      : choice.serverHelloExtensions;
    const key = signingKey(pki, choice.server);
    if (!key)
      throw new DtlsAlertError(AlertDescription.internal_error, 'no signing key for the chosen certificate type');
    this.crypto = p.crypto;
    const ske = makeServerKeyExchange(key, p.clientRandom, p.serverRandom, p.crypto);
    this.ephemeral = ske.ephemeral;
    const messages: OutMessage[] = [
      { msgType: HandshakeType.certificate, body: encodeCertificate(ownCertificateMessage(pki, choice.server)) },
      { msgType: HandshakeType.server_key_exchange, body: ske.body },
    ];
    if (choice.client !== undefined) {
      const anchors = pki?.trust?.anchors;
      const names = choice.client === CertificateType.X509 && anchors ? trustAnchorNames(anchors) : [];
      messages.push({
        msgType: HandshakeType.certificate_request,
        body: encodeCertificateRequest(ecdsaCertificateRequest(names)),
      });
    }
    this.messages = messages;
    this.clientCertificateType = choice.client;
    this.anonymousClient = anonymousIdentity(choice.server);
  }

  clientKeyExchange(body: Buffer): ServerKxResult {
    return { premaster: premasterFromClientKeyExchange(body, this.ephemeral, this.crypto), identity: undefined };
  }
}

class EcdheKeyMaker implements ClientKeyMaker {
  readonly hint = undefined;
  constructor(
    private readonly serverPoint: Buffer,
    private readonly crypto: HandshakeCrypto,
  ) {}

  clientKeyExchange(): { body: Buffer; premaster: Buffer } {
    const kx = makeClientKeyExchange(this.serverPoint, this.crypto);
    return { body: kx.body, premaster: kx.premasterSecret };
  }
}

class EcdheClientAgreement implements ClientAgreement {
  readonly serverIdentity = undefined;
  readonly serverKeyExchangeRequired = true;
  readonly serverCertificateType: number;
  readonly clientCertificateType: number;

  constructor(private readonly p: ClientKxParams) {
    const list = (type: number) => {
      const e = findExtension(p.sent, type);
      return e ? parseCertificateTypeList(e.data) : undefined;
    };
    const answer = (type: number, what: string) => {
      const e = findExtension(p.answered, type);
      return e ? parseCertificateTypeSelected(e.data, what) : undefined;
    };
    const types = acceptServerCertificateTypes(
      {
        clientCertificateTypes: list(EXT_CLIENT_CERTIFICATE_TYPE),
        serverCertificateTypes: list(EXT_SERVER_CERTIFICATE_TYPE),
      },
      {
        clientCertificateType: answer(EXT_CLIENT_CERTIFICATE_TYPE, 'client_certificate_type'),
        serverCertificateType: answer(EXT_SERVER_CERTIFICATE_TYPE, 'server_certificate_type'),
      },
    );
    this.serverCertificateType = types.server;
    this.clientCertificateType = types.client;
  }

  serverKeyExchange(body: Buffer, serverKey: KeyObject | undefined): ClientKeyMaker {
    if (!serverKey) {
      throw new DtlsAlertError(AlertDescription.unexpected_message, 'ServerKeyExchange before the server Certificate');
    }
    const { serverPoint } = checkServerKeyExchange(
      body,
      serverKey,
      this.p.clientRandom,
      this.p.serverRandom,
      this.p.crypto,
    );
    return new EcdheKeyMaker(serverPoint, this.p.crypto);
  }

  withoutServerKeyExchange(): ClientKeyMaker {
    throw new DtlsAlertError(AlertDescription.unexpected_message, 'ServerHelloDone without a ServerKeyExchange');
  }
}

export const ECDHE_ECDSA_KEY_EXCHANGE: KeyExchange = {
  certificates: true,
  serverHelloExtensionTypes: [EXT_EC_POINT_FORMATS, EXT_CLIENT_CERTIFICATE_TYPE, EXT_SERVER_CERTIFICATE_TYPE],
  // Something to verify the server with.
  canOffer: (c) => Boolean(c.pki?.trust?.anchors || c.pki?.trust?.pinnedKeys || c.pki?.trust?.rpkLookup),
  // Lean: no ec_point_formats; RFC 8422 §5.1.2 makes its absence mean uncompressed only.
  clientHelloExtensions: (c, lean) =>
    clientHelloEccExtensions(c.pki).filter((e) => !lean || e.type !== EXT_EC_POINT_FORMATS),
  // A key to sign with, and a client that accepts P-256 uncompressed points (absent extensions mean "anything").
  canServe: (c, { groups, formats }) =>
    (c.pki?.certificate !== undefined || c.pki?.rpk !== undefined) &&
    (groups === undefined || groups.includes(NamedGroup.secp256r1)) &&
    (formats === undefined || formats.includes(ECPointFormat.uncompressed)),
  startServer: (p) => new EcdheServerAgreement(p),
  startClient: (p) => new EcdheClientAgreement(p),
};

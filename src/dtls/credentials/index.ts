/**
 * Credentials of the public-key DTLS modes (RFC 7250 raw public keys, X.509 certificates) — the
 * API the handshake codes against. Everything exported here is public; the rest of the folder is
 * implementation.
 *
 * ## Configuration (keys.ts)
 *
 *   interface PublicKeyCredentials {
 *     certificate?: { key: KeyObject; chain: Buffer[] }   // our chain, DER, leaf first
 *     rpk?: { key: KeyObject; spki: Buffer }              // our raw public key
 *     trust?: {
 *       anchors?: TrustAnchors                            // loadTrustAnchors(pem | pem[])
 *       pinnedKeys?: PinnedKeys                           // new PinnedKeys([spkiDer | pem | 'hex sha256'])
 *       rpkLookup?: (spki, fingerprint) => boolean | undefined | Promise<…>
 *       verifyName?: boolean                              // client: default true
 *     }
 *     clientAuth?: 'none' | 'want' | 'need'               // server: default 'none'
 *   }
 *
 *   ownCertificate(keyPemOrKeyObject, chainPemOrDers)  → OwnCertificate  (throws if key ≠ leaf)
 *   ownRawPublicKey(keyPemOrKeyObject)                 → OwnRawPublicKey (SPKI derived)
 *   loadCredentialFiles({ cert, key, ca[], rpkKey, trustRpk[], clientAuth, verifyName })
 *                                                      → PublicKeyCredentials (the CLI flags)
 *
 * ## Negotiation helpers (RFC 7250 §4; CertificateType.X509 = 0, .RawPublicKey = 2)
 *
 *   presentableCertificateTypes(creds)   types we can send, preferred first (RPK before X.509):
 *                                        the client's client_certificate_type list; the set a
 *                                        server chooses server_certificate_type from.
 *   verifiableCertificateTypes(trust)    types we can verify: the client's
 *                                        server_certificate_type list; the set a server chooses
 *                                        client_certificate_type from.
 *   selectCertificateType(clientList | undefined, ours)  (wire/extensions-ecc.ts) the server's
 *                                        pick; undefined → unsupported_certificate. An absent
 *                                        extension means X.509 only (RFC 7250 §4).
 *   clientHelloEccExtensions(creds)      client: the ClientHello's ECC + RFC 7250 extensions.
 *   chooseCertificateTypes({ clientCertificateTypes?, serverCertificateTypes? }, creds)
 *                                        server: { server, client?, serverHelloExtensions }; client
 *                                        undefined → send no CertificateRequest; throws
 *                                        unsupported_certificate when there is no overlap.
 *   acceptServerCertificateTypes(sentLists, serverHelloAnswers)
 *                                        client: the negotiated { server, client } types; throws
 *                                        unsupported_extension / illegal_parameter.
 *   ownCertificateMessage(creds, type)   the Certificate message to send (empty when we have none
 *                                        of that type: a client declining client auth).
 *   signingKey(creds, type)              the KeyObject that signs ServerKeyExchange or
 *                                        CertificateVerify (with ecc.ts `ecdsaSign`).
 *   trustAnchorNames(anchors)            DER subject names for CertificateRequest
 *                                        .certificate_authorities (empty for RPK-only servers).
 *
 * ## Verifying the peer
 *
 *   verifyPeerCertificate(certificateMessage, trust, { peerRole: 'server'|'client', serverName?, now? })
 *     → Promise<{ identity: PeerIdentity, publicKey: KeyObject }>
 *   identity is { mode: 'rpk', spki, fingerprint } or { mode: 'x509', subject, sans, fingerprint, chain };
 *   publicKey verifies the peer's ServerKeyExchange / CertificateVerify signature (ecc.ts
 *   `ecdsaVerify`; a bad signature is `decrypt_error`, RFC 5246 §7.2.2).
 *   It rejects with DtlsAlertError carrying the alert to send:
 *     handshake_failure        empty Certificate (the engine decides first whether that is allowed:
 *                              clientAuth 'want' accepts an empty client Certificate)
 *     unknown_ca               no trusted issuer, untrusted self-signed root, issuer not a CA,
 *                              chain too long, no anchors configured
 *     decrypt_error            a certificate signature that does not verify
 *     certificate_expired      any certificate on the path expired
 *     bad_certificate          unparsable, not yet valid, issuer lacks keyCertSign, path length
 *                              exceeded, server-name mismatch, raw public key not trusted
 *     unsupported_certificate  leaf key not P-256, keyUsage without digitalSignature, EKU without
 *                              serverAuth/clientAuth, unhandled critical extension
 *     internal_error           the rpkLookup threw
 *   serverName: the name the client connected to (host name or IP literal); checked against
 *   DNS/IP subjectAltNames unless trust.verifyName === false.
 *
 * ## The key exchange itself (crypto/ecc.ts), one helper per handshake message
 *
 *   server: makeServerKeyExchange(signingKey, clientRandom, serverRandom, crypto?)
 *             → { ephemeral, body }                          ServerKeyExchange body
 *           premasterFromClientKeyExchange(body, ephemeral, crypto?) → premaster (32 bytes)
 *           checkCertificateVerify(body, clientPublicKey, handshakeMessages, crypto?)  throws
 *   client: checkServerKeyExchange(body, serverPublicKey, clientRandom, serverRandom, crypto?)
 *             → { serverPoint }                             throws decrypt_error / illegal_parameter
 *           makeClientKeyExchange(serverPoint, crypto?) → { body, premasterSecret }
 *           makeCertificateVerify(signingKey, handshakeMessages, crypto?) → body
 *   handshakeMessages: the concatenated handshake messages from ClientHello up to (not including)
 *   CertificateVerify, as the transcript holds them. `crypto`: the association's HandshakeCrypto
 *   (crypto/provider.ts); its metered form reports each ECDH/ECDSA operation with the message name
 *   as context. The handshake calls them through the ECDHE strategy (handshake/kx-ecdhe.ts).
 *
 * ## Message codecs (wire/)
 *
 *   certificate.ts                  encodeCertificate / parseCertificate(body, certificateType)
 *   certificate-request.ts          ecdsaCertificateRequest(trustAnchorNames(anchors)), encode/parse
 *   certificate-verify.ts           encode/parse (used by the helpers above)
 *   server-key-exchange-ecdhe.ts    encode/parse, serverKeyExchangeSignedBlob
 *   client-key-exchange-ecdhe.ts    encode/parse
 *   extensions-ecc.ts               supported_groups, ec_point_formats, signature_algorithms,
 *                                   client_/server_certificate_type (list in ClientHello, one byte
 *                                   in ServerHello), selectCertificateType
 *
 * The lower-level pieces (verifyCertificateChain, verifyRawPublicKey, parseCertificateDer,
 * subjectAltNames) are exported for tools and tests.
 */
export type { PeerIdentity, SecurityMode } from './identity.ts';
export {
  acceptServerCertificateTypes,
  type ClientAuth,
  type CredentialFiles,
  chooseCertificateTypes,
  clientHelloEccExtensions,
  loadCredentialFiles,
  type OwnCertificate,
  type OwnRawPublicKey,
  ownCertificate,
  ownCertificateMessage,
  ownRawPublicKey,
  type PeerCertificateContext,
  type PeerTrust,
  type PublicKeyCredentials,
  pinsFromFile,
  presentableCertificateTypes,
  type ServerCertificateTypes,
  signingKey,
  verifiableCertificateTypes,
  verifyPeerCertificate,
} from './keys.ts';
export {
  PinnedKeys,
  pinFingerprint,
  type RpkIdentity,
  type RpkLookup,
  type RpkTrust,
  type VerifiedRawPublicKey,
  verifyRawPublicKey,
} from './rpk.ts';
export {
  certificatesFromPem,
  loadTrustAnchors,
  type ParsedCertificate,
  parseCertificateDer,
  subjectAltNames,
  type TrustAnchors,
  trustAnchorNames,
  type VerifiedChain,
  type VerifyChainOptions,
  verifyCertificateChain,
  type X509Identity,
} from './x509.ts';

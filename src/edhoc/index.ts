/**
 * EDHOC (RFC 9528): the lightweight authenticated key exchange that keys OSCORE. Codecs, key
 * schedule, credentials, and the Initiator/Responder state machines; CoAP transport in coap.ts.
 */
export { checkSignatureOrMac, initiatorSigns, makeSignatureOrMac, type OwnAuthKey, responderSigns } from './auth.ts';
export {
  CF_CID_EDHOC,
  CF_EDHOC,
  EDHOC_PATH,
  type EdhocClientOptions,
  EdhocResource,
  type EdhocResourceOptions,
  type EdhocResourceStats,
  edhocOverCoap,
  edhocPeerErrorOf,
} from './coap.ts';
export {
  type AuthPublicKey,
  authKeyOf,
  type CredentialResolver,
  ccsCredential,
  type EdhocCredential,
  type IdCred,
  keyFromCcs,
  knownCredentials,
  rpkCredential,
  x509Credential,
} from './credentials.ts';
export {
  type DhKeyPair,
  dhKeyPairFromPrivate,
  ed25519PrivateKey,
  generateDhKeyPair,
  p256PrivateKey,
} from './crypto.ts';
export { EdhocError, EdhocPeerError, ErrCode } from './errors.ts';
export { EdhocInitiator, type InitiatorOptions, type InitiatorState } from './initiator.ts';
export * as keySchedule from './key-schedule.ts';
export * from './messages.ts';
export { type OscoreContextInput, oscoreContextJson } from './oscore-context.ts';
export { EdhocResponder, errorMessageFor, type ResponderOptions, type ResponderState } from './responder.ts';
export { EdhocSession } from './session.ts';
export { type EdhocSuite, SUITE_0, SUITE_2, SUPPORTED_SUITES, suiteById } from './suites.ts';
export { anyCredential, type X509ResolverOptions, x509ChainResolver } from './x509-trust.ts';

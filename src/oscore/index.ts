/** OSCORE (RFC 8613): object security for CoAP, a layer beside `dtls` used by `coap`. */
export { aadArray, aadOf } from './aead.ts';
export { decodePlaintext, encodePlaintext, mergeOptions, splitOptions } from './classes.ts';
export {
  contextParamsFromJson,
  contextParamsToJson,
  OscoreContext,
  type OscoreContextOptions,
  type OscoreContextParams,
  type OscoreIdentity,
} from './context.ts';
export { AES_CCM_16_64_128, deriveKeys, HKDF_SHA_256, nonceOf } from './derive.ts';
export { OscoreError, type OscoreErrorKind } from './errors.ts';
export { decodeOscoreOption, encodeOscoreOption, OSCORE_OPTION, type OscoreOptionValue } from './option.ts';
export * from './protect.ts';
export { ReplayWindow } from './replay.ts';
export { FileSequenceStore, MemorySequenceStore, SenderSequence, type SequenceStore } from './sequence.ts';

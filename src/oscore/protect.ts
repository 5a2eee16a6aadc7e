/**
 * Protecting and unprotecting CoAP messages (RFC 8613 §8): pure functions of the keys, the Partial
 * IVs and the message. The state — which sequence number to use, whether a Partial IV is fresh —
 * lives in `context.ts`; nothing here reads a clock or a counter.
 *
 * A protected request carries outer code 0.02 POST (0.05 FETCH when it has Observe), a protected
 * response 2.04 Changed (2.05 Content for a notification, §4.2); the real code is the first byte of
 * the plaintext.
 */
import type { CoapOption } from '../coap/message.ts';
import { Code, OptionNumber } from '../coap/options.ts';
import { aadOf, open, seal } from './aead.ts';
import { decodePlaintext, encodePlaintext, mergeOptions, splitOptions } from './classes.ts';
import { nonceOf } from './derive.ts';
import { OscoreError } from './errors.ts';
import { decodeOscoreOption, encodeOscoreOption, OSCORE_OPTION, type OscoreOptionValue } from './option.ts';

/** The part of a CoAP message OSCORE transforms (the header, token and Message ID pass through). */
export interface MessageContent {
  code: number;
  options: CoapOption[];
  payload: Buffer;
}

/** What binds a response to its request: the request's kid and Partial IV (§5.4 request_kid/piv). */
export interface RequestBinding {
  kid: Buffer;
  piv: Buffer;
}

export interface SenderKeys {
  senderId: Buffer;
  senderKey: Buffer;
  commonIv: Buffer;
  idContext?: Buffer;
}

export interface RecipientKeys {
  recipientId: Buffer;
  recipientKey: Buffer;
  commonIv: Buffer;
}

const hasObserve = (options: CoapOption[]): boolean => options.some((o) => o.number === OptionNumber.Observe);

/** The OSCORE option of a message, decoded; `undefined` when it has none. */
export function oscoreOptionOf(options: CoapOption[]): OscoreOptionValue | undefined {
  let found: OscoreOptionValue | undefined;
  for (const o of options) {
    if (o.number !== OSCORE_OPTION) continue;
    if (found) throw new OscoreError('malformed', 'OSCORE option repeated');
    found = decodeOscoreOption(o.value);
  }
  return found;
}

/**
 * Protects a request with Partial IV `piv` (§8.1). `withKidContext` puts the ID Context in the
 * option (the first request of a context that the server must pick by it, as in RFC 8613 C.6).
 */
export function protectRequest(
  keys: SenderKeys,
  piv: Buffer,
  inner: MessageContent,
  withKidContext = keys.idContext !== undefined,
): { outer: MessageContent; binding: RequestBinding } {
  const { inner: innerOptions, outer } = splitOptions(inner.options, true);
  const binding = { kid: keys.senderId, piv };
  const nonce = nonceOf(keys.commonIv, keys.senderId, piv);
  const plaintext = encodePlaintext(inner.code, innerOptions, inner.payload);
  const ciphertext = seal(keys.senderKey, nonce, aadOf(binding.kid, binding.piv), plaintext);
  const option = encodeOscoreOption({
    partialIv: piv,
    kid: keys.senderId,
    kidContext: withKidContext ? keys.idContext : undefined,
  });
  outer.push({ number: OSCORE_OPTION, value: option });
  return {
    outer: { code: hasObserve(outer) ? Code.FETCH : Code.POST, options: outer, payload: ciphertext },
    binding,
  };
}

/**
 * Decrypts a request whose OSCORE option was decoded into `option` and whose Recipient Context is
 * `keys` (§8.2 steps 3–8). The replay check is the caller's, before and after.
 */
export function unprotectRequest(
  keys: RecipientKeys,
  option: OscoreOptionValue,
  outer: MessageContent,
): { inner: MessageContent; binding: RequestBinding } {
  if (!option.partialIv) throw new OscoreError('malformed', 'request without a Partial IV');
  if (!option.kid) throw new OscoreError('malformed', 'request without a kid');
  const binding = { kid: option.kid, piv: option.partialIv };
  if (outer.payload.length === 0) throw new OscoreError('malformed', 'protected request without a payload');
  const nonce = nonceOf(keys.commonIv, keys.recipientId, option.partialIv);
  const plaintext = open(keys.recipientKey, nonce, aadOf(binding.kid, binding.piv), outer.payload);
  const p = decodePlaintext(plaintext);
  return { inner: { code: p.code, options: mergeOptions(outer.options, p.options), payload: p.payload }, binding };
}

/**
 * Protects a response to the request `binding` (§8.3). Without `ownPiv` the request's nonce is
 * reused (the usual case); with it — for notifications and for answers to a request whose freshness
 * is not established — the response carries its own Partial IV and a nonce from our Sender ID.
 */
export function protectResponse(
  keys: SenderKeys,
  binding: RequestBinding,
  inner: MessageContent,
  ownPiv?: Buffer,
): MessageContent {
  const { inner: innerOptions, outer } = splitOptions(inner.options, false);
  const nonce = ownPiv
    ? nonceOf(keys.commonIv, keys.senderId, ownPiv)
    : nonceOf(keys.commonIv, binding.kid, binding.piv);
  const plaintext = encodePlaintext(inner.code, innerOptions, inner.payload);
  const ciphertext = seal(keys.senderKey, nonce, aadOf(binding.kid, binding.piv), plaintext);
  outer.push({ number: OSCORE_OPTION, value: encodeOscoreOption({ partialIv: ownPiv }) });
  return { code: hasObserve(outer) ? Code.Content : Code.Changed, options: outer, payload: ciphertext };
}

/** Decrypts a response to our request `binding` (§8.4); returns its own Partial IV when it had one. */
export function unprotectResponse(
  keys: RecipientKeys,
  binding: RequestBinding,
  outer: MessageContent,
): { inner: MessageContent; piv?: Buffer } {
  const option = oscoreOptionOf(outer.options);
  if (!option) throw new OscoreError('malformed', 'response without an OSCORE option');
  if (outer.payload.length === 0) throw new OscoreError('malformed', 'protected response without a payload');
  const nonce = option.partialIv
    ? nonceOf(keys.commonIv, keys.recipientId, option.partialIv)
    : nonceOf(keys.commonIv, binding.kid, binding.piv);
  const plaintext = open(keys.recipientKey, nonce, aadOf(binding.kid, binding.piv), outer.payload);
  const p = decodePlaintext(plaintext);
  return {
    inner: { code: p.code, options: mergeOptions(outer.options, p.options), payload: p.payload },
    piv: option.partialIv,
  };
}

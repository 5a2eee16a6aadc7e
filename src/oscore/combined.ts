/**
 * The EDHOC + OSCORE request (RFC 9668 §3): the Initiator's first OSCORE request carries EDHOC
 * message_3 too, saving a round trip. It has the EDHOC option (21, empty, Class U, so outside the
 * AAD) and its payload is message_3 (one CBOR byte string) followed by the OSCORE ciphertext; the
 * kid of its OSCORE option is C_R, which names the EDHOC exchange on the server. Pure codecs.
 */
import type { CoapOption } from '../coap/message.ts';
import { OscoreError } from './errors.ts';
import type { MessageContent } from './protect.ts';

export const EDHOC_OPTION = 21;

export const hasEdhocOption = (options: readonly CoapOption[]): boolean =>
  options.some((o) => o.number === EDHOC_OPTION);

/** The combined request from a protected request and message_3. */
export function combineRequest(outer: MessageContent, message3: Buffer): MessageContent {
  return {
    ...outer,
    options: [...outer.options, { number: EDHOC_OPTION, value: Buffer.alloc(0) }],
    payload: Buffer.concat([message3, outer.payload]),
  };
}

/**
 * Splits a combined request's payload into message_3 (a definite-length CBOR byte string, whose
 * header is all that is read) and the OSCORE ciphertext; throws 'malformed' on anything else.
 */
export function splitCombinedPayload(payload: Buffer): { message3: Buffer; rest: Buffer } {
  const first = payload[0];
  if (first === undefined || first >> 5 !== 2) throw new OscoreError('malformed', 'EDHOC option without message_3');
  const info = first & 0x1f;
  let header: number;
  let length: number;
  if (info < 24) [header, length] = [1, info];
  else if (info === 24 && payload.length >= 2) [header, length] = [2, payload[1]];
  else if (info === 25 && payload.length >= 3) [header, length] = [3, payload.readUInt16BE(1)];
  else throw new OscoreError('malformed', 'message_3 length is not a 0..65535 byte string header');
  const end = header + length;
  if (end >= payload.length) throw new OscoreError('malformed', 'message_3 leaves no OSCORE ciphertext');
  return { message3: payload.subarray(0, end), rest: payload.subarray(end) };
}

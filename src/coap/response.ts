/** What a CoAP client request resolves with: a response message read into plain fields. */
import { type CoapMessage, type CoapOption, getOption, getOptions, getUintOption } from './message.ts';
import { codeString, OptionNumber } from './options.ts';
import type { TransportPeer } from './transport.ts';

export interface CoapResponse {
  code: number;
  /** "2.05" */
  status: string;
  /** True for 2.xx. */
  ok: boolean;
  options: CoapOption[];
  /** The whole body (reassembled from Block2 blocks). */
  payload: Buffer;
  contentFormat?: number;
  etag?: Buffer;
  maxAge?: number;
  observe?: number;
  locationPath: string[];
  peer: TransportPeer;
  /** The type of the message that carried the (last part of the) response. */
  type: CoapMessage['type'];
}

/** The response as the client hands it out: the message, its common options decoded, and the whole body. */
export function toCoapResponse(m: CoapMessage, peer: TransportPeer, payload = m.payload): CoapResponse {
  return {
    code: m.code,
    status: codeString(m.code),
    ok: m.code >> 5 === 2,
    options: m.options,
    payload,
    contentFormat: getUintOption(m, OptionNumber.ContentFormat),
    etag: getOption(m, OptionNumber.ETag),
    maxAge: getUintOption(m, OptionNumber.MaxAge),
    observe: getUintOption(m, OptionNumber.Observe),
    locationPath: getOptions(m, OptionNumber.LocationPath).map((b) => b.toString('utf8')),
    peer,
    type: m.type,
  };
}

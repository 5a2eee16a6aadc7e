/**
 * The client side of OSCORE (RFC 8613 §8.1, §8.4): protects one request, unprotects its response
 * and any notifications, and repeats the request once with the Echo value when the server asks for
 * it (a 4.01 with Echo, RFC 9175 §2.3). The CoAP client hands it the function that sends one
 * exchange on the wire, so block-wise and observe loops above it stay unchanged: every block and
 * every re-registration is its own protected request (end-to-end block-wise, §4.1.3.4).
 */
import { type CoapMessage, getUintOption } from '../coap/message.ts';
import { Code, OptionNumber } from '../coap/options.ts';
import type { TransportPeer } from '../coap/transport.ts';
import { decodeSequence } from '../util/cbor.ts';
import { combineRequest } from './combined.ts';
import type { OscoreContext } from './context.ts';
import { OscoreError } from './errors.ts';
import { sequenceOf } from './option.ts';
import { type MessageContent, oscoreOptionOf, protectRequest, unprotectResponse } from './protect.ts';

/** application/edhoc+cbor-seq: an EDHOC error message answering an EDHOC + OSCORE request. */
const CF_EDHOC = 64;

/**
 * RFC 9668 §3.3.1: the server refused the EDHOC part of our combined request with an EDHOC error
 * message (ERR_CODE, ERR_INFO), unprotected. It becomes an OscoreError of kind 'edhoc' holding the
 * response, so that the EDHOC layer can decode it fully.
 */
function edhocFailure(res: CoapMessage): OscoreError {
  let detail: string;
  try {
    const [code, info] = decodeSequence(res.payload, { maxDepth: 2, maxSequenceItems: 2 }).map((i) => i.value);
    detail = `EDHOC error ${String(code)}${typeof info === 'string' ? `: ${info}` : ''}`;
  } catch {
    detail = 'a malformed EDHOC error message';
  }
  const status = `${res.code >> 5}.${String(res.code & 31).padStart(2, '0')}`;
  return new OscoreError('edhoc', `EDHOC + OSCORE request refused (${status}): ${detail}`, {
    code: res.code,
    contentFormat: CF_EDHOC,
    payload: res.payload,
  });
}

export type WireExchange = (
  outer: MessageContent,
  persistent?: (m: CoapMessage, peer: TransportPeer) => void,
) => Promise<CoapMessage>;

/**
 * Sends `inner` protected under `ctx` and resolves with the inner response. An unprotected error
 * response (the server's 4.01/4.02/4.00 of §8.2, or a proxy's 5.xx) is returned as it came, since
 * OSCORE could not run; an unprotected success, or one that does not verify, rejects. So does an
 * EDHOC error message answering a request that carried message_3 (OscoreError kind 'edhoc').
 */
export async function secureExchange(
  ctx: OscoreContext,
  send: WireExchange,
  inner: MessageContent,
  onNotification?: (m: CoapMessage, peer: TransportPeer) => void,
  echoRetried = false,
): Promise<CoapMessage> {
  const piv = await ctx.nextPartialIv();
  const { outer, binding } = protectRequest(ctx.sender, piv, inner);
  // §7.4.1: notifications are accepted only in increasing order of their Partial IV.
  let newest = -1;
  const persistent =
    onNotification &&
    ((m: CoapMessage, peer: TransportPeer) => {
      try {
        const r = unprotectResponse(ctx.recipient, binding, m);
        if (!r.piv) return;
        const seq = sequenceOf(r.piv);
        if (seq <= newest) return;
        newest = seq;
        onNotification({ ...m, ...r.inner }, peer);
      } catch {
        // A notification that does not verify is dropped, as if it had been lost.
      }
    });
  // RFC 9668: the first request after EDHOC carries message_3 (the server has no context before it).
  const m3 = ctx.edhocMessage3;
  ctx.edhocMessage3 = undefined;
  const res = await send(m3 ? combineRequest(outer, m3) : outer, persistent);
  let opt: ReturnType<typeof oscoreOptionOf>;
  try {
    opt = oscoreOptionOf(res.options);
  } catch (err) {
    throw err instanceof OscoreError ? err : new OscoreError('malformed', String(err));
  }
  if (!opt) {
    if (m3 && getUintOption(res, OptionNumber.ContentFormat) === CF_EDHOC) throw edhocFailure(res);
    if (res.code >> 5 >= 4) return res;
    throw new OscoreError(
      'malformed',
      `unprotected ${res.code >> 5}.${String(res.code & 31).padStart(2, '0')} to an OSCORE request`,
    );
  }
  const r = unprotectResponse(ctx.recipient, binding, res);
  if (r.piv) newest = Math.max(newest, sequenceOf(r.piv));
  const echo = r.inner.options.find((o) => o.number === OptionNumber.Echo);
  if (r.inner.code === Code.Unauthorized && echo && !echoRetried) {
    const options = inner.options.filter((o) => o.number !== OptionNumber.Echo);
    options.push(echo);
    return secureExchange(ctx, send, { ...inner, options }, onNotification, true);
  }
  return { ...res, ...r.inner };
}

/**
 * Which CoAP options OSCORE encrypts (RFC 8613 §4.1) and the plaintext codec (§5.3). Pure.
 *
 * Class U options stay outside, readable by proxies: Uri-Host, Uri-Port, Proxy-Scheme, Hop-Limit and
 * the OSCORE option itself; Proxy-Uri is split into its outer scheme/host/port and inner path/query
 * (§4.1.3.3). Observe and No-Response are both inner and outer in a request (§4.1.3.5, §4.1.3.6); in
 * a response Observe is outer only. Every other option, unknown ones included, is Class E: Uri-Path,
 * Uri-Query, Content-Format, ETag, Block1/Block2 (end-to-end block-wise, §4.1.3.4), Echo, … No
 * Class I option is defined, so the AAD's `options` field is empty.
 */
import { type CoapOption, decodeMessage, encodeMessage } from '../coap/message.ts';
import { encodeUint, OptionNumber } from '../coap/options.ts';
import { DEFAULT_PORTS, parseCoapUri, uriOptions } from '../coap/uri.ts';
import { OscoreError } from './errors.ts';
import { OSCORE_OPTION } from './option.ts';

/** RFC 8768 Hop-Limit: read and decremented by proxies. */
const HOP_LIMIT = 16;
const OUTER_ONLY: ReadonlySet<number> = new Set([
  OptionNumber.UriHost,
  OptionNumber.UriPort,
  OptionNumber.ProxyScheme,
  HOP_LIMIT,
  OSCORE_OPTION,
]);
const BOTH_IN_REQUESTS: ReadonlySet<number> = new Set([OptionNumber.Observe, OptionNumber.NoResponse]);

export interface SplitOptions {
  inner: CoapOption[];
  outer: CoapOption[];
}

/** Splits the options of a message to protect into the encrypted and the outer ones. */
export function splitOptions(options: CoapOption[], isRequest: boolean): SplitOptions {
  const inner: CoapOption[] = [];
  const outer: CoapOption[] = [];
  for (const o of options) {
    if (o.number === OptionNumber.ProxyUri) {
      // §4.1.3.3: the proxy needs the scheme and authority, only the endpoint needs the path.
      let uri: ReturnType<typeof parseCoapUri>;
      try {
        uri = parseCoapUri(o.value.toString('utf8'));
      } catch (err) {
        throw new RangeError(`Proxy-Uri cannot be split: ${(err as Error).message}`);
      }
      outer.push({ number: OptionNumber.UriHost, value: Buffer.from(uri.host) });
      if (uri.port !== DEFAULT_PORTS[uri.scheme])
        outer.push({ number: OptionNumber.UriPort, value: encodeUint(uri.port) });
      outer.push({ number: OptionNumber.ProxyScheme, value: Buffer.from(uri.scheme) });
      for (const u of uriOptions(uri)) if (u.number !== OptionNumber.UriHost) inner.push(u);
    } else if (OUTER_ONLY.has(o.number)) {
      outer.push(o);
    } else if (o.number === OptionNumber.Observe) {
      outer.push(o);
      if (isRequest) inner.push(o);
    } else if (BOTH_IN_REQUESTS.has(o.number) && isRequest) {
      outer.push(o);
      inner.push(o);
    } else {
      inner.push(o);
    }
  }
  return { inner, outer };
}

/**
 * The message the endpoint processes: the inner options, plus the outer ones the inner part does
 * not carry (Uri-Host, Uri-Port, Proxy-Scheme, Observe of a notification, …) but never an outer
 * option that has an inner counterpart, which the attacker-controlled outer value must not override.
 */
export function mergeOptions(outer: CoapOption[], inner: CoapOption[]): CoapOption[] {
  const innerNumbers = new Set(inner.map((o) => o.number));
  const merged = inner.slice();
  for (const o of outer) {
    if (o.number === OSCORE_OPTION || innerNumbers.has(o.number)) continue;
    if (!OUTER_ONLY.has(o.number) && !BOTH_IN_REQUESTS.has(o.number)) continue;
    merged.push(o);
  }
  return merged.sort((a, b) => a.number - b.number);
}

const EMPTY = Buffer.alloc(0);

/** The plaintext of §5.3: inner code ‖ inner options ‖ (0xFF ‖ payload when there is one). */
export function encodePlaintext(code: number, options: CoapOption[], payload: Buffer): Buffer {
  const m = encodeMessage({ type: 'CON', code, messageId: 0, token: EMPTY, options, payload });
  // The CoAP codec writes options and payload exactly as a plaintext has them after a 4-byte header.
  m[3] = code;
  return m.subarray(3);
}

export interface Plaintext {
  code: number;
  options: CoapOption[];
  payload: Buffer;
}

/** Decodes a plaintext; throws {@link OscoreError} `malformed` when it is not one. */
export function decodePlaintext(p: Buffer): Plaintext {
  if (p.length === 0) throw new OscoreError('malformed', 'plaintext is empty (no inner code)');
  const code = p[0];
  if (code === 0) throw new OscoreError('malformed', 'inner code 0.00');
  const header = Buffer.from([0x40, 0x01, 0, 0]);
  const d = decodeMessage(Buffer.concat([header, p.subarray(1)]));
  if (!d.ok) throw new OscoreError('malformed', `plaintext: ${d.error}`);
  if (d.message.options.some((o) => o.number === OSCORE_OPTION))
    throw new OscoreError('malformed', 'an OSCORE option inside the plaintext');
  return { code, options: d.message.options, payload: d.message.payload };
}

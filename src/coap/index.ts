/**
 * SecureSense CoAP (RFC 7252, RFC 7959 block-wise, RFC 7641 observe, RFC 6690 link format) — the
 * public API (`securesense/coap`). Everything exported here is public.
 *
 * ```ts
 * import { CoapServer, CoapClient, UdpTransport } from 'securesense/coap';
 * const server = new CoapServer();
 * server.get('/hello/:name', (req) => ({ payload: `hello ${req.params.name}` }));
 * server.listen(await UdpTransport.bind({ port: 5683 }));
 * const client = new CoapClient();
 * const res = await client.get('coap://127.0.0.1/hello/world');
 * console.log(res.status, res.payload.toString()); // 2.05 hello world
 * await client.close(); await server.close();
 * ```
 */

/** The client: requests with Block1/Block2, observations, ping. */
export {
  CoapClient,
  type CoapClientOptions,
  type CoapResponse,
  Observation,
  type RequestOptions,
  type TransportProvider,
  type TransportTarget,
} from './client.ts';
export {
  CoapCancelledError,
  CoapError,
  type CoapErrorKind,
  CoapFormatError,
  CoapResetError,
  CoapTimeoutError,
} from './errors.ts';
/** RFC 6690 link format. */
export { formatLinks, type Link, parseLinks } from './linkformat.ts';
/** The message codec. */
export {
  type CoapMessage,
  type CoapOption,
  checkOptions,
  type DecodeResult,
  decodeMessage,
  describeMessage,
  encodeMessage,
  formatOptionValue,
  getOption,
  getOptions,
  getUintOption,
  type MessageType,
} from './message.ts';
/** The message layer (reliability, deduplication) and its parameters. */
export {
  DEFAULT_PARAMETERS,
  derivedTimes,
  MessageLayer,
  type MessageLayerStats,
  randomToken,
  ServerExchange,
  type TransmissionParameters,
} from './messaging.ts';
export { isFresher, OBSERVE_MODULUS } from './observe.ts';
/** Option numbers, codes, content formats and value helpers. */
export {
  type BlockValue,
  Code,
  ContentFormat,
  codeString,
  contentFormatName,
  decodeBlock,
  decodeUint,
  encodeBlock,
  encodeUint,
  type Method,
  OptionNumber,
  optionName,
  parseCode,
  parseContentFormat,
} from './options.ts';
/** The server with its router. */
export {
  type CoapHandler,
  type CoapRequest,
  type CoapResponseInit,
  CoapServer,
  type CoapServerOptions,
  type RouteOptions,
} from './server.ts';
/** The token layer the client sits on (request/response matching by peer and token). */
export { TokenManager } from './tokens.ts';
export { type PeerIdentity, peerKey, type Transport, type TransportPeer } from './transport.ts';
export {
  COAPS_PORT,
  type CoapsSecurity,
  createDtlsClientTransport,
  DtlsClientTransport,
  DtlsServerTransport,
  securityKey,
} from './transport-dtls.ts';
export { COAP_PORT, UdpTransport, type UdpTransportOptions } from './transport-udp.ts';
export { type CoapUri, formatCoapUri, parseCoapUri, uriOptions } from './uri.ts';

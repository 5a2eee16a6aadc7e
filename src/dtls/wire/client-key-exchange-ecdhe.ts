/**
 * ClientKeyExchange for ECDHE (RFC 8422 §5.7): ClientECDiffieHellmanPublic with the explicit
 * form, `ECPoint ecdh_Yc` = `opaque point<1..2^8-1>` (the client's ephemeral point, uncompressed).
 * The implicit (empty) form belongs to fixed-ECDH client certificates, which nobody uses and
 * RFC 8422 §3 removed; an empty point is a decode error here.
 */
import { Reader, Writer } from './buffer.ts';

export interface ClientKeyExchangeEcdhe {
  /** Uncompressed point, 65 bytes on P-256. */
  publicPoint: Buffer;
}

export function encodeClientKeyExchangeEcdhe(m: ClientKeyExchangeEcdhe): Buffer {
  if (m.publicPoint.length === 0) throw new RangeError('ECPoint must not be empty');
  return new Writer().vec8(m.publicPoint).finish();
}

export function parseClientKeyExchangeEcdhe(body: Buffer): ClientKeyExchangeEcdhe {
  const r = new Reader(body, 'client_key_exchange');
  const publicPoint = r.vec8('ecdh_Yc', 1);
  r.end();
  return { publicPoint };
}

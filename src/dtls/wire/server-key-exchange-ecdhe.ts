/**
 * ServerKeyExchange for ECDHE_ECDSA (RFC 8422 §5.4, RFC 5246 §7.4.3):
 *
 *   struct { ECCurveType curve_type; NamedCurve namedcurve; } ECParameters;   // named_curve (3) only
 *   struct { opaque point<1..2^8-1>; } ECPoint;
 *   struct { ECParameters curve_params; ECPoint public; } ServerECDHParams;
 *   struct { ServerECDHParams params; Signature signed_params; } ServerKeyExchange;
 *
 * `signed_params` is a TLS 1.2 digitally-signed struct: SignatureAndHashAlgorithm then
 * `opaque signature<0..2^16-1>`, computed over ClientHello.random ‖ ServerHello.random ‖
 * ServerECDHParams — see {@link serverKeyExchangeSignedBlob}. The parser keeps the params bytes
 * exactly as received so the client verifies what was signed, not a re-encoding.
 */
import { AlertDescription, DtlsAlertError } from '../errors.ts';
import { Reader, Writer } from './buffer.ts';
import {
  readSignatureAndHashAlgorithm,
  type SignatureAndHashAlgorithm,
  writeSignatureAndHashAlgorithm,
} from './extensions-ecc.ts';

/** ECCurveType (RFC 8422 §5.4): explicit_prime (1) and explicit_char2 (2) are deprecated. */
export const EC_CURVE_TYPE_NAMED_CURVE = 3;

export interface ServerECDHParams {
  namedCurve: number;
  /** The server's ephemeral public point (uncompressed, 65 bytes on P-256). */
  publicPoint: Buffer;
}

export interface ServerKeyExchangeEcdhe {
  params: ServerECDHParams;
  /** The ServerECDHParams bytes as they are on the wire (what the signature covers). */
  paramsBytes: Buffer;
  algorithm: SignatureAndHashAlgorithm;
  signature: Buffer;
}

export function encodeServerECDHParams(p: ServerECDHParams): Buffer {
  if (p.publicPoint.length === 0) throw new RangeError('ECPoint must not be empty');
  return new Writer().u8(EC_CURVE_TYPE_NAMED_CURVE).u16(p.namedCurve).vec8(p.publicPoint).finish();
}

/**
 * The bytes the server signs and the client verifies: client_random ‖ server_random ‖
 * ServerECDHParams (RFC 8422 §5.4 "signed_params"). Both randoms are 32 bytes (RFC 5246 §7.4.1.2).
 */
export function serverKeyExchangeSignedBlob(clientRandom: Buffer, serverRandom: Buffer, paramsBytes: Buffer): Buffer {
  if (clientRandom.length !== 32 || serverRandom.length !== 32) throw new RangeError('randoms are 32 bytes each');
  return Buffer.concat([clientRandom, serverRandom, paramsBytes]);
}

export function encodeServerKeyExchangeEcdhe(m: {
  params: ServerECDHParams;
  algorithm: SignatureAndHashAlgorithm;
  signature: Buffer;
}): Buffer {
  const w = new Writer().bytes(encodeServerECDHParams(m.params));
  writeSignatureAndHashAlgorithm(w, m.algorithm);
  return w.vec16(m.signature).finish();
}

export function parseServerKeyExchangeEcdhe(body: Buffer): ServerKeyExchangeEcdhe {
  const r = new Reader(body, 'server_key_exchange');
  const curveType = r.u8('curve_type');
  if (curveType !== EC_CURVE_TYPE_NAMED_CURVE) {
    // RFC 8422 §5.4: explicit curves are deprecated; a client offered named curves only.
    throw new DtlsAlertError(
      AlertDescription.illegal_parameter,
      `server_key_exchange: curve_type ${curveType} is not named_curve`,
    );
  }
  const namedCurve = r.u16('namedcurve');
  const publicPoint = r.vec8('ECPoint', 1);
  const paramsBytes = body.subarray(0, r.offset);
  const algorithm = readSignatureAndHashAlgorithm(r);
  const signature = r.vec16('signature', 1);
  r.end();
  return { params: { namedCurve, publicPoint }, paramsBytes, algorithm, signature };
}

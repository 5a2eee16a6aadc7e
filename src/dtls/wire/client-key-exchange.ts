/** ClientKeyExchange, PSK form (RFC 4279 §2): psk_identity<0..2^16-1>. */
import { Reader, Writer } from './buffer.ts';

export interface ClientKeyExchangePsk {
  identity: Buffer;
}

export function parseClientKeyExchangePsk(body: Buffer): ClientKeyExchangePsk {
  const r = new Reader(body, 'client_key_exchange');
  // RFC 4279 §5.3: identities are at most 128 bytes in practice; the field allows 2^16-1.
  const identity = r.vec16('psk_identity');
  r.end();
  return { identity };
}

export function encodeClientKeyExchangePsk(m: ClientKeyExchangePsk): Buffer {
  return new Writer().vec16(m.identity).finish();
}

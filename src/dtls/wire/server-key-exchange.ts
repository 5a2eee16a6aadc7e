/** ServerKeyExchange, PSK form (RFC 4279 §2): psk_identity_hint<0..2^16-1>. */
import { Reader, Writer } from './buffer.ts';

export interface ServerKeyExchangePsk {
  identityHint: Buffer;
}

export function parseServerKeyExchangePsk(body: Buffer): ServerKeyExchangePsk {
  const r = new Reader(body, 'server_key_exchange');
  const identityHint = r.vec16('psk_identity_hint');
  r.end();
  return { identityHint };
}

export function encodeServerKeyExchangePsk(m: ServerKeyExchangePsk): Buffer {
  return new Writer().vec16(m.identityHint).finish();
}

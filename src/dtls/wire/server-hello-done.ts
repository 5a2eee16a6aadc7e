/** ServerHelloDone (RFC 5246 §7.4.5): an empty body. */
import { Reader } from './buffer.ts';

export function parseServerHelloDone(body: Buffer): void {
  new Reader(body, 'server_hello_done').end();
}

export function encodeServerHelloDone(): Buffer {
  return Buffer.alloc(0);
}

/**
 * ServerHello (RFC 5246 §7.4.1.3): server_version, random[32], session_id<0..32>, cipher_suite,
 * compression_method, extensions.
 */
import { Reader, Writer } from './buffer.ts';
import { type Extension, parseExtensions, writeExtensions } from './extensions.ts';

export interface ServerHello {
  serverVersion: number;
  random: Buffer;
  sessionId: Buffer;
  cipherSuite: number;
  compressionMethod: number;
  extensions: Extension[];
}

export function parseServerHello(body: Buffer): ServerHello {
  const r = new Reader(body, 'server_hello');
  const serverVersion = r.u16('server_version');
  const random = r.bytes(32, 'random');
  const sessionId = r.vec8('session_id', 0, 32);
  const cipherSuite = r.u16('cipher_suite');
  const compressionMethod = r.u8('compression_method');
  const extensions = parseExtensions(r);
  r.end();
  return { serverVersion, random, sessionId, cipherSuite, compressionMethod, extensions };
}

export function encodeServerHello(m: ServerHello): Buffer {
  const w = new Writer()
    .u16(m.serverVersion)
    .bytes(m.random)
    .vec8(m.sessionId)
    .u16(m.cipherSuite)
    .u8(m.compressionMethod);
  writeExtensions(w, m.extensions);
  return w.finish();
}

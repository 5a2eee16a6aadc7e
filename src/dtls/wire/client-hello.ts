/**
 * ClientHello (RFC 6347 §4.2.1 adds the cookie to RFC 5246 §7.4.1.2):
 * client_version, random[32], session_id<0..32>, cookie<0..2^8-1>, cipher_suites<2..2^16-2>,
 * compression_methods<1..2^8-1>, extensions.
 */
import { DtlsDecodeError } from '../errors.ts';
import { Reader, Writer } from './buffer.ts';
import { type Extension, parseExtensions, writeExtensions } from './extensions.ts';

export interface ClientHello {
  clientVersion: number;
  random: Buffer;
  sessionId: Buffer;
  cookie: Buffer;
  cipherSuites: number[];
  compressionMethods: number[];
  extensions: Extension[];
}

export function parseClientHello(body: Buffer): ClientHello {
  const r = new Reader(body, 'client_hello');
  const clientVersion = r.u16('client_version');
  const random = r.bytes(32, 'random');
  const sessionId = r.vec8('session_id', 0, 32);
  const cookie = r.vec8('cookie');
  const suites = r.vec16('cipher_suites', 2, 0xfffe);
  if (suites.length % 2 !== 0) throw new DtlsDecodeError('client_hello: odd cipher_suites length');
  const cipherSuites: number[] = [];
  for (let i = 0; i < suites.length; i += 2) cipherSuites.push(suites.readUInt16BE(i));
  const compressionMethods = [...r.vec8('compression_methods', 1)];
  const extensions = parseExtensions(r);
  r.end();
  return { clientVersion, random, sessionId, cookie, cipherSuites, compressionMethods, extensions };
}

export function encodeClientHello(m: ClientHello): Buffer {
  const w = new Writer().u16(m.clientVersion).bytes(m.random).vec8(m.sessionId).vec8(m.cookie);
  const suites = Buffer.alloc(m.cipherSuites.length * 2);
  m.cipherSuites.forEach((s, i) => {
    suites.writeUInt16BE(s, i * 2);
  });
  w.vec16(suites).vec8(Buffer.from(m.compressionMethods));
  writeExtensions(w, m.extensions);
  return w.finish();
}

/** HelloVerifyRequest (RFC 6347 §4.2.1): server_version, cookie<0..2^8-1>. */
import { Reader, Writer } from './buffer.ts';

export interface HelloVerifyRequest {
  serverVersion: number;
  cookie: Buffer;
}

export function parseHelloVerifyRequest(body: Buffer): HelloVerifyRequest {
  const r = new Reader(body, 'hello_verify_request');
  const serverVersion = r.u16('server_version');
  const cookie = r.vec8('cookie', 0, 255);
  r.end();
  return { serverVersion, cookie };
}

export function encodeHelloVerifyRequest(m: HelloVerifyRequest): Buffer {
  return new Writer().u16(m.serverVersion).vec8(m.cookie).finish();
}

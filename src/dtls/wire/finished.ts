/** Finished (RFC 5246 §7.4.9): verify_data[12] for TLS 1.2 cipher suites. */
import { Reader } from './buffer.ts';

export const VERIFY_DATA_LENGTH = 12;

export function parseFinished(body: Buffer): Buffer {
  const r = new Reader(body, 'finished');
  const v = r.bytes(VERIFY_DATA_LENGTH, 'verify_data');
  r.end();
  return v;
}

export function encodeFinished(verifyData: Buffer): Buffer {
  return Buffer.from(verifyData);
}

/** ChangeCipherSpec (RFC 5246 §7.1): one byte, value 1. */
import { DtlsDecodeError } from '../errors.ts';

export const CHANGE_CIPHER_SPEC = Buffer.of(1);

export function parseChangeCipherSpec(data: Buffer): void {
  if (data.length !== 1 || data[0] !== 1) throw new DtlsDecodeError('change_cipher_spec: must be the single byte 1');
}

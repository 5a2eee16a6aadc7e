/**
 * The TLS 1.2 PRF with SHA-256 (RFC 5246 §5): PRF(secret, label, seed) = P_SHA256(secret, label + seed),
 * P_hash(secret, seed) = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + …, A(i) = HMAC(secret, A(i-1)).
 */
import { createHmac } from 'node:crypto';
import type { CryptoPurpose, DtlsMeter } from '../meter.ts';

const SHA256_LENGTH = 32;

export function pSha256(
  secret: Buffer,
  seed: Buffer,
  length: number,
  meter?: DtlsMeter,
  context?: string,
  purpose?: CryptoPurpose,
): Buffer {
  const out = Buffer.alloc(length);
  let a = seed;
  let filled = 0;
  let hmacs = 0;
  while (filled < length) {
    a = createHmac('sha256', secret).update(a).digest();
    const block = createHmac('sha256', secret).update(a).update(seed).digest();
    hmacs += 2;
    block.copy(out, filled, 0, Math.min(SHA256_LENGTH, length - filled));
    filled += SHA256_LENGTH;
  }
  meter?.crypto('hmac', hmacs, context, purpose);
  return out;
}

export function prf(
  secret: Buffer,
  label: string,
  seed: Buffer,
  length: number,
  meter?: DtlsMeter,
  context?: string,
  purpose?: CryptoPurpose,
): Buffer {
  meter?.crypto('prf', 1, context, purpose);
  return pSha256(secret, Buffer.concat([Buffer.from(label, 'ascii'), seed]), length, meter, context, purpose);
}

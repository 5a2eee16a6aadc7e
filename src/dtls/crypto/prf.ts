/**
 * The TLS 1.2 PRF with SHA-256 (RFC 5246 §5): PRF(secret, label, seed) = P_SHA256(secret, label + seed),
 * P_hash(secret, seed) = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + …, A(i) = HMAC(secret, A(i-1)).
 */
import type { CryptoPurpose, DtlsMeter } from '../meter.ts';
import { HmacSha256, SHA256_LENGTH } from './sha256.ts';

export function pSha256(
  secret: Buffer,
  seed: Buffer,
  length: number,
  meter?: DtlsMeter,
  context?: string,
  purpose?: CryptoPurpose,
): Buffer {
  const out = Buffer.alloc(length);
  if (length === 0) return out;
  const hmac = new HmacSha256(secret);
  // msg = A(i) ‖ seed: A(i) is rewritten in place each round, so no buffer is concatenated.
  const msg = Buffer.alloc(SHA256_LENGTH + seed.length);
  seed.copy(msg, SHA256_LENGTH);
  const block = Buffer.alloc(SHA256_LENGTH);
  let filled = 0;
  let hmacs = 0;
  // A(1) = HMAC(secret, seed)
  hmac.macInto(msg.subarray(SHA256_LENGTH), msg, 0);
  for (;;) {
    // HMAC(secret, A(i) ‖ seed)
    hmac.macInto(msg, block, 0);
    hmacs += 2;
    block.copy(out, filled, 0, Math.min(SHA256_LENGTH, length - filled));
    filled += SHA256_LENGTH;
    if (filled >= length) break;
    // A(i+1) = HMAC(secret, A(i))
    hmac.macInto(msg.subarray(0, SHA256_LENGTH), msg, 0);
  }
  hmac.wipe();
  msg.fill(0);
  block.fill(0);
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

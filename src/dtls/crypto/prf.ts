/**
 * The TLS 1.2 PRF with SHA-256 (RFC 5246 §5): PRF(secret, label, seed) = P_SHA256(secret, label + seed),
 * P_hash(secret, seed) = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + …, A(i) = HMAC(secret, A(i-1)).
 *
 * A handshake makes four PRF calls (master secret, key block, two verify_data); each runs in one
 * go, so they share one HMAC instance and scratch buffers and allocate only their output.
 */
import { nativePrf } from './native-prf.ts';
import { HmacSha256, SHA256_LENGTH } from './sha256.ts';

const HMAC = new HmacSha256(new Uint8Array(0));
/** A(i) ‖ label ‖ seed, when it fits (every PRF call of a handshake does: labels ≤ 22 bytes, seeds ≤ 64). */
const SCRATCH = Buffer.alloc(SHA256_LENGTH + 160);
const BLOCK = Buffer.alloc(SHA256_LENGTH);
/** The labels' bytes, made once (the handful of RFC labels; others are made per call). */
const LABELS = new Map<string, Buffer>();
const MAX_LABELS = 16;
const EMPTY = new Uint8Array(0);

function labelBytes(label: string): Buffer {
  let b = LABELS.get(label);
  if (b === undefined) {
    b = Buffer.from(label, 'ascii');
    if (LABELS.size < MAX_LABELS) LABELS.set(label, b);
  }
  return b;
}

/**
 * P_SHA256(secret, label ‖ seed ‖ seed2) for `length` bytes; the label and `seed2` may be empty
 * (a seed in two parts, such as the two randoms, is not concatenated first).
 */
function pHash(
  secret: Uint8Array,
  label: Uint8Array,
  seed: Uint8Array,
  length: number,
  seed2: Uint8Array = EMPTY,
): Buffer {
  const out = Buffer.alloc(length);
  if (length === 0) return out;
  if (nativePrf) {
    if (!nativePrf.pSha256(secret, label, seed, seed2, out)) throw new Error('P_SHA256 failed in OpenSSL');
    return out;
  }
  const n = SHA256_LENGTH + label.length + seed.length + seed2.length;
  // msg = A(i) ‖ label ‖ seed: A(i) is rewritten in place each round, so no buffer is concatenated.
  // Ranges of one buffer rather than views of it: no typed-array object per HMAC.
  const msg = n <= SCRATCH.length ? SCRATCH : Buffer.alloc(n);
  msg.set(label, SHA256_LENGTH);
  msg.set(seed, SHA256_LENGTH + label.length);
  msg.set(seed2, SHA256_LENGTH + label.length + seed.length);
  const hmac = HMAC;
  hmac.rekey(secret);
  let filled = 0;
  // A(1) = HMAC(secret, label ‖ seed)
  hmac.macRangeInto(msg, SHA256_LENGTH, n, msg, 0);
  for (;;) {
    // HMAC(secret, A(i) ‖ label ‖ seed)
    hmac.macRangeInto(msg, 0, n, BLOCK, 0);
    const take = Math.min(SHA256_LENGTH, length - filled);
    for (let i = 0; i < take; i++) out[filled + i] = BLOCK[i];
    filled += SHA256_LENGTH;
    if (filled >= length) break;
    // A(i+1) = HMAC(secret, A(i))
    hmac.macRangeInto(msg, 0, SHA256_LENGTH, msg, 0);
  }
  hmac.wipe();
  msg.fill(0, 0, n);
  BLOCK.fill(0);
  return out;
}

export function pSha256(secret: Buffer, seed: Buffer, length: number): Buffer {
  return pHash(secret, EMPTY, seed, length);
}

export function prf(secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  return pHash(secret, labelBytes(label), seed, length);
}

/** {@link prf} with the seed `seed ‖ seed2` (the two randoms), without concatenating them. */
export function prfTwoSeeds(secret: Buffer, label: string, seed: Buffer, seed2: Buffer, length: number): Buffer {
  return pHash(secret, labelBytes(label), seed, length, seed2);
}

/** The HMACs one PRF call of `length` output bytes computes: two per 32-byte block (A(i) and the block). */
export function prfHmacCount(length: number): number {
  return 2 * Math.ceil(length / SHA256_LENGTH);
}

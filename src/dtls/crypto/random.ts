/**
 * Handshake randoms and session IDs from a pool: one `randomFillSync` of 4 KiB serves 128
 * 32-byte values, where `randomBytes(32)` per value costs a CSPRNG call (and its locks) each.
 * The bytes are the same CSPRNG output either way; each is handed out once.
 */
import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_SIZE);
let used = POOL_SIZE;

/**
 * `n` (≤ 4096) fresh random bytes in memory of their own (a value that outlives the handshake,
 * such as a session ID, must not keep a shared pool alive).
 */
export function randomOwnBytes(n: number): Buffer {
  if (n > POOL_SIZE) throw new RangeError(`at most ${POOL_SIZE} random bytes at once`);
  if (used + n > POOL_SIZE) {
    randomFillSync(pool);
    used = 0;
  }
  const out = Buffer.allocUnsafeSlow(n);
  pool.copy(out, 0, used, used + n);
  // Spent bytes are overwritten so that no copy of a handed-out value stays in the pool.
  pool.fill(0, used, used + n);
  used += n;
  return out;
}

/**
 * Secrets and passwords: 192-bit tokens and keys stored only as SHA-256, passwords as scrypt
 * records with their salt and parameters (RFC 7914).
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { Invalid } from '../errors.ts';
import { LIMITS } from '../model.ts';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

// scrypt parameters (RFC 7914 §2): N=2^15, r=8, p=1 costs ~32 MiB and tens of ms per check.
const SCRYPT = { N: 32768, r: 8, p: 1, keyLen: 32, maxmem: 64 * 1024 * 1024 };

/** SHA-256 hex of a secret. Tokens and keys are stored only in this form. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * A new random secret with a prefix that says what it unlocks (user API token `sst_`, sign-in
 * session `ssn_`, resource key `ssr_`, stream key `sss_`), so that a lookup hits one table.
 */
export function newSecret(prefix: 'sst' | 'ssn' | 'ssr' | 'sss'): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, SCRYPT.keyLen, {
    N: SCRYPT.N,
    r: SCRYPT.r,
    p: SCRYPT.p,
    maxmem: SCRYPT.maxmem,
  });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, record: string): Promise<boolean> {
  const parts = record.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], 'base64');
  const want = Buffer.from(parts[5], 'base64');
  const got = await scrypt(password, salt, want.length, { N, r, p, maxmem: SCRYPT.maxmem });
  return timingSafeEqual(got, want);
}

/** Equal-time comparison of two hex digests. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

// A valid scrypt record of a random password, checked against for unknown users.
export const DUMMY_PASSWORD_RECORD = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;

export function checkPassword(pw: string): void {
  if (pw.length < LIMITS.passwordMinLength || pw.length > LIMITS.passwordMaxLength) {
    throw new Invalid(`password must be ${LIMITS.passwordMinLength}–${LIMITS.passwordMaxLength} characters`);
  }
}

/**
 * Security context derivation (RFC 8613 §3.2) and the AEAD nonce (§5.2). Pure functions.
 *
 * Sender Key, Recipient Key and Common IV are HKDF-SHA256 outputs of the Master Secret and Master
 * Salt, each with the CBOR `info` array [id, id_context, alg_aead, type, L] (§3.2.1); the nonce is
 * the Common IV XOR (ID length ‖ ID left-padded to nonce−6 bytes ‖ Partial IV left-padded to 5).
 */
import { hkdfSync } from 'node:crypto';
import { type CborValue, encode } from '../util/cbor.ts';

/** AES-CCM-16-64-128 (COSE algorithm 10, RFC 9053 §4.2): the mandatory OSCORE algorithm. */
export const AES_CCM_16_64_128 = 10;
/** HKDF with SHA-256 (COSE algorithm −10, RFC 9053 §5.1). */
export const HKDF_SHA_256 = -10;
export const KEY_LENGTH = 16;
export const NONCE_LENGTH = 13;
export const TAG_LENGTH = 8;
/** §3.3: a Sender/Recipient ID is at most nonce length − 6 bytes (7 for AES-CCM-16-64-128). */
export const MAX_ID_LENGTH = NONCE_LENGTH - 6;

/** What keys an OSCORE security context (§3.1): the common record EDHOC's exporter fills too. */
export interface OscoreContextParams {
  masterSecret: Buffer;
  /** Absent means the empty byte string (§3.2: the HKDF default salt). */
  masterSalt?: Buffer;
  senderId: Buffer;
  recipientId: Buffer;
  idContext?: Buffer;
  /** COSE AEAD algorithm; only AES-CCM-16-64-128 (10) is implemented. */
  aead?: number;
  /** COSE HKDF algorithm; only HKDF SHA-256 (−10) is implemented. */
  hkdf?: number;
}

export interface DerivedKeys {
  senderKey: Buffer;
  recipientKey: Buffer;
  commonIv: Buffer;
}

/** The `info` of §3.2.1 for one output: `type` "Key" or "IV". */
export function infoOf(id: Buffer, idContext: Buffer | undefined, type: 'Key' | 'IV', length: number): Buffer {
  const info: CborValue[] = [id, idContext ?? null, AES_CCM_16_64_128, type, length];
  return encode(info);
}

function hkdf(secret: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, salt, info, length));
}

/** Checks the parameters a context is made from; throws `RangeError` naming the field. */
export function checkParams(p: OscoreContextParams): void {
  if ((p.aead ?? AES_CCM_16_64_128) !== AES_CCM_16_64_128)
    throw new RangeError(`AEAD algorithm ${p.aead} is not supported (only 10, AES-CCM-16-64-128)`);
  if ((p.hkdf ?? HKDF_SHA_256) !== HKDF_SHA_256)
    throw new RangeError(`HKDF algorithm ${p.hkdf} is not supported (only -10, HKDF SHA-256)`);
  if (p.masterSecret.length === 0) throw new RangeError('master secret is empty');
  if (p.senderId.length > MAX_ID_LENGTH) throw new RangeError(`sender ID of ${p.senderId.length} bytes (at most 7)`);
  if (p.recipientId.length > MAX_ID_LENGTH)
    throw new RangeError(`recipient ID of ${p.recipientId.length} bytes (at most 7)`);
  if (p.senderId.equals(p.recipientId)) throw new RangeError('sender ID and recipient ID are equal');
  if (p.idContext && p.idContext.length > 255) throw new RangeError('ID context longer than 255 bytes');
}

/** Derives the keys and Common IV of a context (§3.2.1). */
export function deriveKeys(p: OscoreContextParams): DerivedKeys {
  checkParams(p);
  const salt = p.masterSalt ?? Buffer.alloc(0);
  return {
    senderKey: hkdf(p.masterSecret, salt, infoOf(p.senderId, p.idContext, 'Key', KEY_LENGTH), KEY_LENGTH),
    recipientKey: hkdf(p.masterSecret, salt, infoOf(p.recipientId, p.idContext, 'Key', KEY_LENGTH), KEY_LENGTH),
    commonIv: hkdf(p.masterSecret, salt, infoOf(Buffer.alloc(0), p.idContext, 'IV', NONCE_LENGTH), NONCE_LENGTH),
  };
}

/** The AEAD nonce for the sender `id` and Partial IV `piv` (§5.2). */
export function nonceOf(commonIv: Buffer, id: Buffer, piv: Buffer): Buffer {
  if (id.length > MAX_ID_LENGTH) throw new RangeError(`ID of ${id.length} bytes in a nonce`);
  if (piv.length > 5) throw new RangeError(`Partial IV of ${piv.length} bytes in a nonce`);
  const n = Buffer.alloc(NONCE_LENGTH);
  n[0] = id.length;
  id.copy(n, 1 + MAX_ID_LENGTH - id.length);
  piv.copy(n, NONCE_LENGTH - piv.length);
  for (let i = 0; i < NONCE_LENGTH; i++) n[i] ^= commonIv[i];
  return n;
}

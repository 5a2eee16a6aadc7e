/**
 * AES-128-CCM-8 (NIST SP 800-38C, RFC 3610; as used by RFC 6655) on AES contexts kept between
 * records. node:crypto's `aes-128-ccm` needs a new cipher per record (`createCipheriv` fetches the
 * algorithm and allocates a context: two thirds of a record's cost in the server profile). CCM is
 * CBC-MAC plus CTR, so one key needs just two long-lived AES operations:
 *
 *   - CBC-MAC over B0 ‖ AAD block ‖ payload: an `aes-128-cbc` cipher whose chain simply continues
 *     from call to call; XORing the previous call's last ciphertext block into B0 makes each MAC
 *     start from a zero IV as CBC-MAC requires;
 *   - the CTR keystream S0 ‖ S1 ‖ …: an `aes-128-ecb` cipher applied to the counter blocks.
 *
 * A context costs about 3 KB of native memory (two OpenSSL cipher contexts) and up to 2.3 KB of
 * keystream computed ahead, too much to give every idle session, so contexts live in a bounded
 * cache ({@link CcmContextCache}) that only busy keys enter; the others keep using the one-shot cipher.
 */
import { type Cipheriv, createCipheriv, createSecretKey, timingSafeEqual } from 'node:crypto';

const BLOCK = 16;
/** Largest payload sealed or opened: a record fragment (RFC 5246 §6.2.3, 2^14 + 2048). */
export const CCM_MAX_PAYLOAD = 16384 + 2048;
/**
 * Longest additional data: a record's is 13 bytes (seq_num, type, version, length), a tls12_cid
 * record's 23 + its CID (RFC 9146 §5.3, CIDs of at most 255 bytes).
 */
const MAX_AAD_LENGTH = 23 + 255;
/** Bytes of the MAC input before the payload at most: B0, then the AAD's length and the AAD, padded. */
const MAX_MAC_HEADER = BLOCK + ((2 + MAX_AAD_LENGTH + BLOCK - 1) & ~(BLOCK - 1));
const NONCE_LENGTH = 12;
const TAG_LENGTH = 8;
/** B0 flags: Adata, M = 8 ((8 − 2) / 2 = 3 in bits 3–5), L = 3 (L − 1 = 2 in bits 0–2). */
const B0_FLAGS = 0x40 | (3 << 3) | 2;
/** Counter block flags: L − 1. */
const CTR_FLAGS = 2;

/**
 * Below this many bytes a plain loop copies or clears faster than `Buffer#copy` / `Buffer#fill`,
 * whose argument checks cost more than the bytes themselves (a record's nonce, AAD, padding and a
 * short CoAP message all fall below it; the CPU profile showed `copyImpl` and `_fill` at ~5 %).
 */
const SMALL = 64;

function copyBytes(src: Buffer, srcStart: number, dst: Buffer, dstStart: number, n: number): void {
  if (n > SMALL) {
    src.copy(dst, dstStart, srcStart, srcStart + n);
    return;
  }
  for (let i = 0; i < n; i++) dst[dstStart + i] = src[srcStart + i];
}

function zero(b: Buffer, from: number, to: number): void {
  if (to - from > SMALL) b.fill(0, from, to);
  else for (let i = from; i < to; i++) b[i] = 0;
}

/** Records whose keystream one AES call computes, once nonces run in sequence. */
const BATCH = 16;
/** Records needing this many keystream blocks or more (payload over 112 bytes) get their own call. */
const BATCH_MAX_BLOCKS = 9;

/** Scratch for the MAC input and the counter blocks (synchronous use, one at a time). */
const MAC_IN = Buffer.alloc(MAX_MAC_HEADER + CCM_MAX_PAYLOAD + BLOCK);
const CTR_IN = Buffer.alloc(BLOCK + CCM_MAX_PAYLOAD + BLOCK);
const TAG = Buffer.alloc(TAG_LENGTH);

/** AES-128-CCM-8 with a 12-byte nonce and additional data of up to 278 bytes under one key. */
export class CcmContext {
  private readonly cbc: Cipheriv;
  private readonly ecb: Cipheriv;
  /** The CBC chain value left by the previous call (zero: the IV the cipher starts from). */
  private readonly chain = Buffer.alloc(BLOCK);
  /** Keystream of `ksCount` records from nonce `ksNonce` on, `ksBlocks` blocks each (see keystream()). */
  private ks: Buffer = Buffer.alloc(0);
  private readonly ksNonce = Buffer.alloc(NONCE_LENGTH);
  private ksFirst = 0;
  private ksCount = 0;
  private ksBlocks = 0;
  /** The 48-bit sequence part of the previous record's nonce (-1: none yet). */
  private lastSeq = -1;
  /** Date.now() of the last use (the cache evicts idle contexts). */
  lastUse = 0;

  constructor(key: Buffer) {
    // One KeyObject for both ciphers: a raw Buffer key costs node:crypto two caught exceptions per
    // cipher created (see keyObjectOf in ccm.ts).
    const k = createSecretKey(key);
    this.cbc = createCipheriv('aes-128-cbc', k, Buffer.alloc(BLOCK));
    this.cbc.setAutoPadding(false);
    this.ecb = createCipheriv('aes-128-ecb', k, null);
    this.ecb.setAutoPadding(false);
  }

  /** CBC-MAC T of (nonce, aad, payload[0..n]); the first 8 bytes of the returned block are the tag before masking. */
  private mac(nonce: Buffer, aad: Buffer, payload: Buffer, n: number): Buffer {
    const m = MAC_IN;
    m[0] = B0_FLAGS;
    copyBytes(nonce, 0, m, 1, NONCE_LENGTH);
    m[13] = (n >>> 16) & 0xff;
    m[14] = (n >>> 8) & 0xff;
    m[15] = n & 0xff;
    const a = aad.length;
    m[16] = a >>> 8;
    m[17] = a & 0xff;
    copyBytes(aad, 0, m, 18, a);
    // The AAD blocks end on a block boundary (13 bytes: one block, as before CIDs).
    const at = BLOCK + ((2 + a + BLOCK - 1) & ~(BLOCK - 1));
    zero(m, 18 + a, at);
    copyBytes(payload, 0, m, at, n);
    const end = at + ((n + BLOCK - 1) & ~(BLOCK - 1));
    zero(m, at + n, end);
    // The cipher chains from the previous call's last block; cancel it so that this MAC starts at zero.
    for (let i = 0; i < BLOCK; i++) m[i] ^= this.chain[i];
    const out = this.cbc.update(m.subarray(0, end));
    copyBytes(out, out.length - BLOCK, this.chain, 0, BLOCK);
    return this.chain;
  }

  /**
   * Puts S0 ‖ S1 ‖ … ‖ Sk, enough keystream for n payload bytes after the 16 bytes that mask the
   * tag, in `this.ks` and returns where it starts. The keystream depends only on the nonce, and a
   * record's nonce is the key's salt and the record's epoch and sequence number (RFC 6655 §3; every
   * stack we know of sends its sequence number as the explicit part). Once two records in a row have
   * consecutive nonces, one AES call computes the keystream of the next {@link BATCH} records: the
   * per-call cost (JS to native, a new output Buffer) was most of a short record's keystream.
   * Other nonces (a peer's random explicit nonce, a long record) get their own call as before.
   */
  private keystream(nonce: Buffer, n: number): number {
    const need = ((n + BLOCK - 1) >>> 4) + 1;
    const seq = nonce.readUInt16BE(6) * 0x1_0000_0000 + nonce.readUInt32BE(8);
    const base = this.ksNonce;
    let samePrefix = true;
    for (let i = 0; i < 6; i++) {
      if (nonce[i] !== base[i]) {
        samePrefix = false;
        break;
      }
    }
    const previous = this.lastSeq;
    this.lastSeq = seq;
    if (samePrefix) {
      const d = seq - this.ksFirst;
      if (d >= 0 && d < this.ksCount && need <= this.ksBlocks) return d * this.ksBlocks * BLOCK;
    }
    const ahead = samePrefix && seq === previous + 1 && need < BATCH_MAX_BLOCKS;
    const count = ahead ? BATCH : 1;
    // One spare block, so that a slightly longer record later in the batch still finds its keystream.
    const blocks = ahead ? need + 1 : need;
    const c = CTR_IN;
    let o = 0;
    for (let r = 0; r < count; r++) {
      const v = seq + r;
      const hi = Math.floor(v / 0x1_0000_0000);
      const lo = v >>> 0;
      for (let i = 0; i < blocks; i++, o += BLOCK) {
        c[o] = CTR_FLAGS;
        for (let j = 0; j < 6; j++) c[o + 1 + j] = nonce[j];
        c[o + 7] = (hi >>> 8) & 0xff;
        c[o + 8] = hi & 0xff;
        c[o + 9] = lo >>> 24;
        c[o + 10] = (lo >>> 16) & 0xff;
        c[o + 11] = (lo >>> 8) & 0xff;
        c[o + 12] = lo & 0xff;
        c[o + 13] = (i >>> 16) & 0xff;
        c[o + 14] = (i >>> 8) & 0xff;
        c[o + 15] = i & 0xff;
      }
    }
    this.ks = this.ecb.update(c.subarray(0, o));
    copyBytes(nonce, 0, base, 0, NONCE_LENGTH);
    this.ksFirst = seq;
    this.ksCount = count;
    this.ksBlocks = blocks;
    return 0;
  }

  /** Writes ciphertext ‖ tag (plaintext length + 8 bytes) at `off` of `out`. */
  seal(nonce: Buffer, aad: Buffer, plaintext: Buffer, out: Buffer, off: number): void {
    const n = plaintext.length;
    if (n > CCM_MAX_PAYLOAD) throw new RangeError('CCM payload too long');
    const t = this.mac(nonce, aad, plaintext, n);
    const at = this.keystream(nonce, n);
    const s = this.ks;
    for (let i = 0; i < n; i++) out[off + i] = plaintext[i] ^ s[at + BLOCK + i];
    for (let i = 0; i < TAG_LENGTH; i++) out[off + n + i] = t[i] ^ s[at + i];
  }

  /** The plaintext of ciphertext ‖ tag, or undefined when the tag does not verify (compared in constant time). */
  open(nonce: Buffer, aad: Buffer, sealed: Buffer): Buffer | undefined {
    const n = sealed.length - TAG_LENGTH;
    if (n < 0 || n > CCM_MAX_PAYLOAD) return undefined;
    const at = this.keystream(nonce, n);
    const s = this.ks;
    // A new buffer, not the keystream's: keystream computed ahead must survive a forged record.
    const pt = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) pt[i] = sealed[i] ^ s[at + BLOCK + i];
    const t = this.mac(nonce, aad, pt, n);
    for (let i = 0; i < TAG_LENGTH; i++) TAG[i] = t[i] ^ s[at + i];
    return timingSafeEqual(TAG, sealed.subarray(n)) ? pt : undefined;
  }
}

export interface CcmCacheStats {
  /** Records protected with a cached context. */
  hits: number;
  /** Contexts created (a busy key entered the cache). */
  created: number;
  /** Contexts dropped to make room, each idle for at least `idleMs`. */
  evicted: number;
  /** Busy keys left on the one-shot cipher because every cached context was in use. */
  refused: number;
}

/**
 * A bounded set of CCM contexts for the keys that carry traffic now. A key asks for a context
 * once it is busy (the record layer decides: several records under it); it gets one while there is
 * room, or by replacing the oldest context when that one has been idle for `idleMs`. When every
 * context is in use the key is refused and keeps the one-shot cipher, so that many sessions taking
 * turns cannot make every record build a context (slower than the one-shot cipher) and evict
 * another. Owners are the record layer's per-epoch, per-direction key states.
 */
export class CcmContextCache {
  /** In insertion order: the first entry is the oldest candidate for eviction. */
  private readonly contexts = new Map<object, CcmContext>();
  readonly stats: CcmCacheStats = { hits: 0, created: 0, evicted: 0, refused: 0 };

  constructor(
    readonly capacity = 256,
    readonly idleMs = 1000,
  ) {}

  get size(): number {
    return this.contexts.size;
  }

  /** The cached context of `owner`, if any. */
  get(owner: object, now: number): CcmContext | undefined {
    const ctx = this.contexts.get(owner);
    if (ctx) {
      ctx.lastUse = now;
      this.stats.hits++;
    }
    return ctx;
  }

  /** A new context for a busy `owner`, or undefined when the cache is full of contexts in use. */
  admit(owner: object, key: Buffer, now: number): CcmContext | undefined {
    if (this.contexts.size >= this.capacity) {
      const oldest = this.contexts.entries().next().value;
      if (!oldest) return undefined;
      const [oldOwner, oldCtx] = oldest;
      this.contexts.delete(oldOwner);
      if (now - oldCtx.lastUse < this.idleMs) {
        // Still in use: it goes to the back (a second chance) and the newcomer waits.
        this.contexts.set(oldOwner, oldCtx);
        this.stats.refused++;
        return undefined;
      }
      this.stats.evicted++;
    }
    const ctx = new CcmContext(key);
    ctx.lastUse = now;
    this.contexts.set(owner, ctx);
    this.stats.created++;
    return ctx;
  }

  /** Drops the context of `owner` (its keys are replaced or gone). */
  delete(owner: object): void {
    this.contexts.delete(owner);
  }
}

/** The process's cache: at most 256 keys (≈ 0.75 MB of native memory, ≤ 0.6 MB of keystream), shared by every endpoint. */
export const ccmContexts = new CcmContextCache();

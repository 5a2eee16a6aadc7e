/**
 * Message IDs and tokens (RFC 7252 §4.4, §5.3.1): IDs from a keyed permutation of a counter, so that
 * none repeats within 65 536 messages and yet a peer cannot predict the next one; tokens random.
 */
import { randomBytes, randomInt } from 'node:crypto';

/** A 16-bit keyed permutation (4-round Feistel on bytes with random S-boxes). */
export class MessageIdSequence {
  private counter = randomInt(0, 0x10000);
  private readonly s0: Uint8Array;
  private readonly s1: Uint8Array;
  private readonly s2: Uint8Array;
  private readonly s3: Uint8Array;
  constructor() {
    const k = randomBytes(1024);
    this.s0 = new Uint8Array(k.subarray(0, 256));
    this.s1 = new Uint8Array(k.subarray(256, 512));
    this.s2 = new Uint8Array(k.subarray(512, 768));
    this.s3 = new Uint8Array(k.subarray(768, 1024));
  }
  next(): number {
    this.counter = (this.counter + 1) & 0xffff;
    let l = this.counter >> 8;
    let r = this.counter & 0xff;
    let t = l ^ this.s0[r];
    l = r;
    r = t;
    t = l ^ this.s1[r];
    l = r;
    r = t;
    t = l ^ this.s2[r];
    l = r;
    r = t;
    t = l ^ this.s3[r];
    l = r;
    r = t;
    return (l << 8) | r;
  }
}

/** Random bytes drawn from a pool refilled by crypto.randomBytes (one syscall per 4 KiB). */
class RandomPool {
  private pool = randomBytes(4096);
  private off = 0;
  take(n: number): Buffer {
    if (this.off + n > this.pool.length) {
      this.pool = randomBytes(4096);
      this.off = 0;
    }
    const out = Buffer.from(this.pool.subarray(this.off, this.off + n));
    this.off += n;
    return out;
  }
}

const randomPool = new RandomPool();

/** A fresh token of `length` (default 8) random bytes (RFC 7252 §5.3.1). */
export function randomToken(length = 8): Buffer {
  return randomPool.take(length);
}

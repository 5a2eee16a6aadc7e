/**
 * The replay window of a Recipient Context (RFC 8613 §7.4): the highest Partial IV received and a
 * 32-entry bitmap of the ones below it, as in the anti-replay window of RFC 4303 §3.4.3. Checking
 * and updating are separate, so that a message is only marked as seen once it decrypted.
 *
 * After a reboot without a persisted window the window is *unknown* (§7.5.1): no Partial IV can be
 * told fresh until a request proves freshness with an Echo value (RFC 9175, RFC 8613 Appendix B.1.2).
 */
export const REPLAY_WINDOW_SIZE = 32;

export class ReplayWindow {
  private highest = -1;
  /** Bit i set: highest − i was received (bit 0 is `highest` itself). */
  private bits = 0;

  constructor(private known = true) {}

  /** False until the window is established after a reboot. */
  get isKnown(): boolean {
    return this.known;
  }

  /** True when `seq` has not been received and is not below the window. */
  isFresh(seq: number): boolean {
    if (!this.known) return false;
    if (seq > this.highest) return true;
    const back = this.highest - seq;
    if (back >= REPLAY_WINDOW_SIZE) return false;
    return ((this.bits >>> back) & 1) === 0;
  }

  /** Marks `seq` as received (after it decrypted). */
  accept(seq: number): void {
    if (seq > this.highest) {
      const shift = this.highest < 0 ? REPLAY_WINDOW_SIZE : seq - this.highest;
      this.bits = shift >= REPLAY_WINDOW_SIZE ? 1 : ((this.bits << shift) | 1) >>> 0;
      this.highest = seq;
    } else {
      this.bits = (this.bits | (1 << (this.highest - seq))) >>> 0;
    }
  }

  /** Establishes the window at `seq` after an Echo proved the request fresh. */
  reset(seq: number): void {
    this.known = true;
    this.highest = seq;
    this.bits = 1;
  }
}

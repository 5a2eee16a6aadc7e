/**
 * A map from DTLS epoch to per-epoch state, for the record layer of every association. Epochs 0
 * and 1 are all a DTLS 1.2 association without renegotiation ever has, so they are two fields;
 * a Map is made only for a higher epoch. An idle session keeps three of these: as fields they
 * cost a few dozen bytes where three Maps cost over 500.
 */
export class EpochMap<V> {
  private e0: V | undefined = undefined;
  private e1: V | undefined = undefined;
  private more: Map<number, V> | undefined = undefined;

  /** A map holding `value` at epoch 0. */
  static of<V>(value: V): EpochMap<V> {
    const m = new EpochMap<V>();
    m.e0 = value;
    return m;
  }

  get(epoch: number): V | undefined {
    if (epoch === 0) return this.e0;
    if (epoch === 1) return this.e1;
    return this.more?.get(epoch);
  }

  set(epoch: number, value: V): this {
    if (epoch === 0) this.e0 = value;
    else if (epoch === 1) this.e1 = value;
    else {
      this.more ??= new Map();
      this.more.set(epoch, value);
    }
    return this;
  }

  /** Forgets `epoch`'s value. */
  delete(epoch: number): void {
    if (epoch === 0) this.e0 = undefined;
    else if (epoch === 1) this.e1 = undefined;
    else this.more?.delete(epoch);
  }

  has(epoch: number): boolean {
    return this.get(epoch) !== undefined;
  }

  /** Calls `fn` for every epoch that holds a value. */
  forEachEpoch(fn: (epoch: number, value: V) => void): void {
    if (this.e0 !== undefined) fn(0, this.e0);
    if (this.e1 !== undefined) fn(1, this.e1);
    if (this.more) for (const [epoch, v] of this.more) fn(epoch, v);
  }
}

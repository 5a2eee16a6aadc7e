/**
 * A small bounded least-recently-used map, for caches of pure functions of their key (parsed
 * keys and certificates by their DER bytes): a hit moves the entry to the young end, an insert
 * past `max` drops the oldest. A Map iterates in insertion order, so the oldest is its first key.
 */
export class LruCache<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`LRU size must be a positive integer, got ${max}`);
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}

/**
 * One entry of a {@link LinkedQueue}: the item, the time it was queued or last touched, and the
 * list it is in (undefined once removed). `twin` pairs it with the same item's node in a second
 * list (a handshake sits in the global list and in its address's list).
 */
export class ListNode<T> {
  prev: ListNode<T> | undefined = undefined;
  next: ListNode<T> | undefined = undefined;
  list: LinkedQueue<T> | undefined = undefined;
  twin: ListNode<T> | undefined = undefined;
  constructor(
    readonly item: T,
    public at: number,
  ) {}
}

/**
 * A doubly-linked queue ordered by time of insertion or last touch: the head is the oldest.
 * Push, remove and move-to-tail are O(1) and allocate nothing but the pushed node, so an LRU of
 * sessions by last activity costs a few pointer writes per datagram (no key strings, no Map
 * re-insertion).
 */
export class LinkedQueue<T> {
  head: ListNode<T> | undefined = undefined;
  tail: ListNode<T> | undefined = undefined;
  size = 0;

  push(item: T, at: number): ListNode<T> {
    const n = new ListNode(item, at);
    this.link(n);
    return n;
  }

  /** Unlinks `n` if it is in this queue; a node of another queue (or none) is left alone. */
  remove(n: ListNode<T>): void {
    if (n.list !== this) return;
    if (n.prev) n.prev.next = n.next;
    else this.head = n.next;
    if (n.next) n.next.prev = n.prev;
    else this.tail = n.prev;
    n.prev = n.next = undefined;
    n.list = undefined;
    this.size--;
  }

  /** Marks `n` touched at `at` and makes it the youngest. */
  moveToTail(n: ListNode<T>, at: number): void {
    n.at = at;
    if (n.list !== this || this.tail === n) return;
    this.remove(n);
    this.link(n);
  }

  private link(n: ListNode<T>): void {
    n.list = this;
    n.prev = this.tail;
    n.next = undefined;
    if (this.tail) this.tail.next = n;
    else this.head = n;
    this.tail = n;
    this.size++;
  }
}

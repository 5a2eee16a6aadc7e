/**
 * Admission control of a DTLS server endpoint: which handshakes and sessions it keeps when it is
 * full, and the counters that say what it refused or evicted. The policy fails open for honest
 * clients (an attacker can make us forget, never make us stop answering):
 *
 * - established sessions are kept in least-recently-active order; past `maxSessions` the one idle
 *   longest is evicted so that the newly established one fits (Californium does the same with
 *   stale connections). Only a completed handshake (a proven credential) can evict a session;
 * - half-open handshakes (a cookie-verified ClientHello was answered) have their own budget and a
 *   short time-out; when a new verified ClientHello needs a slot, the oldest half-open handshake
 *   is dropped. One address holds at most `maxHandshakesPerAddress` of them: past that its own
 *   oldest is dropped, so a flood from one address cannot push out anyone else's;
 * - the idle time-out and the handshake time-out are enforced by one sweep over the heads of two
 *   ordered lists (no timer per association).
 *
 * Everything here is O(1) per event; the sweep costs what it evicts.
 */
import { LinkedQueue, type ListNode } from './lru.ts';

export interface AdmissionLimits {
  /** Established sessions kept at once; the one idle longest makes room for a new one. */
  maxSessions: number;
  /** Half-open (server) handshakes at once; the oldest makes room for a new verified ClientHello. */
  maxHandshakes: number;
  /** Half-open handshakes from one IP address; its own oldest makes room. */
  maxHandshakesPerAddress: number;
  /** A server handshake not finished after this long is dropped (ms). */
  handshakeTimeoutMs: number;
  /** An established session silent for this long is dropped (ms; 0 = never). */
  idleTimeoutMs: number;
}

export const DEFAULT_LIMITS: AdmissionLimits = {
  maxSessions: 100_000,
  maxHandshakes: 1000,
  maxHandshakesPerAddress: 100,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 300_000,
};

/**
 * What the endpoint did with its traffic. Gauges (`sessions`, `handshakes`) say what it holds now;
 * everything else counts up from zero. A plain object of numbers, for logs and metrics exporters.
 */
export interface EndpointStats {
  /** Established sessions held now. */
  sessions: number;
  /** Server handshakes in flight now (cookie verified, not yet finished). */
  handshakes: number;
  /** Cookieless (or stale-cookie) ClientHellos answered with a HelloVerifyRequest. */
  helloVerifyRequests: number;
  /** Server handshakes started (a ClientHello with a valid cookie) and sessions established. */
  handshakesStarted: number;
  sessionsEstablished: number;
  /** Associations dropped to stay within a limit, by reason. */
  evictions: {
    /** The session idle longest, to make room for a newly established one. */
    sessionCapacity: number;
    /** Sessions silent for longer than the idle time-out. */
    sessionIdle: number;
    /** The oldest half-open handshake, to make room for a new verified ClientHello. */
    handshakeCapacity: number;
    /** The oldest half-open handshake of an address at its per-address cap. */
    handshakePerAddress: number;
    /** Handshakes not finished within the handshake time-out. */
    handshakeTimeout: number;
    /**
     * Resumable sessions dropped by the session cache at its bound, oldest first (a later
     * resumption of one becomes a full handshake); from the cache's own count when it keeps one.
     */
    sessionCache: number;
  };
  /** Connection IDs (RFC 9146). */
  connectionIds: {
    /** Sessions moved to a new peer address by an authenticated CID record newer than any seen (§6). */
    addressUpdates: number;
    /**
     * Datagrams held back from a new, not yet verified peer address because they were larger than
     * what came from there (no amplification toward an address the peer has not proven).
     */
    addressLimited: number;
    /** CID records whose CID names no association (dropped). */
    unknown: number;
  };
  /** Datagrams not answered, by reason (none of these is silent: each is counted here). */
  refusals: {
    /** A ClientHello whose HelloVerifyRequest would be larger than the ClientHello itself. */
    helloVerifyTooLarge: number;
    /** A ClientHello fragmented over several records (the cookie exchange needs it whole). */
    fragmentedClientHello: number;
  };
  /** Datagrams dropped, by reason. */
  drops: {
    /** Not a DTLS record, or a ClientHello we cannot parse. */
    malformed: number;
    /** Records from a peer with no association that are not a ClientHello. */
    noAssociation: number;
    /** Datagrams the kernel dropped on this socket's receive queue (Linux /proc/net/udp*, where visible). */
    receiveBuffer: number;
    /** Datagrams not sent because the socket's send buffer was full (a batched server socket drops; dgram queues). */
    sendBuffer: number;
  };
}

export function emptyStats(): EndpointStats {
  return {
    sessions: 0,
    handshakes: 0,
    helloVerifyRequests: 0,
    handshakesStarted: 0,
    sessionsEstablished: 0,
    evictions: {
      sessionCapacity: 0,
      sessionIdle: 0,
      handshakeCapacity: 0,
      handshakePerAddress: 0,
      handshakeTimeout: 0,
      sessionCache: 0,
    },
    connectionIds: { addressUpdates: 0, addressLimited: 0, unknown: 0 },
    refusals: { helloVerifyTooLarge: 0, fragmentedClientHello: 0 },
    drops: { malformed: 0, noAssociation: 0, receiveBuffer: 0, sendBuffer: 0 },
  };
}

export type EvictionReason = keyof EndpointStats['evictions'];

/** What admission needs of an association: its peer address and a way to drop it. */
export interface Admitted {
  readonly remote: { readonly address: string };
  /** Where this association sits in admission's lists (undefined when it sits in none). */
  admission: ListNode<unknown> | undefined;
  /** Drops the association; admission frees its slot itself. */
  evict(reason: EvictionReason): void;
}

export class Admission<A extends Admitted> {
  readonly stats = emptyStats();
  private readonly sessions = new LinkedQueue<A>();
  private readonly handshakes = new LinkedQueue<A>();
  private readonly byAddress = new Map<string, LinkedQueue<A>>();
  /** Sessions established less than `handshakeTimeoutMs` ago (their final flight is still kept). */
  private readonly settling = new LinkedQueue<A>();

  constructor(
    readonly limits: AdmissionLimits,
    private readonly hooks: {
      /** Told of each eviction after it is counted (`count`: evictions for that reason so far), to log it. */
      onEvict?: (a: A, reason: EvictionReason, count: number) => void;
      /** A session has been established for `handshakeTimeoutMs`: what it kept for the peer's retransmissions can go. */
      onSettled?: (a: A) => void;
    } = {},
  ) {}

  private slot(a: A): ListNode<A> | undefined {
    return a.admission as ListNode<A> | undefined;
  }

  /**
   * Makes room for a new server handshake from `address` (a ClientHello with a valid cookie):
   * evicts that address's oldest half-open handshake when it is at its cap, otherwise the oldest
   * overall when the budget is spent. Never touches established sessions.
   */
  makeRoomForHandshake(address: string): void {
    const own = this.byAddress.get(address);
    while (own && own.size >= this.limits.maxHandshakesPerAddress && own.head) {
      this.evict(own.head.item, 'handshakePerAddress');
    }
    while (this.handshakes.size >= this.limits.maxHandshakes && this.handshakes.head) {
      this.evict(this.handshakes.head.item, 'handshakeCapacity');
    }
  }

  /** A server handshake started: it takes a half-open slot (call {@link makeRoomForHandshake} first). */
  handshakeStarted(a: A, now: number): void {
    this.remove(a);
    let own = this.byAddress.get(a.remote.address);
    if (!own) {
      own = new LinkedQueue<A>();
      this.byAddress.set(a.remote.address, own);
    }
    const node = this.handshakes.push(a, now);
    node.twin = own.push(a, now);
    a.admission = node as ListNode<unknown>;
    this.stats.handshakesStarted++;
    this.stats.handshakes = this.handshakes.size;
  }

  /** A handshake finished: the association moves to the session list, evicting the idlest past the cap. */
  established(a: A, now: number): void {
    this.remove(a);
    while (this.sessions.size >= this.limits.maxSessions && this.sessions.head) {
      this.evict(this.sessions.head.item, 'sessionCapacity');
    }
    const node = this.sessions.push(a, now);
    node.twin = this.settling.push(a, now);
    a.admission = node as ListNode<unknown>;
    this.stats.sessionsEstablished++;
    this.stats.sessions = this.sessions.size;
  }

  /** Authenticated traffic on a session: it becomes the most recently active. */
  touch(a: A, now: number): void {
    const n = this.slot(a);
    if (n) this.sessions.moveToTail(n, now);
  }

  /** The association is gone (closed, failed or evicted): frees its slot. Idempotent. */
  remove(a: A): void {
    const n = this.slot(a);
    if (!n) return;
    a.admission = undefined;
    if (n.list === this.sessions) {
      this.sessions.remove(n);
      if (n.twin) this.settling.remove(n.twin);
      this.stats.sessions = this.sessions.size;
      return;
    }
    this.handshakes.remove(n);
    this.stats.handshakes = this.handshakes.size;
    const own = n.twin?.list;
    if (own && n.twin) {
      own.remove(n.twin);
      if (own.size === 0) this.byAddress.delete(a.remote.address);
    }
  }

  /** Drops handshakes past their time-out and sessions past the idle time-out (oldest first, stops at the first young one). */
  sweep(now: number): void {
    const hsLimit = now - this.limits.handshakeTimeoutMs;
    for (let n = this.handshakes.head; n && n.at <= hsLimit; n = this.handshakes.head) {
      this.evict(n.item, 'handshakeTimeout');
    }
    for (let n = this.settling.head; n && n.at <= hsLimit; n = this.settling.head) {
      this.settling.remove(n);
      const own = this.slot(n.item);
      if (own) own.twin = undefined;
      this.hooks.onSettled?.(n.item);
    }
    if (this.limits.idleTimeoutMs <= 0) return;
    const idleLimit = now - this.limits.idleTimeoutMs;
    for (let n = this.sessions.head; n && n.at <= idleLimit; n = this.sessions.head) {
      this.evict(n.item, 'sessionIdle');
    }
  }

  /** Half-open handshakes held for one address (tests, logs). */
  handshakesFrom(address: string): number {
    return this.byAddress.get(address)?.size ?? 0;
  }

  private evict(a: A, reason: EvictionReason): void {
    const count = ++this.stats.evictions[reason];
    this.hooks.onEvict?.(a, reason, count);
    // Freed first, so that the association's close finds nothing left to free and the loops above advance.
    this.remove(a);
    a.evict(reason);
  }
}

/**
 * A UDP relay between one client and one server that drops, duplicates and reorders datagrams,
 * for the lossy-link tests. The client sends to `relay.port`; the relay forwards to the target and
 * sends the target's replies back to the last client address it saw.
 *
 * Randomness comes from a seeded PRNG so that a failing run can be replayed with the same seed.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export interface LossyRelayOptions {
  targetHost: string;
  targetPort: number;
  /** Probability of dropping a datagram (each direction). */
  drop?: number;
  /** Probability of sending a datagram twice. */
  duplicate?: number;
  /** Probability of holding a datagram back and sending it after the next one. */
  reorder?: number;
  /** Extra delay in ms for held-back datagrams (default 5). */
  reorderDelayMs?: number;
  seed?: number;
  /** Bind address (default the target's family loopback). */
  host?: string;
}

export interface LossyRelay {
  port: number;
  stats: { forwarded: number; dropped: number; duplicated: number; reordered: number };
  close(): Promise<void>;
}

/** mulberry32: a tiny seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startLossyRelay(opts: LossyRelayOptions): Promise<LossyRelay> {
  const v6 = opts.targetHost.includes(':');
  const host = opts.host ?? (v6 ? '::1' : '127.0.0.1');
  const rnd = prng(opts.seed ?? 0x5ec5e);
  const stats = { forwarded: 0, dropped: 0, duplicated: 0, reordered: 0 };
  const front: Socket = createSocket(v6 ? 'udp6' : 'udp4');
  const back: Socket = createSocket(v6 ? 'udp6' : 'udp4');
  let client: RemoteInfo | undefined;
  const timers = new Set<NodeJS.Timeout>();
  const held: { front?: () => void; back?: () => void } = {};

  const pass = (dir: 'front' | 'back', send: () => void) => {
    if (rnd() < (opts.drop ?? 0)) {
      stats.dropped++;
      return;
    }
    const doSend = () => {
      stats.forwarded++;
      send();
      if (rnd() < (opts.duplicate ?? 0)) {
        stats.duplicated++;
        send();
      }
    };
    const previous = held[dir];
    if (previous) {
      held[dir] = undefined;
      doSend();
      previous();
      return;
    }
    if (rnd() < (opts.reorder ?? 0)) {
      stats.reordered++;
      held[dir] = doSend;
      const t = setTimeout(() => {
        timers.delete(t);
        if (held[dir] === doSend) {
          held[dir] = undefined;
          doSend();
        }
      }, opts.reorderDelayMs ?? 5);
      timers.add(t);
      return;
    }
    doSend();
  };

  front.on('message', (msg, rinfo) => {
    client = rinfo;
    pass('back', () => back.send(msg, opts.targetPort, opts.targetHost));
  });
  back.on('message', (msg) => {
    const c = client;
    if (!c) return;
    pass('front', () => front.send(msg, c.port, c.address));
  });
  front.on('error', () => {});
  back.on('error', () => {});
  await new Promise<void>((r) => front.bind(0, host, () => r()));
  await new Promise<void>((r) => back.bind(0, host, () => r()));
  return {
    port: front.address().port,
    stats,
    async close() {
      for (const t of timers) clearTimeout(t);
      await Promise.all([
        new Promise<void>((r) => front.close(() => r())),
        new Promise<void>((r) => back.close(() => r())),
      ]);
    },
  };
}

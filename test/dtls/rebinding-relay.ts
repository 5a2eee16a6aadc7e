/**
 * A UDP relay that stands for a NAT: the client sends to `port`, the relay forwards from its
 * outside socket to the target and sends the target's replies back to the client. `rebind()`
 * replaces the outside socket with a fresh one on a new port, as a NAT does when a binding expires:
 * the server then sees the same client arrive from a new source port. `rebindFront()` does the same
 * on the client's side (a server behind a NAT): replies come from a new port, and both the old and
 * the new port still take the client's datagrams. Datagrams the client sends are kept in
 * `upstream` so that a test can replay or alter them from elsewhere.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export interface RebindingRelay {
  port: number;
  /** The outside (server-facing) port now. */
  outsidePort(): number;
  /** Client → server datagrams so far, in order. */
  upstream: Buffer[];
  /** Keeps the next client datagram in `upstream` without forwarding it (an on-path observer's copy). */
  holdNext(): void;
  /** Moves the outside socket to a new port; resolves with it. */
  rebind(): Promise<number>;
  /** Sends the server's replies from a new client-facing port; resolves with it. */
  rebindFront(): Promise<number>;
  close(): Promise<void>;
}

async function bound(host: string): Promise<Socket> {
  const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  s.on('error', () => {});
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  return s;
}

export async function startRebindingRelay(opts: { targetHost: string; targetPort: number }): Promise<RebindingRelay> {
  const host = opts.targetHost.includes(':') ? '::1' : '127.0.0.1';
  let client: RemoteInfo | undefined;
  const upstream: Buffer[] = [];
  let hold = false;
  const fronts: Socket[] = [];
  const openFront = async (): Promise<Socket> => {
    const s = await bound(host);
    s.on('message', (msg, rinfo) => {
      client = rinfo;
      upstream.push(Buffer.from(msg));
      if (hold) {
        hold = false;
        return;
      }
      back.send(msg, opts.targetPort, opts.targetHost);
    });
    fronts.push(s);
    return s;
  };
  const openBack = async (): Promise<Socket> => {
    const s = await bound(host);
    s.on('message', (msg) => {
      if (s !== back || !client) return;
      front.send(msg, client.port, client.address);
    });
    return s;
  };
  let back = await openBack();
  let front = await openFront();
  const closeSocket = (s: Socket) => new Promise<void>((r) => s.close(() => r()));
  return {
    port: front.address().port,
    outsidePort: () => back.address().port,
    upstream,
    holdNext() {
      hold = true;
    },
    async rebind() {
      const old = back;
      back = await openBack();
      await closeSocket(old);
      return back.address().port;
    },
    async rebindFront() {
      front = await openFront();
      return front.address().port;
    },
    async close() {
      await Promise.all([...fronts.map(closeSocket), closeSocket(back)]);
    },
  };
}

/**
 * A server's UDP socket: batched through recvmmsg(2) where the native module is built
 * (native/udp-batch.c, Linux), node:dgram elsewhere. Both satisfy {@link UdpSocket}, the part of
 * dgram's Socket that the DTLS endpoint and the CoAP transport use.
 *
 * Why: node:dgram delivers each datagram through its own native-to-JS callback with a `rinfo`
 * object and a Buffer made in C++, and sends each through an address lookup and a request object;
 * under a CoAP load that was most of the server's user-space time (docs/benchmarks.md, round 8).
 * Here one callback carries up to {@link BATCH} datagrams read by one system call; each datagram
 * is copied into a Buffer of its own (so that keeping one keeps only its bytes), and a send is one
 * sendto(2) in the call. `SECURESENSE_UDP=dgram` turns the batching off.
 *
 * What differs from dgram: bind is synchronous; a send that finds the socket's buffer full is
 * dropped and counted ({@link BatchUdpSocket.sendDrops}) instead of queued (DTLS and CoAP
 * retransmit a lost datagram); the socket cannot connect (client sockets stay on dgram).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { type AddressInfo, isIP } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { loadNative } from '../util/native.ts';
import { literalFirstLookup } from './udp-lookup.ts';

/** What the servers need of a UDP socket; node:dgram's Socket and {@link BatchUdpSocket} both have it. */
export interface UdpSocket {
  on(event: 'message', listener: (msg: Buffer, rinfo: RemoteInfo) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  send(msg: Buffer, port: number, address: string): void;
  address(): AddressInfo;
  setRecvBufferSize(size: number): void;
  getRecvBufferSize(): number;
  getSendQueueCount(): number;
  close(callback?: () => void): unknown;
  ref(): unknown;
  unref(): unknown;
}

interface Opened {
  handle: object;
  data: Uint8Array;
  meta: Int32Array;
  text: Uint8Array;
  address: string;
  port: number;
}

interface NativeUdp {
  open(
    v6: boolean,
    host: string,
    port: number,
    reusePort: boolean,
    slot: number,
    batch: number,
    onBatch: (n: number) => void,
  ): Opened;
  send(handle: object, bytes: Uint8Array, port: number, host: string): number;
  setRecvBufferSize(handle: object, size: number): void;
  getRecvBufferSize(handle: object): number;
  ref(handle: object, on: boolean): void;
  close(handle: object): void;
}

/** Datagrams per system call and per JS callback. */
export const BATCH = 16;
/** Room per datagram: the largest UDP payload, so that nothing is ever truncated. */
const SLOT = 65536;
/** Int32s of meta per datagram (see native/udp-batch.c). */
const META = 8;
const TEXT = 64;
/** Address strings remembered per socket (IPv4 senders, as a number). */
const NAMES = 4096;

const native = loadNative<NativeUdp>('udp-batch', 'SECURESENSE_UDP', 'dgram');

/** Which I/O the servers' sockets use: `recvmmsg` (batched, native) or `dgram`. */
export const udpBackend: 'recvmmsg' | 'dgram' = native ? 'recvmmsg' : 'dgram';

function ipv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

export class BatchUdpSocket extends EventEmitter {
  /** Datagrams dropped because the socket's send buffer was full (EAGAIN/ENOBUFS). */
  sendDrops = 0;
  private readonly handle: object;
  private readonly data: Buffer;
  private readonly meta: Int32Array;
  private readonly text: Buffer;
  private readonly bound: AddressInfo;
  private readonly names = new Map<number, string>();
  private closed = false;

  private constructor(
    private readonly lib: NativeUdp,
    opts: { type: 'udp4' | 'udp6'; host: string; port: number; reusePort: boolean },
  ) {
    super();
    const o = lib.open(opts.type === 'udp6', opts.host, opts.port, opts.reusePort, SLOT, BATCH, (n) => this.onBatch(n));
    this.handle = o.handle;
    this.data = Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength);
    this.meta = o.meta;
    this.text = Buffer.from(o.text.buffer, o.text.byteOffset, o.text.byteLength);
    this.bound = { address: o.address, port: o.port, family: opts.type === 'udp6' ? 'IPv6' : 'IPv4' };
  }

  /** Binds now (throws with `code`, e.g. EADDRINUSE), or undefined where the native module is not built. */
  static open(opts: {
    type: 'udp4' | 'udp6';
    host: string;
    port: number;
    reusePort?: boolean;
  }): BatchUdpSocket | undefined {
    if (!native) return undefined;
    try {
      return new BatchUdpSocket(native, { ...opts, reusePort: opts.reusePort === true });
    } catch (err) {
      // Named as dgram names a failed bind: "bind EADDRINUSE 127.0.0.1:5683", with code and errno.
      const errno = (err as { errno?: unknown }).errno;
      if (typeof errno !== 'number') throw err;
      const code = getSystemErrorName(errno);
      const syscall = String((err as { syscall?: unknown }).syscall ?? 'bind');
      throw Object.assign(new Error(`${syscall} ${code} ${opts.host}:${opts.port}`), {
        code,
        errno,
        syscall,
        address: opts.host,
        port: opts.port,
      });
    }
  }

  private onBatch(n: number): void {
    const m = this.meta;
    for (let i = 0; i < n && !this.closed; i++) {
      const o = i * META;
      const size = m[o];
      const msg = Buffer.allocUnsafeSlow(size);
      this.data.copy(msg, 0, i * SLOT, i * SLOT + size);
      const kind = m[o + 2];
      let address: string;
      if (kind === 6) address = this.text.toString('latin1', i * TEXT, i * TEXT + m[o + 5]);
      else {
        // A dual-stack socket's IPv4 senders arrive IPv4-mapped (kind 5), named as dgram names them.
        const key = kind === 5 ? -1 - (m[o + 4] >>> 0) : m[o + 4] >>> 0;
        let name = this.names.get(key);
        if (name === undefined) {
          name = kind === 5 ? `::ffff:${ipv4(m[o + 4])}` : ipv4(m[o + 4]);
          if (this.names.size >= NAMES) this.names.clear();
          this.names.set(key, name);
        }
        address = name;
      }
      const rinfo: RemoteInfo = { address, family: kind === 4 ? 'IPv4' : 'IPv6', port: m[o + 1], size };
      this.emit('message', msg, rinfo);
    }
  }

  send(msg: Uint8Array, port: number, address: string): void {
    if (this.closed) return;
    const r = this.lib.send(this.handle, msg, port, address);
    if (r >= 0) return;
    const code = getSystemErrorName(r);
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'ENOBUFS') {
      this.sendDrops++;
      return;
    }
    // As dgram reports a failed send without a callback: an 'error' event, after the call.
    const err = Object.assign(new Error(`send ${code} ${address}:${port}`), { code, errno: r, syscall: 'send' });
    process.nextTick(() => this.emit('error', err));
  }

  address(): AddressInfo {
    return { ...this.bound };
  }

  setRecvBufferSize(size: number): void {
    this.lib.setRecvBufferSize(this.handle, size);
  }

  getRecvBufferSize(): number {
    return this.lib.getRecvBufferSize(this.handle);
  }

  /** Always 0: every send is done (or dropped) inside the call. */
  getSendQueueCount(): number {
    return 0;
  }

  ref(): this {
    if (!this.closed) this.lib.ref(this.handle, true);
    return this;
  }

  unref(): this {
    if (!this.closed) this.lib.ref(this.handle, false);
    return this;
  }

  close(callback?: () => void): this {
    if (this.closed) throw Object.assign(new Error('Not running'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    this.closed = true;
    this.lib.close(this.handle);
    process.nextTick(() => {
      callback?.();
      this.emit('close');
    });
    return this;
  }
}

/**
 * A bound server socket: batched where the native module is built and `host` is an address,
 * else node:dgram (with the project's literal-first address lookup). Rejects as dgram's bind
 * does (`code` EADDRINUSE, …).
 */
export async function openServerSocket(opts: {
  type: 'udp4' | 'udp6';
  /** An address literal (a name goes to dgram, which resolves it); default: every address of the family. */
  host?: string;
  port: number;
  reusePort?: boolean;
}): Promise<UdpSocket> {
  const host = opts.host ?? (opts.type === 'udp6' ? '::' : '0.0.0.0');
  const batched = isIP(host) !== 0 ? BatchUdpSocket.open({ ...opts, host }) : undefined;
  if (batched) return batched;
  return bindDgram({ ...opts, host });
}

/** A node:dgram socket, bound (a client's may then connect to its one server). */
export async function bindDgram(opts: {
  type: 'udp4' | 'udp6';
  host?: string;
  port?: number;
  reusePort?: boolean;
}): Promise<Socket> {
  const socket = createSocket({
    type: opts.type,
    ipv6Only: false,
    reuseAddr: false,
    reusePort: opts.reusePort === true,
    lookup: literalFirstLookup,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port ?? 0, opts.host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

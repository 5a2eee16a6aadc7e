/** Test helpers: a raw UDP socket that speaks bytes to a CoAP endpoint. */
import { createSocket, type Socket } from 'node:dgram';
import { type CoapMessage, decodeMessage, encodeMessage } from '../../src/coap/message.ts';

export interface RawPeer {
  socket: Socket;
  send(datagram: Buffer | CoapMessage): void;
  /** Next datagram within `ms`, or undefined. */
  next(ms?: number): Promise<CoapMessage | undefined>;
  close(): Promise<void>;
}

export async function rawPeer(port: number, host = '127.0.0.1'): Promise<RawPeer> {
  const socket = createSocket('udp4');
  const queue: Buffer[] = [];
  const waiters: Array<(b: Buffer) => void> = [];
  socket.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m);
    else queue.push(m);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return {
    socket,
    send(d) {
      socket.send(Buffer.isBuffer(d) ? d : encodeMessage(d), port, host);
    },
    next(ms = 500) {
      const q = queue.shift();
      const decode = (b: Buffer) => {
        const r = decodeMessage(b);
        if (!r.ok) throw new Error(`peer sent a malformed message: ${r.error}`);
        return r.message;
      };
      if (q) return Promise.resolve(decode(q));
      return new Promise((resolve) => {
        const w = (b: Buffer) => {
          clearTimeout(t);
          resolve(decode(b));
        };
        const t = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          resolve(undefined);
        }, ms);
        waiters.push(w);
      });
    },
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

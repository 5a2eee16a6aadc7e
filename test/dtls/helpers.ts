/** Shared helpers of the DTLS tests: a PSK echo server and a promise for the next data event. */
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { type DtlsConnection, DtlsServer, type DtlsServerOptions } from '../../src/dtls/index.ts';
import { jsonLines, startCli } from '../support/cli.ts';

export const KEY_HEX = '00112233445566778899aabbccddeeff';
export const KEY = Buffer.from(KEY_HEX, 'hex');
export const IDENTITY = 'dev1';

export interface EchoServer {
  server: DtlsServer;
  port: number;
  /** Every payload the server received, in order. */
  received: Buffer[];
  connections: DtlsConnection[];
  errors: Error[];
}

export async function echoServer(opts: Partial<DtlsServerOptions> = {}): Promise<EchoServer> {
  const server = await DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === IDENTITY ? KEY : undefined),
    ...opts,
  });
  const received: Buffer[] = [];
  const connections: DtlsConnection[] = [];
  const errors: Error[] = [];
  server.on('connection', (c: DtlsConnection) => {
    connections.push(c);
    c.on('data', (d: Buffer) => {
      received.push(d);
      c.send(d);
    });
  });
  server.on('handshakeError', (e: Error) => errors.push(e));
  return { server, port: server.address().port, received, connections, errors };
}

/** Resolves with the next 'data' payload of `c`, or rejects after `ms`. */
export async function nextData(c: DtlsConnection, ms = 5000): Promise<Buffer> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(), ms);
  try {
    const [d] = (await once(c, 'data', { signal: ac.signal })) as [Buffer];
    return d;
  } finally {
    clearTimeout(t);
  }
}

/** `securesense dtls server` on 127.0.0.1 with the test PSK and `flags`; its `listening` event and port. */
export async function startPskServerCli(t: TestContext, flags: string[]) {
  const srv = await startCli(t, [
    'dtls',
    'server',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--psk',
    `${IDENTITY}:${KEY_HEX}`,
    ...flags,
  ]);
  const listening = jsonLines(srv.stdout()).find((e) => e.event === 'listening') ?? {};
  return { srv, listening, port: Number(listening.port) };
}

/**
 * `securesense bench oscore-bytes`: bytes on the wire per request and response for the same
 * confirmable POST of a device reading, over plain coap://, coap:// with OSCORE (RFC 8613) and
 * coaps:// with DTLS 1.2 PSK (TLS_PSK_WITH_AES_128_CCM_8), and the DTLS handshake's bytes. A UDP
 * relay on loopback between client and server counts the UDP payload of every datagram each way;
 * figures are exact byte counts, not timings, so the machine's load does not affect them.
 */
import { CoapClient } from '../coap/client.ts';
import { CoapServer } from '../coap/server.ts';
import { DtlsServerTransport } from '../coap/transport-dtls.ts';
import { UdpTransport } from '../coap/transport-udp.ts';
import { type Relay, relay } from '../eval/oscore-wire.ts';
import { OscoreContext } from '../oscore/context.ts';
import { OscoreServerContexts } from '../oscore/server.ts';

const PATH = '/users/1/resources/7/data';

interface Row {
  transport: string;
  request: number;
  response: number;
  setup: number;
}

interface Setup {
  uri: string;
  client: CoapClient;
  relay: Relay;
  close(): Promise<void>;
}

async function measure(name: string, payload: Buffer, setup: () => Promise<Setup>): Promise<Row> {
  const s = await setup();
  try {
    // The first request pays for the handshake (DTLS) or the context's first use; the second is steady state.
    await s.client.post(s.uri, payload);
    const before = s.relay.log.length;
    const first = s.relay.log.slice(0, before);
    await s.client.post(s.uri, payload);
    const steady = s.relay.log.slice(before);
    const up = steady.filter((d) => d.dir === 'up').reduce((a, d) => a + d.bytes, 0);
    const down = steady.filter((d) => d.dir === 'down').reduce((a, d) => a + d.bytes, 0);
    const firstTotal = first.reduce((a, d) => a + d.bytes, 0);
    return { transport: name, request: up, response: down, setup: firstTotal - up - down };
  } finally {
    await s.close();
  }
}

/** A set-up whose client reaches `server` (listening on `port`) through a byte-counting relay. */
async function viaRelay(
  scheme: 'coap' | 'coaps',
  server: CoapServer,
  port: number,
  client: CoapClient,
): Promise<Setup> {
  const r = await relay(port);
  return {
    uri: `${scheme}://127.0.0.1:${r.port}${PATH}`,
    client,
    relay: r,
    close: async () => {
      await client.close();
      r.close();
      await server.close();
    },
  };
}

export async function run(_args: string[]): Promise<number> {
  const psk = { identity: 'bench-device', key: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex') };
  const secret = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');
  const rows: Row[] = [];
  for (const payload of [Buffer.from('{"temperature":21.5}'), Buffer.alloc(200, 'x')]) {
    const mkServer = (oscore?: OscoreServerContexts) => {
      const server = new CoapServer({ oscore });
      server.post('/users/:uid/resources/:rid/data', () => ({ code: 68 }));
      return server;
    };
    rows.push(
      await measure(`coap:// (no security), ${payload.length} B`, payload, async () => {
        const server = mkServer();
        const udp = await UdpTransport.bind({ host: '127.0.0.1' });
        server.listen(udp);
        return viaRelay('coap', server, udp.socket.address().port, new CoapClient());
      }),
    );
    rows.push(
      await measure(`coap:// + OSCORE, ${payload.length} B`, payload, async () => {
        const sctx = await OscoreContext.create({
          masterSecret: secret,
          senderId: Buffer.alloc(0),
          recipientId: Buffer.of(1),
        });
        const cctx = await OscoreContext.create({
          masterSecret: secret,
          senderId: Buffer.of(1),
          recipientId: Buffer.alloc(0),
        });
        const server = mkServer(new OscoreServerContexts([sctx]));
        const udp = await UdpTransport.bind({ host: '127.0.0.1' });
        server.listen(udp);
        return viaRelay('coap', server, udp.socket.address().port, new CoapClient({ oscore: cctx }));
      }),
    );
    rows.push(
      await measure(`coaps:// DTLS PSK (CCM_8), ${payload.length} B`, payload, async () => {
        const server = mkServer();
        const dtls = await DtlsServerTransport.listen({
          host: '127.0.0.1',
          port: 0,
          psk: (id) => (id === psk.identity ? psk.key : undefined),
        });
        server.listen(dtls);
        return viaRelay('coaps', server, dtls.address().port, new CoapClient({ security: { psk } }));
      }),
    );
  }
  process.stdout.write('| transport, payload | request B | response B | set-up B (handshake or first-use extra) |\n');
  process.stdout.write('|---|---|---|---|\n');
  for (const r of rows) process.stdout.write(`| ${r.transport} | ${r.request} | ${r.response} | ${r.setup} |\n`);
  return 0;
}

/**
 * The device agent offers a Connection ID by default: pushing over coaps:// through a NAT that
 * rebinds (new source port mid-session), its session goes on without a new handshake.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoapServer } from '../../src/coap/server.ts';
import { DtlsServerTransport } from '../../src/coap/transport-dtls.ts';
import { type AgentEvent, DeviceAgent } from '../../src/device/agent.ts';
import type { DtlsConnection } from '../../src/dtls/index.ts';
import { startRebindingRelay } from './rebinding-relay.ts';

const PATH = '/users/1/resources/7/data';
const PSK = { identity: 'device-42', key: Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex') };

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a device agent pushing over coaps:// survives a NAT rebinding without a handshake', async (t) => {
  const server = new CoapServer();
  const peers: number[] = [];
  server.post(PATH, (req) => {
    peers.push(req.peer.port); // the CoAP layer's peer keeps the handshake's address: only counted here
    return { code: 0x44 };
  });
  const dtls = await DtlsServerTransport.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === PSK.identity ? PSK.key : undefined),
  });
  const conns: DtlsConnection[] = [];
  dtls.server.on('connection', (c: DtlsConnection) => conns.push(c));
  server.listen(dtls);
  t.after(() => server.close());
  const relay = await startRebindingRelay({ targetHost: '127.0.0.1', targetPort: dtls.address().port });
  t.after(() => relay.close());
  const agent = new DeviceAgent({
    push: `coaps://127.0.0.1:${relay.port}${PATH}`,
    security: { psk: PSK },
    sensors: ['temperature'],
    intervalMs: 100,
  });
  const events: AgentEvent[] = [];
  agent.on('event', (e: AgentEvent) => events.push(e));
  await agent.start();
  t.after(() => agent.stop());
  await until('2 POSTs', () => peers.length >= 2);
  const oldPort = relay.outsidePort();
  const newPort = await relay.rebind();
  const before = peers.length;
  await until('2 POSTs after the rebinding', () => peers.length >= before + 2);
  await agent.stop();
  assert.equal(conns.length, 1, 'one handshake for the whole run');
  assert.equal(events.filter((e) => e.event === 'handshake').length, 1);
  assert.equal(dtls.server.stats.connectionIds.addressUpdates, 1);
  assert.notEqual(newPort, oldPort);
  assert.equal(conns[0].remote.port, newPort, 'the session moved to the new port');
});

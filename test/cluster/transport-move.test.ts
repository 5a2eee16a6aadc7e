/**
 * The coaps:// server transport follows a connection that moved (Connection ID, NAT rebinding):
 * datagrams after the move are handed up with the new address, and replies still reach the client.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TransportPeer } from '../../src/coap/transport.ts';
import { DtlsServerTransport } from '../../src/coap/transport-dtls.ts';
import { connect } from '../../src/dtls/index.ts';
import { IDENTITY, KEY, nextData } from '../dtls/helpers.ts';
import { startRebindingRelay } from '../dtls/rebinding-relay.ts';

test('a coaps:// peer seen after a rebinding carries the new address', async (t) => {
  const tr = await DtlsServerTransport.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === IDENTITY ? KEY : undefined),
  });
  t.after(() => tr.close());
  const seen: TransportPeer[] = [];
  tr.onDatagram((d, peer) => {
    seen.push(peer);
    tr.send(d, peer);
  });
  const relay = await startRebindingRelay({ targetHost: '127.0.0.1', targetPort: tr.address().port });
  t.after(() => relay.close());
  const c = await connect({
    host: '127.0.0.1',
    port: relay.port,
    psk: { identity: IDENTITY, key: KEY },
    connectionId: { length: 4 },
  });
  t.after(() => c.close());
  c.send(Buffer.from('one'));
  assert.equal((await nextData(c)).toString(), 'one');
  assert.equal(seen[0].port, relay.outsidePort());
  const moved = await relay.rebind();
  c.send(Buffer.from('two'));
  assert.equal((await nextData(c)).toString(), 'two');
  assert.equal(seen[1].port, moved, 'the peer names the new port');
  assert.notEqual(seen[1], seen[0]);
});

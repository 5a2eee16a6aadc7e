/**
 * An abbreviated handshake with a Connection ID (RFC 9146): the server's ServerHello,
 * ChangeCipherSpec and Finished come in one datagram, the Finished already a tls12_cid record. The
 * client must split it out with the CID it offered before it has read the ServerHello that accepts
 * it; it used to drop it and wait for the server's retransmission (1 s by default, on every
 * resumption with a CID). Here that retransmission would come only after the handshake's deadline.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemorySessionCache } from '../../src/dtls/cache.ts';
import { connect } from '../../src/dtls/index.ts';
import { echoServer, IDENTITY, KEY, nextData } from './helpers.ts';

test('a resumption with a CID completes in one round trip (the tls12_cid Finished is not dropped)', async (t) => {
  const srv = await echoServer({ sessionCache: new MemorySessionCache(), connectionId: { length: 8 } });
  t.after(() => srv.server.close());
  const opts = {
    host: '127.0.0.1',
    port: srv.port,
    psk: { identity: IDENTITY, key: KEY },
    connectionId: { length: 4 },
    retransmitInitialMs: 5000,
  };
  const first = await connect(opts);
  await first.close();
  // The server retransmits its flight after 1 s: the resumption must not need it.
  const c = await connect({ ...opts, session: first.session, handshakeTimeoutMs: 700 });
  t.after(() => c.close());
  assert.ok(c.resumed, 'an abbreviated handshake');
  assert.equal(c.connectionIds.own?.length, 4);
  assert.equal(c.connectionIds.peer?.length, 8);
  c.send(Buffer.from('after resumption'));
  assert.equal((await nextData(c)).toString(), 'after resumption');
});

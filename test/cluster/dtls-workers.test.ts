/**
 * `securesense dtls server --workers 2`, run as a user runs it: two processes on one port. A
 * client whose NAT rebinding moves its flow to the other worker keeps its session (the record is
 * handed over, the owner answers), and a session made on one worker is resumed on the other (the
 * primary keeps the sessions).
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '../../src/dtls/index.ts';
import { IDENTITY, KEY, KEY_HEX, nextData } from '../dtls/helpers.ts';
import { startRebindingRelay } from '../dtls/rebinding-relay.ts';
import { jsonLines, startCli } from '../support/cli.ts';

const MAX_TRIES = 24;
const PSK = { identity: IDENTITY, key: KEY };

async function workersServer(t: TestContext) {
  const srv = await startCli(
    t,
    ['dtls', 'server', '--workers', '2', '--port', '0', '--host', '127.0.0.1', '--psk', `${IDENTITY}:${KEY_HEX}`],
    { ready: /"workers":2/ },
  );
  const port = Number(/"event":"listening"[^\n]*"port":(\d+)/.exec(srv.stdout())?.[1]);
  assert.ok(port > 0, srv.stdout());
  return { srv, port };
}

test('dtls server --workers 2: a flow moved to the other worker keeps its session', async (t) => {
  const { srv, port } = await workersServer(t);
  const relay = await startRebindingRelay({ targetHost: '127.0.0.1', targetPort: port });
  t.after(() => relay.close());
  const c = await connect({ host: '127.0.0.1', port: relay.port, psk: PSK, connectionId: { length: 4 } });
  t.after(() => c.close());
  const owner = c.connectionIds.peer?.[0];
  assert.ok(owner === 0 || owner === 1, "the CID's first byte names a worker");
  let tries = 0;
  while (!srv.stdout().includes('"event":"handover"') && tries < MAX_TRIES) {
    tries++;
    await relay.rebind();
    c.send(Buffer.from(`after ${tries}`));
    assert.equal((await nextData(c)).toString(), `after ${tries}`);
  }
  const ev = jsonLines(srv.stdout());
  const handover = ev.find((e) => e.event === 'handover');
  assert.ok(handover, `the flow never landed on the other worker in ${MAX_TRIES} rebindings`);
  assert.equal(handover.to, owner);
  assert.equal(handover.worker, 1 - owner);
  // The owner echoed every record (data events are its), and no second handshake happened.
  assert.equal(ev.filter((e) => e.event === 'handshake').length, 1);
  assert.ok(ev.filter((e) => e.event === 'data').every((e) => e.worker === owner));
});

test('dtls server --workers 2: a session made on one worker is resumed on the other', async (t) => {
  const { srv, port } = await workersServer(t);
  const first = await connect({ host: '127.0.0.1', port, psk: PSK });
  await first.close();
  const handshakes = () => jsonLines(srv.stdout()).filter((e) => e.event === 'handshake');
  for (let i = 0; i < 20 && handshakes().length < 1; i++) await sleep(50);
  const made = handshakes()[0]?.worker;
  assert.ok(made === 0 || made === 1);
  let other: Record<string, unknown> | undefined;
  for (let tries = 0; tries < MAX_TRIES && !other; tries++) {
    const c = await connect({ host: '127.0.0.1', port, psk: PSK, session: first.session });
    assert.ok(c.resumed, 'an abbreviated handshake');
    await c.close();
    for (let i = 0; i < 20 && handshakes().length < tries + 2; i++) await sleep(50);
    other = handshakes().find((e) => e.resumed === true && e.worker !== made);
  }
  assert.ok(other, `no resumption landed on the other worker in ${MAX_TRIES} tries`);
});

/**
 * Smoke test of the CoAP bench (src/bench/coap.ts): the servers start as the bench starts them, the
 * raw UDP load and the coaps:// session load get every request answered, and the server's CPU time
 * is read from /proc for a Node server and for libcoap. No speed asserted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { measure } from '../../src/bench/coap.ts';
import { requireBinary } from '../support/peers.ts';

test('coap bench: our library server over UDP and coaps://, and coap-server-notls, measured per server CPU-second', async (t) => {
  const withLibcoap = requireBinary(t, 'coap-server-notls');
  const only = withLibcoap ? ['library', 'notls'] : ['library'];
  const rows = await measure({ seconds: 1, concurrency: 8, sockets: 4, rounds: 1, only });
  const expected = [
    ['udp', 'securesense (library)'],
    ['coaps-psk', 'securesense (library)'],
    ...(withLibcoap ? [['udp', 'libcoap coap-server-notls']] : []),
  ];
  for (const [transport, name] of expected) {
    const r = rows.find((x) => x.transport === transport && x.name === name);
    assert.ok(r, `${transport} ${name} ran`);
    assert.equal(r.note, undefined, `${transport} ${name}: ${r.note}`);
    assert.ok(r.requests > 0, `${transport} ${name}: answered requests`);
    assert.equal(r.errors + r.lost, 0, `${transport} ${name}: no errors or losses`);
    assert.ok(
      r.cpu > 0 && Number.isFinite(r.perCpuSecond) && r.perCpuSecond > 0,
      `${transport} ${name}: server CPU read`,
    );
    assert.ok(r.rssStartKB > 0 && r.p50 > 0 && r.p99 >= r.p50, `${transport} ${name}: RSS and latency`);
  }
});

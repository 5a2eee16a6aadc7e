/** `--cid-length` on `securesense dtls server|client` and `coap serve`: checked, and in effect. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '../../src/dtls/index.ts';
import { jsonLines, runCli } from '../support/cli.ts';
import { IDENTITY, KEY, KEY_HEX, startPskServerCli } from './helpers.ts';

test('dtls server --cid-length 5 gives 5-byte CIDs; dtls client --cid-length 3 offers one', async (t) => {
  const { port } = await startPskServerCli(t, ['--cid-length', '5']);
  const c = await connect({
    host: '127.0.0.1',
    port,
    psk: { identity: IDENTITY, key: KEY },
    connectionId: { length: 2 },
  });
  assert.equal(c.connectionIds.peer?.length, 5);
  await c.close();
  const run = await runCli([
    'dtls',
    'client',
    `127.0.0.1:${port}`,
    '--psk',
    `${IDENTITY}:${KEY_HEX}`,
    '--cid-length',
    '3',
    '--send',
    'hi',
  ]);
  assert.equal(run.code, 0, run.stderr);
  const lines = jsonLines(run.stdout);
  const hs = lines.find((e) => e.event === 'handshake');
  assert.equal(String(hs?.ownCid).length, 6, JSON.stringify(hs));
  assert.equal(String(hs?.peerCid).length, 10, JSON.stringify(hs));
  assert.equal(lines.find((e) => e.event === 'data')?.text, 'hi');
});

test('a bad --cid-length is a usage error naming it', async () => {
  const bad = await runCli(['dtls', 'server', '--port', '0', '--psk', `${IDENTITY}:${KEY_HEX}`, '--cid-length', '40']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--cid-length/);
  const coap = await runCli(['coap', 'serve', '--port', '0', '--cid-length', '4']);
  assert.notEqual(coap.code, 0);
  assert.match(coap.stderr, /--cid-length needs credentials/);
});

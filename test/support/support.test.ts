import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { startLossyRelay } from './lossy-relay.ts';
import { launchFor } from './peers.ts';

test('lossy relay forwards both ways and drops about the configured share', async () => {
  const echo = createSocket('udp4');
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
  const relay = await startLossyRelay({ targetHost: '127.0.0.1', targetPort: echo.address().port, drop: 0.3, seed: 1 });
  const client = createSocket('udp4');
  let got = 0;
  client.on('message', () => got++);
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  for (let i = 0; i < 200; i++) client.send(Buffer.from([i]), relay.port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 300));
  // Each round trip survives two 30 % drops: about 49 % arrive.
  assert.ok(got > 60 && got < 140, `got ${got} of 200`);
  assert.ok(relay.stats.dropped > 0);
  await relay.close();
  client.close();
  echo.close();
});

test('peer launcher captures output and reports exit', async (t) => {
  const p = launchFor(t, 'sh', ['-c', 'echo ready; read x; echo got:$x']);
  await p.waitFor('ready');
  p.write('hello\n');
  await p.waitFor('got:hello');
  assert.equal(await p.exited, 0);
});

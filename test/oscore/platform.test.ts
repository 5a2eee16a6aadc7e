/**
 * A PSK-provisioned device pushes to the platform over coap:// with OSCORE, through the forward
 * proxy: the platform authorises it exactly as its DTLS identity (a `resource` caller for its own
 * resource only), a stranger's context gets 4.01, and the proxy never handles the readings.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runWith } from '../../src/cli/device-credentials.ts';
import { CoapClient } from '../../src/coap/client.ts';
import { CoapForwardProxy } from '../../src/coap/proxy.ts';
import type { Transport } from '../../src/coap/transport.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import { type AgentEvent, DeviceAgent } from '../../src/device/agent.ts';
import { contextParamsFromJson, OscoreContext } from '../../src/oscore/context.ts';
import { pskOscoreParams } from '../../src/oscore/psk-binding.ts';
import { FileSequenceStore } from '../../src/oscore/sequence.ts';
import { bindPsk, startCoapPlatform } from '../platform/coap/helpers.ts';
import { target } from '../platform/engines.ts';
import { call, newResource, newUser } from '../platform/helpers.ts';

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function recording(t: Transport, log: Buffer[]): Transport {
  return {
    scheme: t.scheme,
    send: (d, p) => {
      log.push(Buffer.from(d));
      return t.send(d, p);
    },
    onDatagram: (cb) =>
      t.onDatagram((d, p) => {
        log.push(Buffer.from(d));
        cb(d, p);
      }),
    close: () => t.close(),
  };
}

test('device → proxy → platform over OSCORE: authorised as its PSK identity, unreadable at the proxy', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startCoapPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'oscore-owner');
  const { rid } = await newResource(p.base, uid, token, 'sealed room');
  const { rid: other } = await newResource(p.base, uid, token, 'other room');
  const key = await bindPsk(p.base, token, uid, rid, 'oscore-sensor');

  const handled: Buffer[] = [];
  const down = await UdpTransport.bind({ host: '127.0.0.1' });
  const up = await UdpTransport.bind({ host: '127.0.0.1' });
  const proxy = new CoapForwardProxy({ upstream: recording(up, handled) });
  proxy.listen(recording(down, handled));
  t.after(async () => {
    await proxy.close();
    await down.close();
    await up.close();
  });
  const proxyUri = `coap://127.0.0.1:${down.socket.address().port}`;

  const dir = await mkdtemp(join(tmpdir(), 'oscore-dev-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const oscore = await OscoreContext.create(pskOscoreParams('oscore-sensor', key, 'device'), {
    sequenceStore: new FileSequenceStore(join(dir, 'seq.json')),
  });
  const agent = new DeviceAgent({
    push: `${p.coapBase}/users/${uid}/resources/${rid}/data`,
    oscore,
    proxy: proxyUri,
    sensors: ['temperature'],
    intervalMs: 150,
  });
  const events: AgentEvent[] = [];
  agent.on('event', (e: AgentEvent) => events.push(e));
  await agent.start();
  t.after(() => agent.stop());
  await until('3 samples sent', () => events.filter((e) => e.event === 'sent').length >= 3);
  await agent.stop();
  assert.deepEqual(
    events.filter((e) => e.event === 'error'),
    [],
  );
  const streams = await call(p.base, 'GET', `/users/${uid}/resources/${rid}/streams`, { token });
  assert.equal(streams.status, 200, streams.text);
  assert.deepEqual(
    (streams.json as Array<{ label: string }>).map((s) => s.label),
    ['temperature'],
  );
  assert.ok(proxy.stats.forwarded >= 3);
  const all = Buffer.concat(handled);
  for (const needle of ['temperature', `resources/${rid}`, 'data']) {
    assert.equal(all.indexOf(Buffer.from(needle)), -1, `the proxy handled "${needle}"`);
  }

  // The same identity is bound to `rid` only: another resource is forbidden, as over coaps://.
  const client = new CoapClient({ oscore });
  t.after(() => client.close());
  const forbidden = await client.post(`${p.coapBase}/users/${uid}/resources/${other}/data`, '{"temperature":1}', {
    contentFormat: 50,
  });
  assert.equal(forbidden.status, '4.03', forbidden.payload.toString());
  // A context from a key the platform does not hold: 4.01 before anything is decrypted.
  const stranger = await OscoreContext.create(pskOscoreParams('oscore-sensor', Buffer.alloc(16, 7), 'device'));
  const refused = await client.post(`${p.coapBase}/users/${uid}/resources/${rid}/data`, '{"temperature":1}', {
    oscore: stranger,
    contentFormat: 50,
  });
  assert.equal(refused.code >> 5, 4);
  assert.equal(
    refused.options.some((o) => o.number === 9),
    false,
    'the refusal is not protected',
  );
});

test('device add --oscore prints a context the platform accepts at once', async (t) => {
  const tg = await target(t, 'sqlite');
  if (!tg) return;
  const p = await startCoapPlatform(t, tg);
  const { uid, token } = await newUser(p.base, 'oscore-cli-owner');
  const { rid } = await newResource(p.base, uid, token, 'provisioned');
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
  const common = ['--api', p.base, '--token', token, '--user', String(uid), '--resource', String(rid)];
  const code = await runWith('add', [...common, '--psk-identity', 'cli-oscore', '--oscore'], io);
  assert.equal(code, 0, err.join('\n'));
  const printed = JSON.parse(out[1]) as { event: string; context: unknown };
  assert.equal(printed.event, 'oscore');
  const ctx = await OscoreContext.create(contextParamsFromJson(printed.context));
  const client = new CoapClient({ oscore: ctx });
  t.after(() => client.close());
  const res = await client.post(`${p.coapBase}/users/${uid}/resources/${rid}/data`, '{"temperature":19}', {
    contentFormat: 50,
  });
  assert.equal(res.ok, true, `${res.status} ${res.payload.toString()}`);
  assert.equal(await runWith('add', [...common, '--rpk-fingerprint', 'ab'.repeat(32), '--oscore'], io), 2);
});

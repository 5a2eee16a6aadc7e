/**
 * The agent in the public-key modes (TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8): credentials loaded from
 * files through the same flags as the CLI (--rpk-key/--trust-rpk, --cert/--key/--ca), pushing to
 * our CoAP server with client authentication required; an X.509 session survives the state file
 * and resumes; serve mode over DTLS with raw public keys.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseSecurityFlags } from '../../src/cli/device-security.ts';
import { CoapClient } from '../../src/coap/client.ts';
import type { PeerIdentity } from '../../src/coap/index.ts';
import { CoapServer } from '../../src/coap/server.ts';
import { DtlsServerTransport } from '../../src/coap/transport-dtls.ts';
import { type AgentEvent, DeviceAgent } from '../../src/device/agent.ts';
import { loadCredentialFiles } from '../../src/dtls/credentials/index.ts';
import { makeTempPki } from '../support/pki.ts';

const PATH = '/data';

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function cloud(t: { after(fn: () => unknown): void }, creds: ReturnType<typeof loadCredentialFiles>) {
  const got: Array<{ identity?: PeerIdentity; body: string }> = [];
  const server = new CoapServer();
  server.post(PATH, (req) => {
    got.push({ identity: req.peer.identity, body: req.payload.toString() });
    return {};
  });
  const dtls = await DtlsServerTransport.listen({ ...creds, host: '127.0.0.1', port: 0 });
  const conns: boolean[] = [];
  dtls.server.on('connection', (c: { resumed: boolean }) => conns.push(c.resumed));
  server.listen(dtls);
  t.after(() => server.close());
  return { got, conns, url: `coaps://127.0.0.1:${dtls.address().port}${PATH}` };
}

function handshakes(events: AgentEvent[]) {
  return events.flatMap((e) => (e.event === 'handshake' ? [[e.mode, e.resumed]] : []));
}

test('push with a raw public key (RFC 7250), client authentication required', async (t) => {
  const pki = await makeTempPki(t);
  const c = await cloud(
    t,
    loadCredentialFiles({ rpkKey: pki.rpkServer.key, trustRpk: [pki.rpkClient.spki], clientAuth: 'need' }),
  );
  const sec = parseSecurityFlags({ 'rpk-key': pki.rpkClient.key, 'trust-rpk': [pki.rpkServer.spki] });
  const agent = new DeviceAgent({ push: c.url, security: sec.client, sensors: ['temperature'], intervalMs: 100 });
  const events: AgentEvent[] = [];
  agent.on('event', (e: AgentEvent) => events.push(e));
  await agent.start();
  t.after(() => agent.stop());
  await until('2 POSTs', () => c.got.length >= 2);
  await agent.stop();
  assert.deepEqual(handshakes(events), [['rpk', false]]);
  // The server knows the device by its key.
  const id = c.got[0].identity;
  assert.equal(id?.mode, 'rpk');
  assert.equal(id?.mode === 'rpk' && id.fingerprint, pki.rpkClient.fingerprint);
  assert.ok('temperature' in JSON.parse(c.got[0].body));
});

test('push with an X.509 certificate; the restarted agent resumes the session from its state file', async (t) => {
  const pki = await makeTempPki(t);
  const c = await cloud(
    t,
    loadCredentialFiles({ cert: pki.server.chain, key: pki.server.key, ca: [pki.root.cert], clientAuth: 'need' }),
  );
  const dir = mkdtempSync(join(tmpdir(), 'securesense-agent-x509-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sec = parseSecurityFlags({ cert: pki.device.chain, key: pki.device.key, ca: [pki.root.cert] });
  const opts = { push: c.url, security: sec.client, sensors: ['power' as const], intervalMs: 100 };
  const stateFile = join(dir, 'state.json');
  for (const run of [1, 2]) {
    const before = c.got.length;
    const agent = new DeviceAgent({ ...opts, stateFile });
    const events: AgentEvent[] = [];
    agent.on('event', (e: AgentEvent) => events.push(e));
    await agent.start();
    t.after(() => agent.stop());
    await until('2 POSTs', () => c.got.length >= before + 2);
    await agent.stop();
    assert.deepEqual(handshakes(events), [['x509', run === 2]]);
  }
  assert.deepEqual(c.conns, [false, true]);
  const id = c.got.at(-1)?.identity;
  assert.equal(id?.mode, 'x509');
  assert.match(id?.mode === 'x509' ? id.subject : '', /CN=device-1/);
});

test('a server certificate for another name is refused; --no-verify-name accepts it', async (t) => {
  const pki = await makeTempPki(t);
  const other = await pki.issue('elsewhere', { cn: 'elsewhere.example', dns: ['elsewhere.example'], usage: 'server' });
  const c = await cloud(t, loadCredentialFiles({ cert: other.chain, key: other.key, ca: [pki.root.cert] }));
  const run = async (noVerifyName: boolean) => {
    const sec = parseSecurityFlags({ ca: [pki.root.cert], 'no-verify-name': noVerifyName });
    const agent = new DeviceAgent({
      push: c.url,
      security: { ...sec.client, retransmitInitialMs: 100, maxRetransmits: 1 },
      sensors: ['temperature'],
      intervalMs: 100,
      backoff: { baseMs: 5000, maxMs: 5000 },
    });
    const events: AgentEvent[] = [];
    agent.on('event', (e: AgentEvent) => events.push(e));
    await agent.start();
    t.after(() => agent.stop());
    await until('a handshake or its failure', () =>
      events.some((e) => e.event === 'handshake' || e.event === 'backoff'),
    );
    await agent.stop();
    return events;
  };
  const strict = await run(false);
  const err = strict.find((e) => e.event === 'error');
  assert.ok(err?.event === 'error' && err.where === 'handshake', JSON.stringify(strict));
  assert.ok(strict.some((e) => e.event === 'backoff'));
  assert.equal(c.got.length, 0);
  const lax = await run(true);
  assert.deepEqual(handshakes(lax), [['x509', false]]);
});

test('serve over DTLS with a raw public key: our client observes a sensor', async (t) => {
  const pki = await makeTempPki(t);
  const sec = parseSecurityFlags({ 'rpk-key': pki.rpkServer.key, 'trust-rpk': [pki.rpkClient.spki] });
  const agent = new DeviceAgent({
    serveDtls: { port: 0, host: '127.0.0.1', publicKey: sec.publicKey },
    sensors: ['humidity'],
    intervalMs: 200,
  });
  await agent.start();
  t.after(() => agent.stop());
  const creds = loadCredentialFiles({ rpkKey: pki.rpkClient.key, trustRpk: [pki.rpkServer.spki] });
  const client = new CoapClient({ security: creds });
  t.after(() => client.close());
  const obs = await client.observe(`coaps://127.0.0.1:${agent.addresses().serveDtls?.port}/sensors/humidity`);
  let n = 0;
  obs.on('notification', () => n++);
  await until('2 notifications', () => n >= 2);
  await obs.cancel();
  assert.equal(obs.first?.peer.identity?.mode, 'rpk');
  assert.ok(Number(obs.first?.payload.toString()) >= 0);
});

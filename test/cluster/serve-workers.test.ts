/**
 * `securesense serve --workers 2`, run as a user runs it, on one SQLite store: a coaps:// device
 * whose NAT rebinding moves its flow to the other worker keeps its session (the CID record is
 * handed over), a session made on one worker is resumed on the other (through the store), and
 * `/metrics` on either worker shows both workers' counts.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { decodeMessage, encodeMessage, OptionNumber } from '../../src/coap/index.ts';
import { connect, type DtlsConnection } from '../../src/dtls/index.ts';
import { nextData } from '../dtls/helpers.ts';
import { startRebindingRelay } from '../dtls/rebinding-relay.ts';
import { call, newResource, newUser } from '../platform/helpers.ts';
import { serveTwoWorkers } from './serve-workers-helper.ts';

const MAX_TRIES = 24;

async function platformWithWorkers(t: TestContext) {
  const { base, coapsPort } = await serveTwoWorkers(t);
  const { uid, token } = await newUser(base, 'workers');
  const r = await newResource(base, uid, token, 'dev');
  const bound = await call(base, 'POST', `/users/${uid}/resources/${r.rid}/devices`, {
    token,
    body: { mode: 'psk', psk_identity: 'roaming-dev' },
  });
  assert.equal(bound.status, 201, bound.text);
  return { base, coapsPort, psk: { identity: 'roaming-dev', key: Buffer.from(bound.json.psk_key, 'hex') } };
}

let mid = 1;
/**
 * A CoAP CON GET of /.well-known/core over `c`, retransmitted as a CoAP client does (here every
 * 500 ms, at most 6 times): right after a move the server may hold a reply larger than the request
 * until the next record from the new address verifies it (RFC 9146 §6). Resolves with the code.
 */
async function ping(c: DtlsConnection): Promise<number> {
  const messageId = mid++;
  const request = encodeMessage({
    type: 'CON',
    code: 1,
    messageId,
    token: Buffer.of(messageId & 0xff),
    options: [
      { number: OptionNumber.UriPath, value: Buffer.from('.well-known') },
      { number: OptionNumber.UriPath, value: Buffer.from('core') },
    ],
    payload: Buffer.alloc(0),
  });
  for (let attempt = 0; attempt < 6; attempt++) {
    c.send(request);
    let reply: Buffer;
    try {
      reply = await nextData(c, 500);
    } catch {
      continue;
    }
    const d = decodeMessage(reply);
    assert.ok(d.ok, 'a CoAP response');
    assert.equal(d.message.messageId, messageId);
    return d.message.code;
  }
  throw new Error(`no reply to CoAP message ${messageId}`);
}

/** The value of one series in a Prometheus text body (0 when absent). */
function series(body: string, name: string): number {
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

test('serve --workers 2: a coaps:// device moved to the other worker goes on; resumption on the other; /metrics of both', async (t) => {
  const { base, coapsPort, psk } = await platformWithWorkers(t);
  const relay = await startRebindingRelay({ targetHost: '127.0.0.1', targetPort: coapsPort });
  t.after(() => relay.close());
  const c = await connect({ host: '127.0.0.1', port: relay.port, psk, connectionId: { length: 4 } });
  t.after(() => c.close());
  const owner = c.connectionIds.peer?.[0];
  assert.ok(owner === 0 || owner === 1);
  assert.equal(await ping(c), 69, '2.05 Content');
  const forwarded = async () =>
    series(
      (await call(base, 'GET', '/metrics')).text,
      `securesense_dtls_cid_events_total{worker="${1 - owner}",event="forwarded"}`,
    );
  let tries = 0;
  while ((await forwarded()) === 0 && tries < MAX_TRIES) {
    tries++;
    await relay.rebind();
    assert.equal(await ping(c), 69, `a reply after rebinding ${tries}`);
  }
  const body = (await call(base, 'GET', '/metrics')).text;
  assert.ok((await forwarded()) > 0, `the flow never landed on the other worker in ${MAX_TRIES} rebindings`);
  assert.ok(series(body, `securesense_dtls_cid_events_total{worker="${owner}",event="received"}`) > 0);
  assert.ok(series(body, `securesense_dtls_cid_events_total{worker="${owner}",event="address_updates"}`) >= 1);
  const hs = (w: number) => series(body, `securesense_worker_dtls_handshakes_total{worker="${w}"}`);
  assert.equal(hs(0) + hs(1), 1, 'one handshake, both workers counted');
  assert.equal(series(body, 'securesense_dtls_sessions'), 1, 'the sessions gauge summed over the workers');

  // Resumption: new flows (new ports) until one is resumed by the worker that did not make the session.
  // The other worker reads the session from the store, where it lands with its batch (writeBatchMs,
  // 20 ms by default): wait well past that first, as a device that comes back later does.
  await new Promise((r) => setTimeout(r, 250));
  let resumedElsewhere = false;
  for (let i = 0; i < MAX_TRIES && !resumedElsewhere; i++) {
    const r = await connect({
      host: '127.0.0.1',
      port: coapsPort,
      psk,
      session: c.session,
      connectionId: { length: 4 },
    });
    assert.ok(r.resumed, 'an abbreviated handshake');
    assert.equal(await ping(r), 69);
    resumedElsewhere = r.connectionIds.peer?.[0] !== owner;
    await r.close();
  }
  assert.ok(resumedElsewhere, `no resumption landed on the other worker in ${MAX_TRIES} tries`);
});

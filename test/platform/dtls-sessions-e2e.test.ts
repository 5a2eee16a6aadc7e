/**
 * Two front ends over one store (a shared SQLite file, or one PostgreSQL schema), both with the
 * same session key: a device makes a full handshake and posts to A, then offers that session to B
 * and B resumes it (abbreviated handshake, no public-key operation on B), the point stored under
 * the device's resource. With another key the front end makes a full handshake; a device whose
 * binding was removed is not resumed. The same with `openssl s_client -sess_out` to A and
 * `-sess_in` to B.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { CoapClient, type CoapResponse, ContentFormat, encodeMessage, OptionNumber } from '../../src/coap/index.ts';
import { DtlsClientTransport } from '../../src/coap/transport-dtls.ts';
import { loadTrustAnchors, ownCertificate, ownRawPublicKey, PinnedKeys } from '../../src/dtls/credentials/index.ts';
import {
  type CryptoOp,
  connect,
  DtlsAlertError,
  type DtlsClientOptions,
  type DtlsConnection,
  type DtlsMeter,
} from '../../src/dtls/index.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createPlatform } from '../../src/platform/index.ts';
import { opensslDtlsClient } from '../support/dtls-peers.ts';
import { requireBinary } from '../support/peers.ts';
import { makeTempPki, type TempPki } from '../support/pki.ts';
import { bothEngines, type EngineTarget } from './engines.ts';
import { call, newResource, newUser } from './helpers.ts';

const KEY = '5e55105e55105e55105e55105e55105e5e55105e55105e55105e55105e55105e';
const OTHER_KEY = '0123456789abcdef0123456789abcdef';
const JSON_CF = { contentFormat: ContentFormat['application/json'] };
const PUBLIC_KEY_OPS: CryptoOp[] = ['ecdsa_sign', 'ecdsa_verify', 'ecdh_keygen', 'ecdh_agree'];

/** Counts the crypto operations a front end's DTLS server performs. */
function countingMeter(): DtlsMeter & { ops: Map<CryptoOp, number>; publicKeyOps(): number } {
  const ops = new Map<CryptoOp, number>();
  return {
    ops,
    handshakeMessage() {},
    record() {},
    crypto(op, count) {
      ops.set(op, (ops.get(op) ?? 0) + count);
    },
    publicKeyOps: () => PUBLIC_KEY_OPS.reduce((n, op) => n + (ops.get(op) ?? 0), 0),
  };
}

/** One front end: HTTP and coaps:// on free ports over the shared store, with `sessionKey`. */
async function frontEnd(t: TestContext, tg: EngineTarget, pki: TempPki, sessionKey: string | null) {
  const cfg = loadConfig({
    env: {},
    overrides: {
      db: tg.db,
      http: { host: '127.0.0.1', port: 0 },
      coap: { host: '127.0.0.1', port: null, coapsPort: 0 },
      dtls: { sessionKey },
    },
  });
  const meter = countingMeter();
  const p = await createPlatform(cfg, {
    pgSchema: tg.schema,
    coap: {
      // A binding made through another front end is trusted here after the next reload.
      trustRefreshMs: 100,
      dtls: {
        rpk: ownRawPublicKey(pki.rpkServer.keyPem),
        certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
        meter,
      },
    },
  });
  t.after(() => p.close());
  const coaps = p.coap?.coaps;
  assert.ok(coaps && p.http.plain);
  const connections: DtlsConnection[] = [];
  coaps.transport.server.on('connection', (c: DtlsConnection) => connections.push(c));
  return { p, base: p.http.plain.url, port: coaps.port, meter, connections };
}
type FrontEnd = Awaited<ReturnType<typeof frontEnd>>;

/** One CoAP POST over an established DTLS connection (addressed as coap:// over the DTLS transport). */
async function post(conn: DtlsConnection, port: number, path: string, body: unknown): Promise<CoapResponse> {
  const client = new CoapClient({ transport: new DtlsClientTransport(conn), params: { ackTimeout: 500 } });
  try {
    return await client.post(`coap://127.0.0.1:${port}${path}`, JSON.stringify(body), JSON_CF);
  } finally {
    await client.close();
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function points(fe: FrontEnd, uid: number, rid: number, token: string): Promise<number[]> {
  const streams = await call(fe.base, 'GET', `/users/${uid}/resources/${rid}/streams`, { token });
  if (streams.json.length === 0) return [];
  const data = await call(fe.base, 'GET', `/users/${uid}/resources/${rid}/streams/${streams.json[0].id}/data`, {
    token,
  });
  return data.json.points.map((x: { value: number }) => x.value);
}

/** A front-end pair A, B with the same key, and C with another, over one store. */
async function setUp(t: TestContext, tg: EngineTarget) {
  const pki = await makeTempPki(t);
  const a = await frontEnd(t, tg, pki, KEY);
  const b = await frontEnd(t, tg, pki, KEY);
  const c = await frontEnd(t, tg, pki, OTHER_KEY);
  const { uid, token } = await newUser(a.base, 'ann');
  return { pki, a, b, c, uid, token };
}

bothEngines(
  'PSK, RPK and X.509 devices resume on front end B the session made with A; another key → full handshake',
  async (t, tg) => {
    const { pki, a, b, c, uid, token } = await setUp(t, tg);
    const rPsk = await newResource(a.base, uid, token, 'psk');
    const rRpk = await newResource(a.base, uid, token, 'rpk');
    const bound = await call(a.base, 'POST', `/users/${uid}/resources/${rPsk.rid}/devices`, {
      token,
      body: { mode: 'psk', psk_identity: 'shared-dev' },
    });
    assert.equal(bound.status, 201, bound.text);
    const pskKey = Buffer.from(bound.json.psk_key, 'hex');
    const rpkBound = await call(a.base, 'POST', `/users/${uid}/resources/${rRpk.rid}/devices`, {
      token,
      body: { mode: 'rpk', rpk: pki.rpkClient.spkiPem },
    });
    assert.equal(rpkBound.status, 201, rpkBound.text);
    const rX509 = await newResource(a.base, uid, token, 'x509');
    const x509Bound = await call(a.base, 'POST', `/users/${uid}/resources/${rX509.rid}/devices`, {
      token,
      body: { mode: 'x509', x509_name: 'CN=device-1', x509_ca: pki.root.certPem },
    });
    assert.equal(x509Bound.status, 201, x509Bound.text);

    const devices: Array<[string, number, Omit<DtlsClientOptions, 'host' | 'port'>]> = [
      ['psk', rPsk.rid, { psk: { identity: 'shared-dev', key: pskKey } }],
      [
        'rpk',
        rRpk.rid,
        { rpk: ownRawPublicKey(pki.rpkClient.keyPem), trust: { pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]) } },
      ],
      [
        'x509',
        rX509.rid,
        {
          certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
          trust: { anchors: loadTrustAnchors(pki.root.certPem) },
        },
      ],
    ];
    let stored = 0;
    for (const [mode, rid, creds] of devices) {
      const path = `/users/${uid}/resources/${rid}/data`;
      const opts = { host: '127.0.0.1', retransmitInitialMs: 300, ...creds };
      // 1. A full handshake with A and a POST.
      let t0 = performance.now();
      const first = await connect({ ...opts, port: a.port });
      const fullMs = performance.now() - t0;
      assert.equal(first.resumed, false, `${mode}: full handshake with A`);
      assert.equal((await post(first, a.port, path, { v: 1 })).status, '2.04', mode);
      await first.close();
      await until(`${mode}: the session in the store`, async () => (await a.p.store.countDtlsSessions()) > stored);
      stored++;

      // 2. B resumes it: abbreviated on both sides, no public-key operation on B, the same identity.
      const bOpsBefore = b.meter.publicKeyOps();
      const bConnsBefore = b.connections.length;
      t0 = performance.now();
      const second = await connect({ ...opts, port: b.port, session: first.session });
      // A figure of one run, not asserted (speed belongs to benchmarks).
      t.diagnostic(
        `${mode}: full handshake with A ${fullMs.toFixed(1)} ms, resumed with B ${(performance.now() - t0).toFixed(1)} ms`,
      );
      assert.equal(second.resumed, true, `${mode}: the client sees an abbreviated handshake with B`);
      // The client's Finished is the last flight of an abbreviated handshake: B completes on receiving it.
      await until(`${mode}: B's connection`, async () => b.connections.length > bConnsBefore);
      const onB = b.connections.at(-1);
      assert.ok(onB);
      assert.equal(onB.resumed, true, `${mode}: B resumed`);
      const onA = a.connections.at(-1);
      assert.ok(onA && !onA.resumed);
      assert.deepEqual(onB.identity, onA.identity, `${mode}: B knows the device as A's handshake proved it`);
      if (onB.identity.mode === 'rpk') assert.equal(onB.identity.fingerprint, pki.rpkClient.fingerprint);
      if (onB.identity.mode === 'x509') {
        assert.equal(onB.identity.subject, 'CN=device-1');
        assert.equal(onB.identity.chain.length, onA.identity.mode === 'x509' ? onA.identity.chain.length : -1);
      }
      assert.equal(b.meter.publicKeyOps(), bOpsBefore, `${mode}: B made no ECDH/ECDSA operation`);
      assert.equal((await post(second, b.port, path, { v: 2 })).status, '2.04', mode);
      await second.close();
      assert.deepEqual(await points(a, uid, rid, token), [1, 2], `${mode}: both points under the device's resource`);

      // 3. C has another session key: the row does not open there, so a full handshake (not an error).
      // The CA was bound through A: C trusts it once its periodic reload has seen it.
      if (mode === 'x509') await until("C's anchors", async () => c.p.devices.anchorCount > 0);
      const cOpsBefore = c.meter.publicKeyOps();
      const cConnsBefore = c.connections.length;
      const third = await connect({ ...opts, port: c.port, session: first.session });
      assert.equal(third.resumed, false, `${mode}: another key → full handshake`);
      await until(`${mode}: C's connection`, async () => c.connections.length > cConnsBefore);
      assert.equal(c.connections.at(-1)?.resumed, false);
      if (mode !== 'psk') assert.ok(c.meter.publicKeyOps() > cOpsBefore, 'the full handshake signed and agreed');
      assert.equal((await post(third, c.port, path, { v: 3 })).status, '2.04', mode);
      await third.close();
      assert.deepEqual(await points(a, uid, rid, token), [1, 2, 3], mode);
      await until(`${mode}: C's own session in the store`, async () => (await a.p.store.countDtlsSessions()) > stored);
      stored++;
    }
    t.diagnostic(`B: ${b.connections.filter((x) => x.resumed).length} resumed of ${b.connections.length}`);
    assert.equal(b.meter.publicKeyOps(), 0, 'B never needed its keys');
  },
);

bothEngines('a device whose binding was removed on A is not resumed on B (and its session row goes)', async (t, tg) => {
  const { a, b, uid, token } = await setUp(t, tg);
  const r = await newResource(a.base, uid, token, 'psk');
  const bound = await call(a.base, 'POST', `/users/${uid}/resources/${r.rid}/devices`, {
    token,
    body: { mode: 'psk', psk_identity: 'soon-gone' },
  });
  assert.equal(bound.status, 201, bound.text);
  const opts = {
    host: '127.0.0.1',
    retransmitInitialMs: 300,
    maxRetransmits: 2,
    psk: { identity: 'soon-gone', key: Buffer.from(bound.json.psk_key, 'hex') },
  };
  const first = await connect({ ...opts, port: a.port });
  assert.equal((await post(first, a.port, `/users/${uid}/resources/${r.rid}/data`, { v: 1 })).status, '2.04');
  await first.close();
  const id = first.session.id.toString('hex');
  await until('the session in the store', async () => (await a.p.store.getDtlsSession(id, Date.now())) !== undefined);

  const del = await call(a.base, 'DELETE', `/users/${uid}/resources/${r.rid}/devices/${bound.json.id}`, { token });
  assert.equal(del.status, 204, del.text);
  await assert.rejects(connect({ ...opts, port: b.port, session: first.session }), (err: Error) => {
    assert.ok(err instanceof DtlsAlertError, `${err.name}: ${err.message}`);
    assert.match(err.message, /unknown_psk_identity/);
    return true;
  });
  assert.equal(b.connections.length, 0, 'no association on B');
  assert.equal(await a.p.store.getDtlsSession(id, Date.now()), undefined, 'the unbound session was deleted');
});

/** A CoAP CON POST (first byte 0x41 'A': no s_client command letter) as s_client will send it. */
function coapPost(path: string, body: unknown, messageId: number): Buffer {
  return encodeMessage({
    type: 'CON',
    code: 2,
    messageId,
    token: Buffer.of(messageId & 0xff),
    options: [
      ...path
        .split('/')
        .filter(Boolean)
        .map((p) => ({ number: OptionNumber.UriPath, value: Buffer.from(p) })),
      { number: OptionNumber.ContentFormat, value: Buffer.of(ContentFormat['application/json']) },
    ],
    payload: Buffer.from(JSON.stringify(body)),
  });
}

bothEngines(
  'openssl s_client: a session saved with -sess_out from A is resumed by B with -sess_in (PSK)',
  async (t, tg) => {
    if (!requireBinary(t, 'openssl')) return;
    const { a, b, uid, token } = await setUp(t, tg);
    const r = await newResource(a.base, uid, token, 'openssl');
    const bound = await call(a.base, 'POST', `/users/${uid}/resources/${r.rid}/devices`, {
      token,
      body: { mode: 'psk', psk_identity: 'openssl-dev' },
    });
    assert.equal(bound.status, 201, bound.text);
    const psk = { identity: 'openssl-dev', keyHex: bound.json.psk_key as string };
    const dir = mkdtempSync(join(tmpdir(), 'ss-sess-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const sess = join(dir, 'sess.pem');
    const path = `/users/${uid}/resources/${r.rid}/data`;

    const first = opensslDtlsClient(t, a.port, { psk, args: ['-nocommands', '-sess_out', sess] });
    await first.waitFor(/New, TLSv1.2, Cipher is PSK-AES128-CCM8/);
    first.write(coapPost(path, { v: 10 }, 0x1001));
    await until('the first point', async () => (await points(a, uid, r.rid, token)).length === 1);
    first.proc.stdin?.end();
    await first.exited;
    assert.equal(a.connections[0]?.resumed, false);

    const second = opensslDtlsClient(t, b.port, { psk, args: ['-nocommands', '-sess_in', sess] });
    const shown = await second.waitFor(/(New|Reused), TLSv1.2, Cipher is PSK-AES128-CCM8/);
    assert.match(shown, /Reused, TLSv1.2, Cipher is PSK-AES128-CCM8/, 'openssl reports the session reused');
    assert.equal(b.connections.length, 1);
    assert.equal(b.connections[0].resumed, true, 'B resumed A’s session');
    assert.deepEqual(b.connections[0].identity, { mode: 'psk', identity: 'openssl-dev' });
    second.write(coapPost(path, { v: 20 }, 0x1002));
    await until('the second point', async () => (await points(a, uid, r.rid, token)).length === 2);
    assert.deepEqual(await points(b, uid, r.rid, token), [10, 20]);
    assert.equal(b.meter.publicKeyOps(), 0);
    second.proc.stdin?.end();
    await second.exited;
  },
);

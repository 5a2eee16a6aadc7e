/**
 * The poller tests' device and platform harness: a device serving `/sensors` over coaps:// in a
 * public-key mode (our CoAP server over our DTLS server) and a platform whose CoAPs API holds the
 * given credentials, with helpers to bind a resource and read its poll log and points.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { CoapServer, ContentFormat, DtlsServerTransport } from '../../../src/coap/index.ts';
import type { DtlsConnection, DtlsMeter, OwnCertificate, OwnRawPublicKey, PeerTrust } from '../../../src/dtls/index.ts';
import { createPlatform, loadConfig, type PlatformDtlsCredentials } from '../../../src/platform/index.ts';
import { target } from '../engines.ts';
import { call, newUser } from '../helpers.ts';

export async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A device serving `/sensors` over coaps:// in a public-key mode, requiring the client (the
 * platform) to authenticate with a key or certificate it trusts. Counts what its DTLS server saw.
 */
export async function pkDevice(
  t: TestContext,
  creds: { rpk?: OwnRawPublicKey; certificate?: OwnCertificate; trust: PeerTrust },
) {
  const seen = { connections: [] as DtlsConnection[], closed: 0, alertsIn: 0, requests: 0, refused: [] as string[] };
  const meter: DtlsMeter = {
    handshakeMessage() {},
    // After the handshake the only alert a well-behaved client sends is close_notify (RFC 5246 §7.2.1).
    record(dir, contentType, epoch) {
      if (dir === 'in' && contentType === 'alert' && epoch > 0) seen.alertsIn++;
    },
    crypto() {},
  };
  const transport = await DtlsServerTransport.listen({
    host: '127.0.0.1',
    port: 0,
    ...creds,
    clientAuth: 'need',
    meter,
  });
  transport.server.on('connection', (c: DtlsConnection) => {
    seen.connections.push(c);
    c.on('close', () => seen.closed++);
  });
  transport.server.on('handshakeError', (err: Error) => seen.refused.push(err.message));
  const server = new CoapServer();
  let n = 0;
  server.get('/sensors', () => {
    seen.requests++;
    n++;
    return {
      payload: JSON.stringify({ temp: 20 + n / 100, seq: n }),
      contentFormat: ContentFormat['application/json'],
    };
  });
  server.listen(transport);
  t.after(() => server.close());
  return { seen, url: `coaps://127.0.0.1:${transport.address().port}/sensors` };
}

/**
 * The platform with its CoAPs API holding `dtls` (as `securesense serve --rpk-key/--dtls-cert` and
 * `npm start` configure it) and the poller: createPlatform hands the credentials to the poller.
 */
export async function platformWith(t: TestContext, dtls?: PlatformDtlsCredentials) {
  const tg = await target(t, 'sqlite');
  if (!tg) throw new Error('sqlite target');
  const cfg = loadConfig({
    env: {},
    overrides: {
      db: tg.db,
      http: { host: '127.0.0.1', port: 0 },
      coap: { host: '127.0.0.1', port: 0, coapsPort: 0 },
      // The devices are lab devices on loopback: allowed explicitly (the default refuses loopback).
      poller: { allow: ['127.0.0.1'] },
    },
  });
  const p = await createPlatform(cfg, { coap: dtls ? { dtls } : true, poller: { startJitterMs: 0 } });
  t.after(() => p.close());
  const base = p.http.plain?.url ?? '';
  const poller = p.poller;
  if (!poller) throw new Error('no poller');
  const { uid, token } = await newUser(base, 'ann');
  const R = `/users/${uid}/resources`;
  return {
    p,
    poller,
    base,
    token,
    R,
    /** A resource bound to the bindings, then given the polling URL (so that no poll runs before). */
    async polled(url: string, ...bindings: Array<Record<string, unknown>>): Promise<number> {
      const r = await call(base, 'POST', R, { token, body: { label: 'device' } });
      assert.equal(r.status, 201, r.text);
      for (const binding of bindings) {
        const b = await call(base, 'POST', `${R}/${r.json.id}/devices`, { token, body: binding });
        assert.equal(b.status, 201, b.text);
      }
      const u = await call(base, 'PUT', `${R}/${r.json.id}`, {
        token,
        body: { polling_url: url, polling_period: 3600, polling_timeout_ms: 300, polling_retransmits: 2 },
      });
      assert.equal(u.status, 200, u.text);
      return r.json.id;
    },
    async log(
      rid: number,
    ): Promise<Array<{ ok: boolean; status: string; message: string; new_session: boolean; duration_ms: number }>> {
      return (await call(base, 'GET', `${R}/${rid}/log?limit=1000`, { token })).json;
    },
    /** Points stored per stream label. */
    async points(rid: number): Promise<Record<string, number>> {
      const out: Record<string, number> = {};
      for (const s of (await call(base, 'GET', `${R}/${rid}/streams`, { token })).json) {
        const d = await call(base, 'GET', `${R}/${rid}/streams/${s.id}/data?limit=1000`, { token });
        out[s.label] = d.json.points.length;
      }
      return out;
    },
  };
}

export type Harness = Awaited<ReturnType<typeof platformWith>>;

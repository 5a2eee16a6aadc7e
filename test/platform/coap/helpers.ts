/** A platform with its CoAP API on free ports, and CoAP clients that are closed after the test. */
import type { TestContext } from 'node:test';
import { CoapClient, type CoapClientOptions } from '../../../src/coap/index.ts';
import { type CoapApiListenOptions, startCoapApi } from '../../../src/platform/coap/api.ts';
import type { EngineTarget } from '../engines.ts';
import { call, startPlatform } from '../helpers.ts';

export async function startCoapPlatform(t: TestContext, tg: EngineTarget, dtls?: CoapApiListenOptions['dtls']) {
  const p = await startPlatform(t, tg);
  // startPlatform does not start the CoAP API: start it on the same service, on free ports.
  const coap = await startCoapApi(p.service, p.devices, { host: '127.0.0.1', port: 0, coapsPort: 0, dtls });
  t.after(() => coap.close());
  return Object.assign(p, {
    coapApi: coap,
    coapBase: `coap://127.0.0.1:${coap.coap?.port}`,
    coapsBase: `coaps://127.0.0.1:${coap.coaps?.port}`,
  });
}

export function client(t: TestContext, opts: CoapClientOptions = {}): CoapClient {
  const c = new CoapClient({ params: { ackTimeout: 500 }, ...opts });
  t.after(() => c.close());
  return c;
}

/** Binds a PSK device to a resource through the HTTP API; returns the key. */
export async function bindPsk(
  base: string,
  token: string,
  uid: number,
  rid: number,
  identity: string,
): Promise<Buffer> {
  const r = await call(base, 'POST', `/users/${uid}/resources/${rid}/devices`, {
    token,
    body: { mode: 'psk', psk_identity: identity },
  });
  if (r.status !== 201) throw new Error(`bind: ${r.status} ${r.text}`);
  return Buffer.from(r.json.psk_key, 'hex');
}

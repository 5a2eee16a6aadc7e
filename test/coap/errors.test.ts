/** The CoAP layer's errors: one base with a kind, and what a server answers for each. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CoapCancelledError,
  CoapClient,
  CoapError,
  CoapFormatError,
  CoapResetError,
  CoapServer,
  CoapTimeoutError,
  Code,
  UdpTransport,
} from '../../src/coap/index.ts';

test('every CoAP error is a CoapError whose kind and name say what it is', () => {
  const cases: Array<[CoapError, string, string]> = [
    [new CoapError(Code.Forbidden, 'not you'), 'response', 'CoapError'],
    [new CoapTimeoutError(), 'timeout', 'CoapTimeoutError'],
    [new CoapResetError(), 'reset', 'CoapResetError'],
    [new CoapFormatError('truncated token'), 'format', 'CoapFormatError'],
    [new CoapCancelledError(), 'cancelled', 'CoapCancelledError'],
  ];
  for (const [e, kind, name] of cases) {
    assert.ok(e instanceof CoapError && e instanceof Error);
    assert.equal(e.kind, kind);
    assert.equal(e.name, name);
  }
  assert.equal(new CoapError(Code.Forbidden).message, 'CoAP 4.03');
  assert.equal(new CoapTimeoutError().code, Code.GatewayTimeout);
});

test('a server answers a handler’s response-kind CoapError with its code, any other kind with 5.00', async (t) => {
  const server = new CoapServer();
  server.get('/forbidden', () => {
    throw new CoapError(Code.Forbidden, 'not you');
  });
  server.get('/upstream-timeout', () => {
    throw new CoapTimeoutError('upstream did not answer');
  });
  server.get('/upstream-reset', () => {
    throw new CoapResetError();
  });
  const udp = await UdpTransport.bind({ host: '127.0.0.1' });
  server.listen(udp);
  t.after(() => server.close());
  const c = new CoapClient();
  t.after(() => c.close());
  const base = `coap://127.0.0.1:${udp.address().port}`;
  const forbidden = await c.get(`${base}/forbidden`);
  assert.equal(forbidden.status, '4.03');
  assert.equal(forbidden.payload.toString(), 'not you');
  for (const path of ['/upstream-timeout', '/upstream-reset']) {
    const r = await c.get(`${base}${path}`);
    assert.equal(r.status, '5.00', path);
    assert.equal(r.payload.toString(), 'internal error', path);
  }
});

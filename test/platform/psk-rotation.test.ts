/**
 * Rotating a PSK device's key over the HTTP API against the real coaps:// front end: the new key
 * (shown once) passes a full handshake, the old one no longer does (unknown PSK → the handshake
 * fails), identity and label are kept; an RPK credential, another user's and an unknown one are
 * refused (400, 403, 404).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '../../src/dtls/index.ts';
import { call, newResource, newUser, startCoapsPlatform } from './helpers.ts';

test('rotating a PSK: the new key handshakes, the old one is refused, identity and label kept', async (t) => {
  const p = await startCoapsPlatform(t, 'rotate');
  const { base, port } = p;
  const { uid, token } = await newUser(base, 'ann');
  const bob = await newUser(base, 'bob');
  const { rid } = await newResource(base, uid, token, 'pump');
  const devices = `/users/${uid}/resources/${rid}/devices`;
  const bound = await call(base, 'POST', devices, {
    token,
    body: { mode: 'psk', psk_identity: 'pump-1', label: 'cellar' },
  });
  assert.equal(bound.status, 201, bound.text);
  const oldKey = Buffer.from(bound.json.psk_key, 'hex');
  const opts = { host: '127.0.0.1', port, retransmitInitialMs: 200, retransmitMaxMs: 400, handshakeTimeoutMs: 3000 };
  const before = await connect({ ...opts, psk: { identity: 'pump-1', key: oldKey } });
  await before.close();

  const rotated = await call(base, 'POST', `${devices}/${bound.json.id}/rotate`, { token });
  assert.equal(rotated.status, 201, rotated.text);
  assert.equal(rotated.json.psk_identity, 'pump-1');
  assert.equal(rotated.json.label, 'cellar');
  assert.match(rotated.json.psk_key, /^[0-9a-f]{32}$/);
  assert.notEqual(rotated.json.psk_key, bound.json.psk_key);
  const list = await call(base, 'GET', devices, { token });
  assert.deepEqual(
    list.json.map((c: { psk_identity: string }) => c.psk_identity),
    ['pump-1'],
  );

  const fresh = await connect({ ...opts, psk: { identity: 'pump-1', key: Buffer.from(rotated.json.psk_key, 'hex') } });
  assert.equal(fresh.resumed, false);
  await fresh.close();
  await assert.rejects(
    connect({ ...opts, psk: { identity: 'pump-1', key: oldKey } }),
    'the old key no longer handshakes',
  );

  // Refusals.
  const rpk = await call(base, 'POST', devices, {
    token,
    body: { mode: 'rpk', rpk_fingerprint: 'ab'.repeat(32) },
  });
  assert.equal(rpk.status, 201, rpk.text);
  const notPsk = await call(base, 'POST', `${devices}/${rpk.json.id}/rotate`, { token });
  assert.equal(notPsk.status, 400);
  assert.match(notPsk.json.message, /only a PSK has a key to rotate/);
  assert.equal((await call(base, 'POST', `${devices}/${rotated.json.id}/rotate`, { token: bob.token })).status, 403);
  assert.equal((await call(base, 'POST', `${devices}/9999/rotate`, { token })).status, 404);
  assert.equal((await call(base, 'POST', `${devices}/${rotated.json.id}/rotate`)).status, 401);
});

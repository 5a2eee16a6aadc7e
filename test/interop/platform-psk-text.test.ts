/**
 * PSKs libcoap users can type: `securesense device add --psk-text` makes a printable key, and
 * `coap-client-gnutls -u ID -k KEY` (and `coap-client-openssl`) with exactly that key stores a
 * point in the platform — the commands docs/platform-coap.md shows. A given text key
 * (`--psk-key-text`) works the same; bad or doubled keys are refused with a 400 naming the field.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { runWith } from '../../src/cli/device-credentials.ts';
import { startCoapApi } from '../../src/platform/coap/api.ts';
import { target } from '../platform/engines.ts';
import { call, newResource, newUser, startPlatform } from '../platform/helpers.ts';
import { launchFor, requireBinary } from '../support/peers.ts';

async function setup(t: TestContext) {
  const tg = await target(t, 'sqlite');
  if (!tg) return undefined;
  const p = await startPlatform(t, tg);
  const coap = await startCoapApi(p.service, p.devices, { host: '127.0.0.1', port: null, coapsPort: 0 });
  t.after(() => coap.close());
  const { uid, token } = await newUser(p.base, 'typist');
  const { rid } = await newResource(p.base, uid, token, 'typed key');
  /** `securesense device add` as a user runs it; its one JSON line. */
  const deviceAdd = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const common = ['--api', p.base, '--token', token, '--user', String(uid), '--resource', String(rid)];
    const code = await runWith('add', [...common, ...args], { out: (l) => out.push(l), err: (l) => err.push(l) }, {});
    assert.equal(code, 0, err.join('\n'));
    return JSON.parse(out[0]) as Record<string, unknown>;
  };
  const url = `coaps://127.0.0.1:${coap.coaps?.port}/users/${uid}/resources/${rid}/data`;
  /** libcoap's client posting `payload` with the identity and key typed as they are. */
  const post = async (bin: string, identity: string, key: string, payload: unknown) => {
    const peer = launchFor(
      t,
      bin,
      ['-B', '10', '-u', identity, '-k', key, '-m', 'post', '-t', 'json', '-e', JSON.stringify(payload), url],
      { timeoutMs: 20_000 },
    );
    return { code: await peer.exited, out: peer.stdout(), err: peer.stderr() };
  };
  const values = async (label: string) => {
    const s = await call(p.base, 'GET', `/users/${uid}/resources/${rid}/streams`, { token });
    const st = s.json.find((x: { label: string }) => x.label === label);
    if (!st) return [];
    const d = await call(p.base, 'GET', `/users/${uid}/resources/${rid}/streams/${st.id}/data`, { token });
    return (d.json.points as Array<{ value: number }>).map((x) => x.value);
  };
  return { p, uid, rid, token, deviceAdd, post, values };
}

test('device add --psk-text makes a key that coap-client-gnutls and coap-client-openssl type with -k; the point is stored', async (t) => {
  if (!requireBinary(t, 'coap-client-gnutls')) return;
  const s = await setup(t);
  if (!s) return;
  const added = await s.deviceAdd(['--psk-identity', 'typed-1', '--psk-text']);
  const key = added.psk_key_text as string;
  assert.match(key, /^[A-Za-z0-9_-]{24}$/, 'printable, no shell metacharacters');
  assert.equal(added.psk_key, Buffer.from(key, 'ascii').toString('hex'), 'the same key, as hex');

  const gnutls = await s.post('coap-client-gnutls', 'typed-1', key, { meter: { power: 230.5 } });
  assert.equal(gnutls.code, 0, gnutls.err);
  assert.equal(JSON.parse(gnutls.out).stored, 1, gnutls.out);
  assert.deepEqual(await s.values('meter/power'), [230.5]);

  if (requireBinary(t, 'coap-client-openssl')) {
    // A second device with a key of its own choosing.
    const chosen = 'kitchen-sensor-key-2026';
    await s.deviceAdd(['--psk-identity', 'typed-2', '--psk-key-text', chosen]);
    // Same shape as the first payload: the streams its parsers made take it.
    const openssl = await s.post('coap-client-openssl', 'typed-2', chosen, { meter: { power: 231 } });
    assert.equal(openssl.code, 0, openssl.err);
    assert.equal(JSON.parse(openssl.out).stored, 1, openssl.out);
    assert.deepEqual(await s.values('meter/power'), [230.5, 231]);
  }

  // A wrong key typed: the handshake fails, nothing is stored.
  // (The last character changed: a random key may already end in 'x'.)
  const wrongKey = `${key.slice(0, -1)}${key.endsWith('x') ? 'y' : 'x'}`;
  const wrong = await s.post('coap-client-gnutls', 'typed-1', wrongKey, { meter: { power: 999 } });
  assert.equal(wrong.out.includes('stored'), false, wrong.out);
  assert.equal((await s.values('meter/power')).includes(999), false);
});

test('psk_key_text is checked: too short, with a space, or beside psk_key is a 400 naming the field', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const bind = (body: Record<string, unknown>) =>
    call(s.p.base, 'POST', `/users/${s.uid}/resources/${s.rid}/devices`, { token: s.token, body });
  for (const [body, message] of [
    [{ psk_key_text: 'short' }, /psk_key_text must be 16–64 printable ASCII characters/],
    [{ psk_key_text: 'has a space in the middle' }, /psk_key_text must be 16–64 printable ASCII characters/],
    [{ psk_key_text: 'a-long-enough-key-1', psk_key: '00'.repeat(16) }, /psk_key or psk_key_text, not both/],
    [{ psk_key_format: 'base32' }, /psk_key_format/],
  ] as const) {
    const r = await bind({ mode: 'psk', psk_identity: 'checked', ...body });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.message, message);
  }
  const list = await call(s.p.base, 'GET', `/users/${s.uid}/resources/${s.rid}/devices`, { token: s.token });
  assert.deepEqual(list.json, [], 'nothing bound');
});

/** The admission-control flags of `securesense dtls server` and `coap serve`: parsed, checked, and in effect. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readLimitFlags } from '../../src/cli/dtls-limits.ts';
import { connect } from '../../src/dtls/index.ts';
import { runCli } from '../support/cli.ts';
import { IDENTITY, KEY, KEY_HEX, startPskServerCli } from './helpers.ts';

test('readLimitFlags: each flag to its option; bad values name the flag', () => {
  assert.deepEqual(
    readLimitFlags({
      'max-sessions': '150000',
      'max-handshakes': '50',
      'handshake-timeout': '2000',
      'idle-timeout': '0',
      'recv-buffer': '8388608',
      'session-cache': '20480',
    }),
    {
      maxSessions: 150_000,
      maxHandshakes: 50,
      handshakeTimeoutMs: 2000,
      idleTimeoutMs: 0,
      recvBufferSize: 8_388_608,
      maxCachedSessions: 20_480,
    },
  );
  assert.deepEqual(readLimitFlags({}), {});
  assert.throws(() => readLimitFlags({ 'max-sessions': '0' }), /--max-sessions must be an integer in 1\.\./);
  assert.throws(() => readLimitFlags({ 'max-handshakes': 'lots' }), /--max-handshakes/);
  assert.throws(() => readLimitFlags({ 'handshake-timeout': '1.5' }), /--handshake-timeout/);
  assert.throws(() => readLimitFlags({ 'idle-timeout': '-1' }), /--idle-timeout/);
  assert.throws(() => readLimitFlags({ 'recv-buffer': '' }), /--recv-buffer/);
  assert.throws(() => readLimitFlags({ 'session-cache': '0' }), /--session-cache must be an integer in 1\.\./);
});

test("securesense dtls server --session-cache 1: a session resumes until another device's takes its place", async (t) => {
  const { port } = await startPskServerCli(t, ['--session-cache', '1']);
  const psk = { identity: IDENTITY, key: KEY };
  const a = await connect({ host: '127.0.0.1', port, psk });
  await a.close();
  const again = await connect({ host: '127.0.0.1', port, psk, session: a.session });
  assert.ok(again.resumed, 'the one cached session resumes');
  await again.close();
  const b = await connect({ host: '127.0.0.1', port, psk });
  await b.close();
  const late = await connect({ host: '127.0.0.1', port, psk, session: a.session });
  assert.equal(late.resumed, false, "the bound dropped the first device's session: a full handshake");
  await late.close();
});

test('securesense dtls server --max-sessions 1 --recv-buffer: the second device evicts the first', async (t) => {
  const { listening, port } = await startPskServerCli(t, ['--max-sessions', '1', '--recv-buffer', '1048576']);
  // Linux reports twice the requested payload room.
  assert.ok(Number(listening?.recvBuffer) >= 1_048_576, JSON.stringify(listening));
  const psk = { identity: IDENTITY, key: KEY };
  const first = await connect({ host: '127.0.0.1', port, psk });
  const closed = new Promise<void>((r) => first.once('close', r));
  const second = await connect({ host: '127.0.0.1', port, psk });
  await closed;
  await second.close();
});

test('a bad limit flag is a usage error naming it; limits are server flags', async () => {
  const bad = await runCli([
    'dtls',
    'server',
    '--port',
    '0',
    '--psk',
    `${IDENTITY}:${KEY_HEX}`,
    '--max-handshakes',
    '0',
  ]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--max-handshakes must be an integer/);
  const client = await runCli([
    'dtls',
    'client',
    '127.0.0.1:9',
    '--psk',
    `${IDENTITY}:${KEY_HEX}`,
    '--max-sessions',
    '5',
  ]);
  assert.notEqual(client.code, 0);
  assert.match(client.stderr, /Unknown option '--max-sessions'/); // a client takes no server limits
  const coap = await runCli(['coap', 'serve', '--port', '0', '--idle-timeout', 'soon']);
  assert.notEqual(coap.code, 0);
  assert.match(coap.stderr, /--idle-timeout/);
});

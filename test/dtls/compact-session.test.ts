/**
 * An idle established session in its compact form (RecordLayer.keepWithKeys): its ID and master
 * secret share the record keys' buffer, the final flight and epoch 0 are gone, no listener
 * dictionary exists until one is added. Over real sockets it must still decrypt and answer after
 * idling, and its session must still resume, from the server's cache and from the client's copy.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { connect, type DtlsConnection, DtlsServer } from '../../src/dtls/index.ts';
import { PackedSession } from '../../src/dtls/session.ts';
import { sleep } from '../support/ports.ts';
import { IDENTITY, KEY, nextData } from './helpers.ts';

const psk = { identity: IDENTITY, key: KEY };

/** What the test looks at inside a server association (white box: these are private). */
interface Inside {
  kept: PackedSession | undefined;
  records: { write1?: { bytes: Buffer }; read1?: { bytes: Buffer }; write0?: unknown; read0?: unknown };
  flight: unknown;
  _events: object | undefined;
}

function inside(c: DtlsConnection): Inside {
  return c as unknown as Inside;
}

/** Checks that server association `c` is in the compact idle form. */
function assertCompact(c: DtlsConnection, what: string): void {
  const a = inside(c);
  assert.ok(a.kept instanceof PackedSession, `${what}: the session is kept packed`);
  const keys = a.records.write1?.bytes;
  assert.ok(keys, `${what}: epoch 1 has keys`);
  assert.equal(a.records.read1?.bytes, keys, `${what}: both directions share one key buffer`);
  // One allocation for every secret byte: the session's ID and master secret are views into the key buffer.
  assert.equal(a.kept.id.buffer, keys.buffer, `${what}: the session ID lives in the key buffer`);
  assert.equal(a.kept.masterSecret.buffer, keys.buffer, `${what}: the master secret lives in the key buffer`);
  assert.equal(a.kept.masterSecret.length, 48);
  assert.equal(a.flight, undefined, `${what}: the final flight was released`);
  assert.equal(a.records.write0, undefined, `${what}: epoch 0 was dropped`);
  assert.equal(a.records.read0, undefined);
}

test('compact idle session: decrypts and answers after idling, resumes from the cache and from the client copy', async (t) => {
  // A short handshake time-out: the sweep releases the final flight and epoch 0 soon after establishment.
  const server = await DtlsServer.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === IDENTITY ? KEY : undefined),
    handshakeTimeoutMs: 150,
  });
  t.after(() => server.close());
  const port = server.address().port;
  const conns: DtlsConnection[] = [];
  // No listener on the server's connections yet: an idle session has none.
  server.on('connection', (c: DtlsConnection) => conns.push(c));
  const echo = (c: DtlsConnection) => c.on('data', (d: Buffer) => c.send(Buffer.concat([Buffer.from('echo:'), d])));

  const c1 = await connect({ host: '127.0.0.1', port, psk });
  t.after(() => c1.close());
  assert.equal(c1.resumed, false);
  await sleep(600); // idle, past settling
  assert.equal(conns.length, 1);
  const s1 = conns[0];
  assertCompact(s1, 'full handshake');
  assert.equal(inside(s1)._events, undefined, 'no listener dictionary before a listener is added');
  assert.deepEqual(s1.session.id, c1.session.id);
  assert.deepEqual(s1.identity, { mode: 'psk', identity: IDENTITY });
  assert.equal(s1.cipherSuite, 'TLS_PSK_WITH_AES_128_CCM_8');

  // A listener added after idling works, and the compact keys decrypt and encrypt both ways.
  echo(s1);
  const got1 = nextData(c1);
  c1.send(Buffer.from('after idle'));
  assert.equal((await got1).toString(), 'echo:after idle');
  const got1b = nextData(c1);
  c1.send(Buffer.from('and again'));
  assert.equal((await got1b).toString(), 'echo:and again');

  // The client's copy of the session (a plain object, safe to spread) resumes from the server's cache
  // while the first session is still held.
  const saved = { ...c1.session };
  assert.equal(saved.id.length, 32);
  const c2 = await connect({ host: '127.0.0.1', port, psk, session: saved });
  t.after(() => c2.close());
  assert.equal(c2.resumed, true);
  await sleep(600);
  assert.equal(conns.length, 2);
  const s2 = conns[1];
  assert.equal(s2.resumed, true);
  assertCompact(s2, 'abbreviated handshake');
  assert.deepEqual(s2.session.id, saved.id);
  // The resumed association has its own copy beside its own keys: the first one's buffer is not shared.
  assert.notEqual(inside(s2).records.write1?.bytes.buffer, inside(s1).records.write1?.bytes.buffer);
  echo(s2);
  const got2 = nextData(c2);
  c2.send(Buffer.from('resumed'));
  assert.equal((await got2).toString(), 'echo:resumed');

  // The first association closes; its session stays resumable from the cache.
  const closed = once(s1, 'close');
  await c1.close();
  await closed;
  const c3 = await connect({ host: '127.0.0.1', port, psk, session: c2.session });
  t.after(() => c3.close());
  assert.equal(c3.resumed, true);
  await sleep(300);
  echo(conns[2]);
  const got3 = nextData(c3);
  c3.send(Buffer.from('third'));
  assert.equal((await got3).toString(), 'echo:third');
  // The second session still answers too.
  const got2b = nextData(c2);
  c2.send(Buffer.from('still here'));
  assert.equal((await got2b).toString(), 'echo:still here');
});

test('PackedSession: creation time, ID and master secret round-trip; what is handed out is a copy', () => {
  const s = {
    id: Buffer.from([1, 2, 3]),
    masterSecret: Buffer.alloc(48, 7),
    cipherSuite: 0xc0a8,
    extendedMasterSecret: true,
    identity: { mode: 'psk' as const, identity: 'd' },
    createdAt: 1_765_000_000_123,
  };
  const p = PackedSession.from(s);
  assert.deepEqual(p.id, s.id);
  assert.deepEqual(p.masterSecret, s.masterSecret);
  assert.equal(p.createdAt, s.createdAt);
  assert.ok(p.hasId(Buffer.from([1, 2, 3])));
  assert.ok(!p.hasId(Buffer.from([1, 2, 4])));
  assert.ok(!p.hasId(Buffer.from([1, 2])));
  const out = p.unpack();
  assert.deepEqual(out, s);
  out.masterSecret.fill(0);
  assert.deepEqual(p.masterSecret, Buffer.alloc(48, 7), 'changing the copy leaves the packed session alone');
});

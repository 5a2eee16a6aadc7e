/**
 * The store-backed DTLS session cache (src/platform/dtls-sessions.ts): the state's serialization
 * round-trips in all three modes; the seal opens only with its key and session ID; a tampered row,
 * another key or an expired session is a miss; the clean-up is bounded; the config key is validated.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { SessionState } from '../../src/dtls/handshake/types.ts';
import { ConfigError, loadConfig } from '../../src/platform/config.ts';
import {
  decodeSessionState,
  deriveSessionSealingKey,
  encodeSessionState,
  StoreSessionCache,
  sealSessionState,
  unsealSessionState,
} from '../../src/platform/dtls-sessions.ts';
import { openStore, type Store } from '../../src/platform/store/index.ts';
import { bothEngines, type EngineTarget } from './engines.ts';

const SECRET = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const OTHER = 'ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100';

function session(identity: SessionState['identity'], over: Partial<SessionState> = {}): SessionState {
  return {
    id: randomBytes(32),
    masterSecret: randomBytes(48),
    cipherSuite: identity.mode === 'psk' ? 0xc0a8 : 0xc0ae,
    extendedMasterSecret: true,
    identity,
    createdAt: 1_764_000_000_123,
    ...over,
  };
}

const PSK = session({ mode: 'psk', identity: 'dev-ü-1' });
const RPK = session(
  { mode: 'rpk', spki: randomBytes(91), fingerprint: 'ab'.repeat(32) },
  { extendedMasterSecret: false },
);
const X509 = session({
  mode: 'x509',
  subject: 'CN=device-1, O=Acme',
  sans: ['DNS:dev1.example', 'IP:127.0.0.1'],
  fingerprint: 'cd'.repeat(32),
  chain: [randomBytes(420), randomBytes(70_000)],
});

test('the session state round-trips in each mode (suite, master secret, EMS flag, identity, creation time)', () => {
  for (const s of [PSK, RPK, X509]) {
    const back = decodeSessionState(s.id, encodeSessionState(s));
    assert.deepEqual(back, s, s.identity.mode);
  }
  // An X.509 identity without SANs and an empty PSK identity are kept as they are.
  const bare = session({ mode: 'x509', subject: '', sans: [], fingerprint: '', chain: [] });
  assert.deepEqual(decodeSessionState(bare.id, encodeSessionState(bare)), bare);
});

test('a malformed state is refused: truncated, trailing bytes, bad version, mode or master-secret length', () => {
  const enc = encodeSessionState(X509);
  assert.throws(() => decodeSessionState(X509.id, enc.subarray(0, enc.length - 1)), /needs \d+ bytes/);
  assert.throws(() => decodeSessionState(X509.id, Buffer.concat([enc, Buffer.of(0)])), /trailing/);
  const bad = (i: number, v: number) => {
    const b = Buffer.from(encodeSessionState(PSK));
    b[i] = v;
    return b;
  };
  assert.throws(() => decodeSessionState(PSK.id, bad(0, 9)), /unknown version/);
  assert.throws(() => decodeSessionState(PSK.id, bad(3, 2)), /extended_master_secret/);
  assert.throws(() => decodeSessionState(PSK.id, bad(10, 47)), /master_secret length 47/);
  assert.throws(() => decodeSessionState(PSK.id, bad(10 + 1 + 48, 7)), /unknown mode 7/);
});

test('the seal opens with its key and session ID only; any altered byte fails', () => {
  const key = deriveSessionSealingKey(SECRET);
  assert.equal(key.length, 32);
  assert.notDeepEqual(key, Buffer.from(SECRET, 'hex'), 'the key is derived, not the secret itself');
  const plain = encodeSessionState(PSK);
  const sealed = sealSessionState(key, PSK.id, plain);
  assert.equal(sealed.includes(PSK.masterSecret), false, 'the master secret is not in the clear');
  assert.deepEqual(unsealSessionState(key, PSK.id, sealed), plain);
  // Two seals of the same state differ (a fresh nonce each time).
  assert.notDeepEqual(sealSessionState(key, PSK.id, plain), sealed);
  assert.throws(() => unsealSessionState(deriveSessionSealingKey(OTHER), PSK.id, sealed));
  assert.throws(() => unsealSessionState(key, RPK.id, sealed), 'another session ID (associated data)');
  for (const i of [0, 1, 20, sealed.length - 1]) {
    const t = Buffer.from(sealed);
    t[i] ^= 0x01;
    assert.throws(() => unsealSessionState(key, PSK.id, t), `byte ${i}`);
  }
  assert.throws(() => unsealSessionState(key, PSK.id, sealed.subarray(0, 20)), /too short/);
  assert.throws(() => deriveSessionSealingKey('00112233'), /at least 16 bytes/);
});

async function open(t: import('node:test').TestContext, tg: EngineTarget): Promise<Store> {
  const store = await openStore({ db: tg.db, schema: tg.schema });
  t.after(() => store.close());
  return store;
}

bothEngines(
  'StoreSessionCache: set → get round trip; a tampered row, another key, an expired session are misses',
  async (t, tg) => {
    const store = await open(t, tg);
    let now = X509.createdAt;
    const clock = () => now;
    const cache = new StoreSessionCache({
      store,
      secret: SECRET,
      lifetimeMs: 60_000,
      cleanupIntervalMs: 0,
      now: clock,
    });
    for (const s of [PSK, RPK, X509]) cache.set(s);
    await cache.flush();
    assert.equal(await store.countDtlsSessions(), 3);
    for (const s of [PSK, RPK, X509]) assert.deepEqual(await cache.get(s.id), s, s.identity.mode);
    assert.equal(await cache.get(randomBytes(32)), undefined, 'an unknown ID');
    assert.equal(await cache.get(Buffer.alloc(0)), undefined, 'an empty ID');

    // What the store holds is sealed: no master secret, no identity in it.
    const row = await store.getDtlsSession(PSK.id.toString('hex'), now);
    assert.ok(row);
    assert.equal(row.state.includes(PSK.masterSecret), false);
    assert.equal(row.state.includes(Buffer.from('dev-ü-1')), false);
    assert.equal(row.expiresAt, PSK.createdAt + 60_000);

    // Another key: a miss, and the row stays for the front ends that can open it.
    const other = new StoreSessionCache({ store, secret: OTHER, cleanupIntervalMs: 0, now: clock });
    assert.equal(await other.get(PSK.id), undefined);
    assert.deepEqual(await cache.get(PSK.id), PSK);

    // A tampered row (one bit of the ciphertext), or a row copied under another ID: misses.
    const tampered = Buffer.from(row.state);
    tampered[30] ^= 0x80;
    await store.putDtlsSession({ ...row, state: tampered });
    assert.equal(await cache.get(PSK.id), undefined);
    const rpkRow = await store.getDtlsSession(RPK.id.toString('hex'), now);
    assert.ok(rpkRow);
    await store.putDtlsSession({ ...rpkRow, sessionId: PSK.id.toString('hex') });
    assert.equal(await cache.get(PSK.id), undefined);

    // delete() removes the row.
    await cache.delete(X509.id);
    assert.equal(await cache.get(X509.id), undefined);
    assert.equal(await store.getDtlsSession(X509.id.toString('hex'), now), undefined);

    // Expiry: at the lifetime's end the session is gone.
    now = RPK.createdAt + 59_999;
    assert.deepEqual(await cache.get(RPK.id), RPK);
    now = RPK.createdAt + 60_000;
    assert.equal(await cache.get(RPK.id), undefined);
    await cache.close();
    await other.close();
  },
);

bothEngines(
  'StoreSessionCache: the clean-up deletes expired sessions only, a bounded batch at a time',
  async (t, tg) => {
    const store = await open(t, tg);
    let now = 1_000_000;
    const cache = new StoreSessionCache({
      store,
      secret: SECRET,
      lifetimeMs: 1000,
      cleanupIntervalMs: 0,
      cleanupBatch: 2,
      now: () => now,
    });
    for (let i = 0; i < 5; i++) cache.set(session({ mode: 'psk', identity: `old${i}` }, { createdAt: now - 5000 }));
    const fresh = session({ mode: 'psk', identity: 'fresh' }, { createdAt: now });
    cache.set(fresh);
    await cache.flush();
    assert.equal(await store.countDtlsSessions(), 6);
    assert.equal(await cache.cleanup(), 2);
    assert.equal(await store.countDtlsSessions(), 4);
    assert.equal(await cache.cleanup(), 2);
    assert.equal(await cache.cleanup(), 1);
    assert.equal(await cache.cleanup(), 0);
    assert.equal(await store.countDtlsSessions(), 1);
    assert.deepEqual(await cache.get(fresh.id), fresh);
    now += 1000;
    assert.equal(await cache.cleanup(), 1);
    assert.equal(await store.countDtlsSessions(), 0);
    await cache.close();
  },
);

bothEngines(
  'StoreSessionCache: new sessions are written in one batch after writeBatchMs; meanwhile this process resumes them from memory',
  async (t, tg) => {
    const store = await open(t, tg);
    // The fixed sessions above were made in 2025: a lifetime that still covers them.
    const common = { store, secret: SECRET, cleanupIntervalMs: 0, lifetimeMs: 20 * 365 * 86_400_000 };
    const a = new StoreSessionCache({ ...common, writeBatchMs: 400 });
    const b = new StoreSessionCache({ ...common, writeBatchMs: 60_000 }); // written by flush() only
    t.after(() => Promise.all([a.close(), b.close()]));
    for (const s of [PSK, RPK, X509]) assert.equal(a.set(s), undefined, 'set does not wait for the store');
    assert.equal(await store.countDtlsSessions(), 0, 'nothing written before the interval');
    assert.deepEqual(await a.get(PSK.id), PSK, 'the process that made it resumes it at once');
    assert.equal(await b.get(PSK.id), undefined, 'another process: not yet (a full handshake)');
    // The timer writes the batch (waited for, not slept: a loaded PostgreSQL may take a while).
    for (let i = 0; i < 250 && a.writeStats.batches === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await store.countDtlsSessions(), 3);
    assert.deepEqual(a.writeStats, { batches: 1, sessions: 3, failed: 0 }, 'one batch, one commit');
    for (const s of [PSK, RPK, X509]) assert.deepEqual(await b.get(s.id), s, `${s.identity.mode} on the other`);
    // Resumed from the store: its last use is written with b's next batch, not by an UPDATE each.
    const psk = PSK.id.toString('hex');
    assert.equal((await store.getDtlsSession(psk, Date.now(), false))?.lastUsedAt, PSK.createdAt);
    const before = Date.now();
    await b.get(PSK.id);
    await b.flush();
    assert.ok(((await store.getDtlsSession(psk, Date.now(), false))?.lastUsedAt ?? 0) >= before, 'last use written');

    // A session deleted before its batch is written never reaches the store.
    const gone = session({ mode: 'psk', identity: 'gone' });
    a.set(gone);
    await a.delete(gone.id);
    assert.equal(await a.get(gone.id), undefined);
    await a.flush();
    assert.equal(await store.getDtlsSession(gone.id.toString('hex'), Date.now()), undefined);

    // close() writes what is still queued; writeBatchMs 0 writes at once.
    const late = session({ mode: 'psk', identity: 'late' });
    a.set(late);
    await a.close();
    assert.deepEqual(await b.get(late.id), late);
    const now0 = new StoreSessionCache({ ...common, writeBatchMs: 0 });
    const at = session({ mode: 'psk', identity: 'at-once' });
    await now0.set(at);
    assert.deepEqual(await b.get(at.id), at);
    await now0.close();
  },
);

bothEngines('StoreSessionCache: a store that fails is a miss, not an error', async (t, tg) => {
  const store = await openStore({ db: tg.db, schema: tg.schema });
  const cache = new StoreSessionCache({ store, secret: SECRET, cleanupIntervalMs: 0 });
  await store.close();
  t.after(() => cache.close());
  cache.set(PSK);
  await cache.flush(); // logged, not thrown
  assert.equal(cache.writeStats.failed, 1);
  assert.equal(await cache.get(PSK.id), undefined);
  await cache.delete(PSK.id);
  assert.equal(await cache.cleanup(), 0);
});

test('config: dtls.sessionKey / SECURESENSE_SESSION_KEY is validated and never echoed; the lifetime too', () => {
  const ok = loadConfig({ env: { SECURESENSE_SESSION_KEY: SECRET.toUpperCase() } });
  assert.equal(ok.dtls.sessionKey, SECRET);
  assert.equal(ok.dtls.sessionLifetime, 86_400);
  assert.equal(loadConfig({ env: {} }).dtls.sessionKey, null);
  const bad = (env: Record<string, string>, re: RegExp) => {
    assert.throws(
      () => loadConfig({ env }),
      (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, re);
        for (const v of Object.values(env)) if (v.length > 8) assert.equal(err.message.includes(v), false);
        return true;
      },
    );
  };
  bad({ SECURESENSE_SESSION_KEY: 'abcdef0123456789abcdef012345678' }, /SECURESENSE_SESSION_KEY.*even number/);
  bad({ SECURESENSE_SESSION_KEY: 'abcdef0123456789abcdef0123456zzzzz' }, /hex digits only/);
  bad({ SECURESENSE_SESSION_KEY: 'abcdef0123456789' }, /at least 32 hex digits/);
  bad({ SECURESENSE_SESSION_LIFETIME: '0' }, /SECURESENSE_SESSION_LIFETIME must be an integer/);
  assert.equal(loadConfig({ env: {}, overrides: { dtls: { sessionLifetime: 3600 } } }).dtls.sessionLifetime, 3600);
});

/**
 * Resumable DTLS sessions shared by several platform front ends through the store (DESIGN.md,
 * "Growing past one machine"): a device that made a full handshake with one process can resume
 * (RFC 5246 §7.3, an abbreviated handshake with no public-key operation) with another, after a
 * load balancer or a restart sent it there.
 *
 * The state holds the master secret, so it is sealed before it reaches the store: AES-256-GCM
 * under a key derived with HKDF-SHA256 (RFC 5869) from the configured secret, with the session ID
 * as associated data, so that a row moved to another ID does not open. A row that does not open
 * (another key, tampering, a format we do not know) is a cache miss: the server then makes a full
 * handshake, as RFC 5246 §7.4.1.2 lets it do for any session ID.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { SessionCache } from '../dtls/cache.ts';
import type { PeerIdentity } from '../dtls/credentials/identity.ts';
import type { SessionState } from '../dtls/handshake/types.ts';
import { Reader, Writer } from '../dtls/wire/buffer.ts';
import type { Logger } from '../util/log.ts';
import { SessionStateError } from './errors.ts';
import type { DtlsSessionRecord, Store } from './store/index.ts';

/** Version byte of the sealed row; a row of another version is a miss. */
const SEALED_V1 = 1;
/** Version byte of the serialized state inside the seal. */
const STATE_V1 = 1;
const NONCE_LEN = 12; // NIST SP 800-38D §8.2: 96-bit IVs
const TAG_LEN = 16;
/** RFC 5246 §7.4.1.2: a session ID is at most 32 bytes. */
const MAX_SESSION_ID = 32;
/** RFC 5246 §8.1: the master secret is always 48 bytes. */
const MASTER_SECRET_LEN = 48;

const MODE_CODE = { psk: 1, rpk: 2, x509: 3 } as const;

/** HKDF's fixed inputs: a change of either yields another key, so old rows stop opening. */
const HKDF_SALT = Buffer.from('securesense dtls session cache', 'utf8');
const HKDF_INFO = Buffer.from('dtls_sessions aes-256-gcm v1', 'utf8');

/** The AES-256 key that seals sessions, from the configured secret (hex, ≥ 16 bytes). */
export function deriveSessionSealingKey(secret: Buffer | string): Buffer {
  const ikm = typeof secret === 'string' ? Buffer.from(secret, 'hex') : secret;
  if (ikm.length < 16) throw new RangeError('the session key must be at least 16 bytes (32 hex digits)');
  return Buffer.from(hkdfSync('sha256', ikm, HKDF_SALT, HKDF_INFO, 32));
}

// --- the state, serialized (TLS presentation language style, every length checked on the way back)

/**
 * struct {
 *   uint8 version = 1; uint16 cipher_suite; uint8 extended_master_secret; uint48 created_at;
 *   opaque master_secret<48>; uint8 mode;
 *   select (mode) {
 *     psk:  opaque identity<0..2^16-1>;                         (UTF-8)
 *     rpk:  opaque spki<1..2^16-1>; opaque fingerprint<0..255>;
 *     x509: opaque subject<0..2^16-1>; uint16 n; opaque san<0..2^16-1>[n];
 *           opaque fingerprint<0..255>; uint8 m; opaque certificate<1..2^24-1>[m];
 *   };
 * }
 */
export function encodeSessionState(s: SessionState): Buffer {
  const w = new Writer()
    .u8(STATE_V1)
    .u16(s.cipherSuite)
    .u8(s.extendedMasterSecret ? 1 : 0)
    .u48(s.createdAt)
    .vec8(s.masterSecret);
  const utf8 = (v: string) => Buffer.from(v, 'utf8');
  const id = s.identity;
  w.u8(MODE_CODE[id.mode]);
  switch (id.mode) {
    case 'psk':
      w.vec16(utf8(id.identity));
      break;
    case 'rpk':
      w.vec16(id.spki).vec8(utf8(id.fingerprint));
      break;
    case 'x509':
      w.vec16(utf8(id.subject)).u16(id.sans.length);
      for (const san of id.sans) w.vec16(utf8(san));
      w.vec8(utf8(id.fingerprint));
      if (id.chain.length > 0xff) throw new RangeError('certificate chain too long to store');
      w.u8(id.chain.length);
      for (const der of id.chain) w.vec24(der);
      break;
  }
  return w.finish();
}

/** The inverse of {@link encodeSessionState}; `id` comes from the row. Throws on any malformed input. */
export function decodeSessionState(id: Buffer, b: Buffer): SessionState {
  const r = new Reader(b, 'stored DTLS session');
  const version = r.u8('version');
  if (version !== STATE_V1) throw new SessionStateError(`stored DTLS session: unknown version ${version}`);
  const cipherSuite = r.u16('cipher_suite');
  const ems = r.u8('extended_master_secret');
  if (ems > 1) throw new SessionStateError('stored DTLS session: extended_master_secret is not 0 or 1');
  const createdAt = r.u48('created_at');
  const masterSecret = Buffer.from(r.vec8('master_secret', MASTER_SECRET_LEN, MASTER_SECRET_LEN));
  const mode = r.u8('mode');
  const text = (field: string) => r.vec16(field).toString('utf8');
  let identity: PeerIdentity;
  switch (mode) {
    case MODE_CODE.psk:
      identity = { mode: 'psk', identity: text('identity') };
      break;
    case MODE_CODE.rpk:
      identity = { mode: 'rpk', spki: Buffer.from(r.vec16('spki', 1)), fingerprint: r.vec8('fingerprint').toString() };
      break;
    case MODE_CODE.x509: {
      const subject = text('subject');
      const sans: string[] = [];
      for (let n = r.u16('san count'); n > 0; n--) sans.push(text('san'));
      const fingerprint = r.vec8('fingerprint').toString('utf8');
      const chain: Buffer[] = [];
      for (let m = r.u8('chain length'); m > 0; m--) chain.push(Buffer.from(r.vec24('certificate', 1)));
      identity = { mode: 'x509', subject, sans, fingerprint, chain };
      break;
    }
    default:
      throw new SessionStateError(`stored DTLS session: unknown mode ${mode}`);
  }
  r.end();
  return { id: Buffer.from(id), masterSecret, cipherSuite, extendedMasterSecret: ems === 1, identity, createdAt };
}

// --- the seal

/** version(1) ‖ nonce(12) ‖ AES-256-GCM(state) ‖ tag(16), the session ID as associated data. */
export function sealSessionState(key: Buffer, id: Buffer, plain: Buffer): Buffer {
  const nonce = randomBytes(NONCE_LEN);
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_LEN });
  c.setAAD(id);
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([Buffer.of(SEALED_V1), nonce, body, c.getAuthTag()]);
}

/** Opens a sealed row; throws when it is not ours (another key, another ID, altered bytes). */
export function unsealSessionState(key: Buffer, id: Buffer, sealed: Buffer): Buffer {
  if (sealed.length < 1 + NONCE_LEN + TAG_LEN) throw new SessionStateError('sealed DTLS session too short');
  if (sealed[0] !== SEALED_V1) throw new SessionStateError(`sealed DTLS session: unknown version ${sealed[0]}`);
  const nonce = sealed.subarray(1, 1 + NONCE_LEN);
  const tag = sealed.subarray(sealed.length - TAG_LEN);
  const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_LEN });
  d.setAAD(id);
  d.setAuthTag(tag);
  return Buffer.concat([d.update(sealed.subarray(1 + NONCE_LEN, sealed.length - TAG_LEN)), d.final()]);
}

// --- the cache

/** Default of {@link StoreSessionCacheOptions.writeBatchMs}. */
export const DEFAULT_SESSION_WRITE_BATCH_MS = 20;
/** New sessions waiting past which their batch is written at once, whatever the interval. */
const MAX_PENDING_WRITES = 1000;

export interface StoreSessionCacheOptions {
  store: Store;
  /** The configured secret (hex string or bytes, ≥ 16 bytes); the sealing key is derived from it. */
  secret: Buffer | string;
  /** How long a session may be resumed after its full handshake. Default 24 h. */
  lifetimeMs?: number;
  /**
   * New sessions are gathered this long and written in one statement (one commit): one SQLite
   * commit per handshake — an fsync under a write lock that every process on the file waits for —
   * was what kept several workers slower than one. Meanwhile this process resumes them from
   * memory; other processes see them once written. A batch lost in a crash only costs those
   * devices a full handshake. The `last_used_at` of sessions resumed from the store goes with the
   * same batch. Default 20 ms; 0 writes every session at once.
   */
  writeBatchMs?: number;
  /** How often expired rows are cleaned up. Default 60 s; 0 turns the timer off (call `cleanup()`). */
  cleanupIntervalMs?: number;
  /** Most rows one clean-up deletes. Default 1000. */
  cleanupBatch?: number;
  logger?: Logger;
  /** The clock (tests). */
  now?: () => number;
}

interface PendingWrite {
  session: SessionState;
  record: DtlsSessionRecord;
}

/**
 * A {@link SessionCache} over the platform's store (SQLite or PostgreSQL), shared by every process
 * on that store with the same secret. Store failures and rows that do not open are misses (a full
 * handshake), never handshake errors. New sessions are written in batches (`writeBatchMs`).
 */
export class StoreSessionCache implements SessionCache {
  private readonly store: Store;
  private readonly key: Buffer;
  readonly lifetimeMs: number;
  readonly writeBatchMs: number;
  private readonly batch: number;
  private readonly log?: Logger;
  private readonly now: () => number;
  private timer?: NodeJS.Timeout;
  private cleaning?: Promise<number>;
  /** Sessions not written yet, by hex ID. */
  private pending = new Map<string, PendingWrite>();
  /** Sessions resumed from the store since the last batch (their `last_used_at` goes with it). */
  private readonly touched = new Set<string>();
  /** Sessions of batches being written, by hex ID (still answered from memory until written). */
  private readonly writing = new Map<string, PendingWrite>();
  private writeTimer?: NodeJS.Timeout;
  /** The batches' writes, one after the other. */
  private writes: Promise<void> = Promise.resolve();
  /** Batches written and sessions in them (tests, monitoring). */
  readonly writeStats = { batches: 0, sessions: 0, failed: 0 };

  constructor(o: StoreSessionCacheOptions) {
    this.store = o.store;
    this.key = deriveSessionSealingKey(o.secret);
    this.lifetimeMs = o.lifetimeMs ?? 24 * 3600_000;
    if (!(this.lifetimeMs > 0)) throw new RangeError('lifetimeMs must be positive');
    this.writeBatchMs = o.writeBatchMs ?? DEFAULT_SESSION_WRITE_BATCH_MS;
    if (!(this.writeBatchMs >= 0)) throw new RangeError('writeBatchMs must be 0 or more');
    this.batch = o.cleanupBatch ?? 1000;
    this.log = o.logger;
    this.now = o.now ?? Date.now;
    const every = o.cleanupIntervalMs ?? 60_000;
    if (every > 0) {
      this.timer = setInterval(() => void this.cleanup(), every);
      this.timer.unref();
    }
  }

  async get(id: Buffer): Promise<SessionState | undefined> {
    if (id.length === 0 || id.length > MAX_SESSION_ID) return undefined;
    const now = this.now();
    const hex = id.toString('hex');
    const mine = this.pending.get(hex) ?? this.writing.get(hex);
    if (mine) return now - mine.session.createdAt > this.lifetimeMs ? undefined : mine.session;
    let sealed: Buffer;
    try {
      // Its last use is written with the next batch, not by an UPDATE of its own per resumption.
      const row = await this.store.getDtlsSession(hex, now, false);
      if (!row) return undefined;
      sealed = row.state;
    } catch (err) {
      this.log?.warn({ err }, 'DTLS session lookup failed; a full handshake instead');
      return undefined;
    }
    let s: SessionState;
    try {
      s = decodeSessionState(id, unsealSessionState(this.key, id, sealed));
    } catch (err) {
      // Another front end with another key, or an altered row: not ours to resume, not an error.
      this.log?.info(
        { sessionId: hex.slice(0, 16), reason: (err as Error).message },
        'stored DTLS session does not open; a full handshake instead',
      );
      return undefined;
    }
    if (now - s.createdAt > this.lifetimeMs) return undefined;
    this.touched.add(hex);
    this.schedule();
    return s;
  }

  /** Starts the batch timer unless it runs (or writes at once with `writeBatchMs: 0`). */
  private schedule(): Promise<void> | undefined {
    if (this.writeBatchMs === 0 || this.pending.size + this.touched.size >= MAX_PENDING_WRITES) return this.flush();
    if (!this.writeTimer) {
      this.writeTimer = setTimeout(() => void this.flush(), this.writeBatchMs);
      this.writeTimer.unref(); // close() writes what is left
    }
    return undefined;
  }

  /** Queues the session for the next batch (or writes it at once with `writeBatchMs: 0`). */
  set(session: SessionState): Promise<void> | undefined {
    if (session.id.length === 0 || session.id.length > MAX_SESSION_ID) return undefined;
    let record: DtlsSessionRecord;
    try {
      record = {
        sessionId: session.id.toString('hex'),
        state: sealSessionState(this.key, session.id, encodeSessionState(session)),
        createdAt: session.createdAt,
        lastUsedAt: session.createdAt,
        expiresAt: session.createdAt + this.lifetimeMs,
      };
    } catch (err) {
      this.log?.warn({ err }, 'DTLS session not stored');
      return undefined;
    }
    this.pending.set(record.sessionId, { session, record });
    return this.schedule();
  }

  /** Writes the sessions queued so far in one batch; resolves when every batch so far is written. */
  flush(): Promise<void> {
    if (this.writeTimer) clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    if (this.pending.size === 0 && this.touched.size === 0) return this.writes;
    const batch = this.pending;
    this.pending = new Map();
    const touched = [...this.touched];
    this.touched.clear();
    const at = this.now();
    for (const [hex, w] of batch) this.writing.set(hex, w);
    this.writes = this.writes.then(async () => {
      if (batch.size > 0) {
        try {
          await this.store.putDtlsSessions([...batch.values()].map((w) => w.record));
          this.writeStats.batches++;
          this.writeStats.sessions += batch.size;
        } catch (err) {
          // The devices still have their sessions; they just cannot resume them elsewhere.
          this.writeStats.failed += batch.size;
          this.log?.warn({ err, sessions: batch.size }, 'DTLS sessions not stored');
        }
        for (const [hex, w] of batch) if (this.writing.get(hex) === w) this.writing.delete(hex);
      }
      if (touched.length > 0) {
        try {
          await this.store.touchDtlsSessions(touched, at);
        } catch (err) {
          this.log?.warn({ err, sessions: touched.length }, "DTLS sessions' last use not stored");
        }
      }
    });
    return this.writes;
  }

  async delete(id: Buffer): Promise<void> {
    if (id.length === 0 || id.length > MAX_SESSION_ID) return;
    const hex = id.toString('hex');
    this.pending.delete(hex);
    // A batch being written that holds it would bring it back: delete after it.
    if (this.writing.has(hex)) await this.writes;
    try {
      await this.store.deleteDtlsSession(hex);
    } catch (err) {
      this.log?.warn({ err }, 'DTLS session not deleted');
    }
  }
  /** Deletes at most one batch of expired sessions; one clean-up at a time. Returns how many went. */
  cleanup(): Promise<number> {
    this.cleaning ??= (async () => {
      try {
        const n = await this.store.deleteExpiredDtlsSessions(this.now(), this.batch);
        if (n > 0) this.log?.debug({ deleted: n }, 'expired DTLS sessions deleted');
        return n;
      } catch (err) {
        this.log?.warn({ err }, 'expired DTLS sessions not cleaned up');
        return 0;
      } finally {
        this.cleaning = undefined;
      }
    })();
    return this.cleaning;
  }

  /** Stops the timers, writes the sessions still queued, waits for a clean-up in progress (before the store closes). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    await this.cleaning;
  }
}

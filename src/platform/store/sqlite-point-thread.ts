/**
 * The SQLite point writer's thread (started by `sqlite-point-writer.ts`): it owns a write
 * connection of its own to the database file and stores each batch it is sent in one
 * `BEGIN IMMEDIATE` transaction — the points (upserts) and the retention of the streams they touch —
 * then answers. better-sqlite3 is synchronous: here its COMMIT (the WAL's fdatasync) and the WAL
 * checkpoints block this thread, not the event loop that serves requests.
 *
 * It also upserts batches of DTLS sessions (`dtls_sessions`), for the same reason.
 *
 * Each connection sets its own pragmas: `synchronous = FULL` makes every commit durable before
 * its answer goes back, as on the main connection.
 */
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import type { DtlsSessionRow } from './context.ts';
import { SQLITE_ROWS as ROWS, SQLITE_INSERT_MANY, SQLITE_INSERT_ONE } from './point-sql.ts';
import type {
  PointBatchMessage,
  PointBatchReply,
  PointThreadData,
  SessionBatchMessage,
  SessionTouchMessage,
} from './sqlite-point-writer.ts';

// The touched streams that have a retention (most have none), in one look-up.
const RETAINED = `SELECT id, retention_max_points AS maxPoints, retention_max_age_ms AS maxAgeMs FROM streams
  WHERE id IN (SELECT value FROM json_each(?))
    AND (retention_max_points IS NOT NULL OR retention_max_age_ms IS NOT NULL)`;
// Everything older than the maxPoints-th newest point; NULL (fewer points) deletes nothing.
const KEEP_NEWEST = `DELETE FROM data_points WHERE stream_id = ? AND time <
  (SELECT time FROM data_points WHERE stream_id = ? ORDER BY time DESC LIMIT 1 OFFSET ?)`;
const KEEP_YOUNGER = 'DELETE FROM data_points WHERE stream_id = ? AND time < ?';

interface Retained {
  id: number;
  maxPoints: number | null;
  maxAgeMs: number | null;
}

const { path } = workerData as PointThreadData;
const db = new BetterSqlite3(path);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('foreign_keys = ON');
db.pragma('busy_timeout = 5000');

const insertOne = db.prepare(SQLITE_INSERT_ONE);
const insertMany = db.prepare(SQLITE_INSERT_MANY);
const retained = db.prepare<[string], Retained>(RETAINED);
const keepNewest = db.prepare(KEEP_NEWEST);
const keepYounger = db.prepare(KEEP_YOUNGER);
// Parameter arrays reused from batch to batch: no allocation per row.
const many = new Array<number | string | null>(4 * ROWS);
const one = new Array<number | string | null>(4);

function fill(params: Array<number | string | null>, m: PointBatchMessage, from: number, n: number): void {
  for (let j = 0; j < n; j++) {
    const i = from + j;
    const txt = m.txts?.[i] ?? null;
    params[4 * j] = m.streamIds[i];
    params[4 * j + 1] = m.times[i];
    params[4 * j + 2] = txt === null ? m.nums[i] : null;
    params[4 * j + 3] = txt;
  }
}

const store = db.transaction((m: PointBatchMessage) => {
  const n = m.streamIds.length;
  let i = 0;
  for (; i + ROWS <= n; i += ROWS) {
    fill(many, m, i, ROWS);
    insertMany.run(many);
  }
  for (; i < n; i++) {
    fill(one, m, i, 1);
    insertOne.run(one);
  }
  const ids = [...new Set(m.streamIds)];
  for (const s of retained.all(JSON.stringify(ids))) {
    if (s.maxPoints !== null) keepNewest.run(s.id, s.id, s.maxPoints - 1);
    if (s.maxAgeMs !== null) keepYounger.run(s.id, m.now - Number(s.maxAgeMs));
  }
});

// DTLS sessions (a batch of new ones from dtls-sessions.ts): the same upsert as the main connection's.
const upsertSession = db.prepare(`INSERT INTO dtls_sessions (session_id, state, created_at, last_used_at, expires_at)
  VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE SET state = excluded.state,
  created_at = excluded.created_at, last_used_at = excluded.last_used_at, expires_at = excluded.expires_at`);
const storeSessions = db.transaction((rows: readonly DtlsSessionRow[]) => {
  for (const r of rows) {
    // A Buffer crosses the thread boundary as a plain Uint8Array; better-sqlite3 binds Buffers.
    const state = Buffer.from(r.state.buffer, r.state.byteOffset, r.state.byteLength);
    upsertSession.run(r.sessionId, state, r.createdAt, r.lastUsedAt, r.expiresAt);
  }
});

const touchSession = db.prepare('UPDATE dtls_sessions SET last_used_at = ? WHERE session_id = ?');
const touchSessions = db.transaction((m: SessionTouchMessage) => {
  for (const id of m.touch) touchSession.run(m.at, id);
});

const port = parentPort;
if (!port) throw new Error('sqlite-point-thread runs as a worker thread');
port.on('message', (m: PointBatchMessage | SessionBatchMessage | SessionTouchMessage | 'close') => {
  if (m === 'close') {
    db.close();
    port.close();
    return;
  }
  let reply: PointBatchReply;
  try {
    if ('sessions' in m) storeSessions.immediate(m.sessions);
    else if ('touch' in m) touchSessions.immediate(m);
    else store.immediate(m);
    reply = { id: m.id };
  } catch (err) {
    const e = err as { message?: string; code?: unknown };
    reply = {
      id: m.id,
      error: { message: String(e.message ?? err), code: typeof e.code === 'string' ? e.code : undefined },
    };
  }
  port.postMessage(reply);
});

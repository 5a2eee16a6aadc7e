/** DTLS sessions shared by several front ends (their state sealed elsewhere, opaque here). */
import type { StoreContext } from './context.ts';

/** A shared DTLS session as stored: the state is sealed by src/platform/dtls-sessions.ts, opaque here. */
export interface DtlsSessionRecord {
  /** The session ID, lower-case hex. */
  sessionId: string;
  state: Buffer;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number;
}

export interface DtlsSessionStore {
  /** Stores a DTLS session for the other front ends; an existing row with the same ID is replaced. */
  putDtlsSession(s: DtlsSessionRecord): Promise<void>;
  /** Stores several sessions in one statement (one commit, one fsync); the last of a repeated ID wins. */
  putDtlsSessions(s: readonly DtlsSessionRecord[]): Promise<void>;
  /**
   * The session with this ID unless it has expired by `now`; its `last_used_at` becomes `now`
   * unless `touch` is false (the caller then batches it with {@link touchDtlsSessions}).
   */
  getDtlsSession(sessionId: string, now: number, touch?: boolean): Promise<DtlsSessionRecord | undefined>;
  /** Sets `last_used_at` to `at` for these sessions, in one transaction. */
  touchDtlsSessions(sessionIds: readonly string[], at: number): Promise<void>;
  deleteDtlsSession(sessionId: string): Promise<boolean>;
  /** Deletes at most `limit` sessions expired by `now` (oldest expiry first); returns how many. */
  deleteExpiredDtlsSessions(now: number, limit: number): Promise<number>;
  /** How many DTLS sessions are stored, expired ones included (monitoring, tests). */
  countDtlsSessions(): Promise<number>;
}

/** Rows per INSERT: 5 parameters each stays far below SQLite's 32 766 and PostgreSQL's 65 535. */
const ROWS_PER_INSERT = 500;

export function dtlsSessionStore({ db, inTransaction, pointWriter }: StoreContext): DtlsSessionStore {
  const upsert = async (records: readonly DtlsSessionRecord[]): Promise<void> => {
    // One row per ID: PostgreSQL refuses an ON CONFLICT that would touch a row twice.
    const byId = new Map(records.map((r) => [r.sessionId, r]));
    const rows = [...byId.values()].map((r) => ({
      session_id: r.sessionId,
      state: r.state,
      created_at: r.createdAt,
      last_used_at: r.lastUsedAt,
      expires_at: r.expiresAt,
    }));
    for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
      await db
        .insertInto('dtls_sessions')
        .values(rows.slice(i, i + ROWS_PER_INSERT))
        .onConflict((oc) =>
          oc.column('session_id').doUpdateSet((eb) => ({
            state: eb.ref('excluded.state'),
            created_at: eb.ref('excluded.created_at'),
            last_used_at: eb.ref('excluded.last_used_at'),
            expires_at: eb.ref('excluded.expires_at'),
          })),
        )
        .execute();
    }
  };
  return {
    async putDtlsSession(r: DtlsSessionRecord): Promise<void> {
      await upsert([r]);
    },
    async putDtlsSessions(records: readonly DtlsSessionRecord[]): Promise<void> {
      if (records.length === 0) return;
      // SQLite on a file: the writer thread commits them, so the fsync does not hold the event loop.
      if (pointWriter?.writeSessions && !inTransaction) await pointWriter.writeSessions(records);
      else await upsert(records);
    },
    async getDtlsSession(sessionId: string, now: number, touch = true): Promise<DtlsSessionRecord | undefined> {
      const r = await db
        .selectFrom('dtls_sessions')
        .selectAll()
        .where('session_id', '=', sessionId)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      if (!r) return undefined;
      if (touch)
        await db.updateTable('dtls_sessions').set({ last_used_at: now }).where('session_id', '=', sessionId).execute();
      return {
        sessionId: r.session_id,
        // better-sqlite3 and pg both hand BLOB/bytea back as a Buffer; copy defensively all the same.
        state: Buffer.from(r.state),
        createdAt: Number(r.created_at),
        lastUsedAt: touch ? now : Number(r.last_used_at),
        expiresAt: Number(r.expires_at),
      };
    },
    async touchDtlsSessions(sessionIds: readonly string[], at: number): Promise<void> {
      if (sessionIds.length === 0) return;
      if (pointWriter?.touchSessions && !inTransaction) return pointWriter.touchSessions(sessionIds, at);
      for (let i = 0; i < sessionIds.length; i += ROWS_PER_INSERT) {
        await db
          .updateTable('dtls_sessions')
          .set({ last_used_at: at })
          .where('session_id', 'in', sessionIds.slice(i, i + ROWS_PER_INSERT))
          .execute();
      }
    },
    async deleteDtlsSession(sessionId: string): Promise<boolean> {
      const r = await db.deleteFrom('dtls_sessions').where('session_id', '=', sessionId).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    async deleteExpiredDtlsSessions(now: number, limit: number): Promise<number> {
      // A bounded batch: one DELETE never holds the table for long, whatever piled up.
      const r = await db
        .deleteFrom('dtls_sessions')
        .where('session_id', 'in', (eb) =>
          eb
            .selectFrom('dtls_sessions')
            .select('session_id')
            .where('expires_at', '<=', now)
            .orderBy('expires_at')
            .limit(limit),
        )
        .executeTakeFirst();
      return Number(r.numDeletedRows);
    },
    async countDtlsSessions(): Promise<number> {
      const r = await db
        .selectFrom('dtls_sessions')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
  };
}

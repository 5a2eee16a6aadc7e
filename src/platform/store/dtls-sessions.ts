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
  /** The session with this ID unless it has expired by `now`; its `last_used_at` becomes `now`. */
  getDtlsSession(sessionId: string, now: number): Promise<DtlsSessionRecord | undefined>;
  deleteDtlsSession(sessionId: string): Promise<boolean>;
  /** Deletes at most `limit` sessions expired by `now` (oldest expiry first); returns how many. */
  deleteExpiredDtlsSessions(now: number, limit: number): Promise<number>;
  /** How many DTLS sessions are stored, expired ones included (monitoring, tests). */
  countDtlsSessions(): Promise<number>;
}

export function dtlsSessionStore({ db }: StoreContext): DtlsSessionStore {
  return {
    async putDtlsSession(r: DtlsSessionRecord): Promise<void> {
      const row = {
        session_id: r.sessionId,
        state: r.state,
        created_at: r.createdAt,
        last_used_at: r.lastUsedAt,
        expires_at: r.expiresAt,
      };
      await db
        .insertInto('dtls_sessions')
        .values(row)
        .onConflict((oc) =>
          oc.column('session_id').doUpdateSet({
            state: row.state,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
          }),
        )
        .execute();
    },
    async getDtlsSession(sessionId: string, now: number): Promise<DtlsSessionRecord | undefined> {
      const r = await db
        .selectFrom('dtls_sessions')
        .selectAll()
        .where('session_id', '=', sessionId)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      if (!r) return undefined;
      await db.updateTable('dtls_sessions').set({ last_used_at: now }).where('session_id', '=', sessionId).execute();
      return {
        sessionId: r.session_id,
        // better-sqlite3 and pg both hand BLOB/bytea back as a Buffer; copy defensively all the same.
        state: Buffer.from(r.state),
        createdAt: Number(r.created_at),
        lastUsedAt: now,
        expiresAt: Number(r.expires_at),
      };
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

/** A resource's poll outcomes, newest kept. */
import type { Selectable } from 'kysely';
import type { PollLogEntry } from '../model.ts';
import { type StoreContext, window } from './context.ts';
import type { PollLogTable } from './schema.ts';

export type NewPollLogEntry = Omit<PollLogEntry, 'id'>;

const pollLog = (r: Selectable<PollLogTable>): PollLogEntry => ({
  id: r.id,
  resourceId: r.resource_id,
  time: Number(r.time),
  url: r.url,
  ok: r.ok === 1,
  status: r.status,
  message: r.message,
  points: r.points,
  newSession: r.new_session === 1,
  durationMs: r.duration_ms,
});

export interface PollLogStore {
  /** Appends a poll outcome and keeps only the newest `keep` entries of that resource. */
  addPollLog(e: NewPollLogEntry, keep: number): Promise<PollLogEntry>;
  /** The newest `limit` poll outcomes of a resource, newest first. */
  listPollLog(resourceId: number, limit: number, offset?: number): Promise<PollLogEntry[]>;
}

export function pollLogStore({ db, withTransaction }: StoreContext): PollLogStore {
  return {
    addPollLog(e: NewPollLogEntry, keep: number): Promise<PollLogEntry> {
      return withTransaction(async (db) => {
        const row = await db
          .insertInto('poll_log')
          .values({
            resource_id: e.resourceId,
            time: e.time,
            url: e.url,
            ok: e.ok ? 1 : 0,
            status: e.status,
            message: e.message,
            points: e.points,
            new_session: e.newSession ? 1 : 0,
            duration_ms: e.durationMs,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        // Keep the newest `keep`: everything at or below the keep-th newest id minus one goes.
        const edge = await db
          .selectFrom('poll_log')
          .select('id')
          .where('resource_id', '=', e.resourceId)
          .orderBy('id', 'desc')
          .offset(keep)
          .limit(1)
          .executeTakeFirst();
        if (edge)
          await db.deleteFrom('poll_log').where('resource_id', '=', e.resourceId).where('id', '<=', edge.id).execute();
        return pollLog(row);
      });
    },
    async listPollLog(resourceId: number, limit: number, offset = 0): Promise<PollLogEntry[]> {
      const rows = await window(
        db.selectFrom('poll_log').selectAll().where('resource_id', '=', resourceId).orderBy('id', 'desc'),
        { limit, offset },
      ).execute();
      return rows.map(pollLog);
    },
  };
}

/**
 * Rate-limit counters shared by every front end on one database: hits per key in fixed windows
 * (`window_start` in ms). A front end adds the hits it counted since its last sync in one atomic
 * upsert per batch (`INSERT … ON CONFLICT … DO UPDATE`, on both engines) and reads back the totals;
 * the sliding-window estimate and the decisions are src/platform/shared-limits.ts's.
 */
import type { StoreContext } from './context.ts';

/** Hits of one key in the window starting at `window` (ms since the epoch). */
export interface RateHits {
  key: string;
  window: number;
  hits: number;
}

export interface RateLimitStore {
  /**
   * Adds each entry's hits (possibly negative: a charge moved elsewhere) to its counter, creating
   * it. Entries with the same key and window are summed first.
   */
  addRateHits(entries: readonly RateHits[]): Promise<void>;
  /** The counters of these keys in windows starting at or after `since`. */
  readRateHits(keys: readonly string[], since: number): Promise<RateHits[]>;
  /** Deletes the counters of windows that started before `before`; returns how many. */
  deleteRateHitsBefore(before: number): Promise<number>;
}

/** Rows per statement: three parameters each, far below either engine's parameter limit. */
const CHUNK = 500;

export function rateLimitStore({ db }: StoreContext): RateLimitStore {
  return {
    async addRateHits(entries) {
      // One row per (key, window): PostgreSQL refuses to update a row twice in one statement.
      const sum = new Map<string, RateHits>();
      for (const e of entries) {
        const id = `${e.window}\u0000${e.key}`;
        const s = sum.get(id);
        if (s) s.hits += e.hits;
        else sum.set(id, { ...e });
      }
      const rows = [...sum.values()]
        .filter((e) => e.hits !== 0)
        .map((e) => ({ key: e.key, window_start: e.window, hits: e.hits }));
      for (let i = 0; i < rows.length; i += CHUNK) {
        await db
          .insertInto('rate_limits')
          .values(rows.slice(i, i + CHUNK))
          .onConflict((oc) =>
            oc.columns(['key', 'window_start']).doUpdateSet((eb) => ({
              hits: eb('rate_limits.hits', '+', eb.ref('excluded.hits')),
            })),
          )
          .execute();
      }
    },
    async readRateHits(keys, since) {
      const out: RateHits[] = [];
      for (let i = 0; i < keys.length; i += CHUNK) {
        const rows = await db
          .selectFrom('rate_limits')
          .select(['key', 'window_start', 'hits'])
          .where('key', 'in', keys.slice(i, i + CHUNK))
          .where('window_start', '>=', since)
          .execute();
        for (const r of rows) out.push({ key: r.key, window: Number(r.window_start), hits: Number(r.hits) });
      }
      return out;
    },
    async deleteRateHitsBefore(before) {
      const r = await db.deleteFrom('rate_limits').where('window_start', '<', before).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

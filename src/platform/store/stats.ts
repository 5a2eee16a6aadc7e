/**
 * Aggregates over data points for the dashboard: how many points each stream got recently, and a
 * range cut into equal buckets with min/max/mean each (server-side downsampling: a week of 1 Hz
 * data is 604 800 points, its chart needs a few hundred). Both in SQL, the same text on both engines.
 */
import { sql } from 'kysely';
import type { StoreContext } from './context.ts';

/** One bucket of a downsampled range: its start (ms), the numeric points' min/max/mean and count. */
export interface PointBucket {
  time: number;
  min: number;
  max: number;
  mean: number;
  count: number;
}

export interface StatsStore {
  /** Points with time ≥ `since`, per stream (streams with none are absent). */
  countPointsSince(streamIds: number[], since: number): Promise<Map<number, number>>;
  /**
   * The numeric points of [from, until] in `buckets` equal buckets, oldest first; empty buckets
   * are absent. Text points are not counted.
   */
  bucketPoints(streamId: number, from: number, until: number, buckets: number): Promise<PointBucket[]>;
}

export function statsStore({ db }: StoreContext): StatsStore {
  return {
    async countPointsSince(streamIds, since) {
      const out = new Map<number, number>();
      if (streamIds.length === 0) return out;
      const rows = await db
        .selectFrom('data_points')
        .select(['stream_id', (eb) => eb.fn.countAll<number | string | bigint>().as('n')])
        .where('stream_id', 'in', streamIds)
        .where('time', '>=', since)
        .groupBy('stream_id')
        .execute();
      for (const r of rows) out.set(r.stream_id, Number(r.n));
      return out;
    },
    async bucketPoints(streamId, from, until, buckets) {
      // Integer bucket width, at least 1 ms; the last bucket may be shorter.
      const width = Math.max(1, Math.ceil((until - from + 1) / buckets));
      // Integer division on both engines. Inlined as integer literals (both are safe integers we
      // computed): bound as parameters, better-sqlite3 would send them as REAL and divide in floats.
      if (!Number.isSafeInteger(from) || !Number.isSafeInteger(width))
        throw new RangeError('from and width must be integers');
      const bucket = sql<number | string>`(${sql.ref('time')} - ${sql.lit(from)}) / ${sql.lit(width)}`;
      const rows = await db
        .selectFrom('data_points')
        .select((eb) => [
          bucket.as('b'),
          eb.fn.min<number>('num').as('lo'),
          eb.fn.max<number>('num').as('hi'),
          eb.fn.avg<number | string>('num').as('mean'),
          eb.fn.count<number | string | bigint>('num').as('n'),
        ])
        .where('stream_id', '=', streamId)
        .where('time', '>=', from)
        .where('time', '<=', until)
        .where('num', 'is not', null)
        .groupBy(sql`1`)
        .orderBy(sql`1`)
        .execute();
      return rows.map((r) => ({
        time: from + Number(r.b) * width,
        min: Number(r.lo),
        max: Number(r.hi),
        mean: Number(r.mean),
        count: Number(r.n),
      }));
    },
  };
}

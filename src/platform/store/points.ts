/** Data points: batched upserts with retention, ranged newest-N reads. */
import { CompiledQuery, type Kysely, sql } from 'kysely';
import type { DataPoint, Parser, StreamPoint } from '../model.ts';
import type { ParserTarget } from '../parsers.ts';
import { mapError, type StoreContext } from './context.ts';
import { parser } from './parsers.ts';
import { GroupCommit, type GroupCommitStats, noCommits } from './point-batch.ts';
import { SQLITE_INSERT_MANY, SQLITE_INSERT_ONE, SQLITE_ROWS } from './point-sql.ts';
import type { Database, Engine } from './schema.ts';

export interface PointQuery {
  /** Inclusive lower bound, ms. */
  from?: number;
  /** Inclusive upper bound, ms. */
  until?: number;
  /** The newest `limit` points of the range are returned (oldest first). */
  limit: number;
}

/** Rows per PostgreSQL `unnest` insert (arrays are single parameters: only memory bounds it). */
const PG_INSERT_CHUNK = 5000;
/** PostgreSQL batches committing at once: one fills while another waits for its WAL flush. */
const PG_COMMIT_LANES = 2;

/** SQLite parameters of `n` rows from `points[from]`, flat: stream_id, time, num, txt per row. */
function rowParams(points: StreamPoint[], from: number, n: number): unknown[] {
  const out = new Array<unknown>(4 * n);
  for (let j = 0; j < n; j++) {
    const p = points[from + j];
    out[4 * j] = p.streamId;
    out[4 * j + 1] = p.time;
    out[4 * j + 2] = typeof p.value === 'number' ? p.value : null;
    out[4 * j + 3] = typeof p.value === 'string' ? p.value : null;
  }
  return out;
}

/** Keeps the newest `maxPoints` points and those younger than `maxAgeMs` (by their time). */
async function applyRetention(
  db: Kysely<Database>,
  streamId: number,
  maxPoints: number | null,
  maxAgeMs: number | string | null,
  now: number,
): Promise<void> {
  if (maxPoints !== null) {
    // The time of the maxPoints-th newest point; everything older goes. NULL (fewer points) deletes nothing.
    await db
      .deleteFrom('data_points')
      .where('stream_id', '=', streamId)
      .where('time', '<', (eb) =>
        eb
          .selectFrom('data_points')
          .select('time')
          .where('stream_id', '=', streamId)
          .orderBy('time', 'desc')
          .limit(1)
          .offset(maxPoints - 1),
      )
      .execute();
  }
  if (maxAgeMs !== null) {
    await db
      .deleteFrom('data_points')
      .where('stream_id', '=', streamId)
      .where('time', '<', now - Number(maxAgeMs))
      .execute();
  }
}

/** What a payload to a resource is parsed with. */
export interface IngestPlan {
  /** In id order, as `listParsers` gives them. */
  parsers: Parser[];
  /** The streams those parsers feed, by id. */
  streams: Map<number, ParserTarget>;
}

export interface PointStore {
  /**
   * Stores points (a later point at the same (stream, time) replaces the value), moves each
   * stream's `lastTime`, and applies each stream's retention — all in one transaction, shared
   * with the other requests writing at the same time (group commit, `point-batch.ts`); resolves
   * with how many points were written once that transaction committed. Inside `transaction()`
   * the points join the caller's transaction instead.
   */
  insertPoints(points: StreamPoint[], now: number): Promise<number>;
  /**
   * A resource's parsers with the id and type of the stream each feeds, in one query (one round
   * trip, one consistent view): what ingest needs, without `lastTime`'s max() per stream.
   */
  ingestPlan(resourceId: number): Promise<IngestPlan>;
  /** Counters of the group commit (all zero for a store handed out inside a transaction). */
  ingestStats(): GroupCommitStats;
  queryPoints(streamId: number, q: PointQuery): Promise<DataPoint[]>;
  /** Deletes points in [from, until] (all when both are absent); returns how many. */
  deletePoints(streamId: number, q: { from?: number; until?: number }): Promise<number>;
}

/** Writes points and applies retention, in the transaction `db` is. */
async function writePoints(db: Kysely<Database>, engine: Engine, points: StreamPoint[], now: number): Promise<void> {
  if (engine === 'postgres') {
    // One statement with four array parameters whatever the count: one plan, no parameter limit.
    for (let i = 0; i < points.length; i += PG_INSERT_CHUNK) {
      const n = Math.min(PG_INSERT_CHUNK, points.length - i);
      const ids = new Array<number>(n);
      const times = new Array<number>(n);
      const nums = new Array<number | null>(n);
      const txts = new Array<string | null>(n);
      for (let j = 0; j < n; j++) {
        const p = points[i + j];
        ids[j] = p.streamId;
        times[j] = p.time;
        nums[j] = typeof p.value === 'number' ? p.value : null;
        txts[j] = typeof p.value === 'string' ? p.value : null;
      }
      await sql`INSERT INTO data_points (stream_id, time, num, txt)
        SELECT * FROM unnest(${ids}::integer[], ${times}::bigint[], ${nums}::double precision[], ${txts}::text[])
        ON CONFLICT (stream_id, time) DO UPDATE SET num = excluded.num, txt = excluded.txt`.execute(db);
    }
  } else {
    // Fixed statements (SQLITE_ROWS rows, then one row at a time), prepared once and cached by
    // their text, with flat parameters: building a query tree per row cost more than SQLite did.
    let i = 0;
    for (; i + SQLITE_ROWS <= points.length; i += SQLITE_ROWS) {
      await db.executeQuery(CompiledQuery.raw(SQLITE_INSERT_MANY, rowParams(points, i, SQLITE_ROWS)));
    }
    for (; i < points.length; i++) await db.executeQuery(CompiledQuery.raw(SQLITE_INSERT_ONE, rowParams(points, i, 1)));
  }
  // One look-up for the retention of all streams touched; most have none.
  const ids = [...new Set(points.map((p) => p.streamId))];
  const kept = await db
    .selectFrom('streams')
    .select(['id', 'retention_max_points', 'retention_max_age_ms'])
    .where('id', 'in', ids)
    .where((eb) => eb.or([eb('retention_max_points', 'is not', null), eb('retention_max_age_ms', 'is not', null)]))
    .execute();
  for (const s of kept) await applyRetention(db, s.id, s.retention_max_points, s.retention_max_age_ms, now);
}

export function pointStore({ db, engine, inTransaction, withTransaction, pointWriter }: StoreContext): PointStore {
  // Outside a transaction, concurrent writers share one (group commit); inside one, points join it.
  // A batch goes to the engine's point writer when it has one (SQLite: a thread that commits off
  // the event loop), else into a transaction on the pool.
  const commitBatch = pointWriter
    ? (points: StreamPoint[], now: number) => pointWriter.write(points, now).catch(mapError)
    : (points: StreamPoint[], now: number) => withTransaction((trx) => writePoints(trx, engine, points, now));
  const group = inTransaction
    ? undefined
    : new GroupCommit(commitBatch, { lanes: engine === 'postgres' ? PG_COMMIT_LANES : 1 });
  return {
    insertPoints(points: StreamPoint[], now: number): Promise<number> {
      if (points.length === 0) return Promise.resolve(0);
      if (group) return group.submit(points, now);
      return writePoints(db, engine, points, now).then(() => points.length);
    },
    async ingestPlan(resourceId: number): Promise<IngestPlan> {
      const rows = await db
        .selectFrom('parsers')
        .innerJoin('streams', 'streams.id', 'parsers.stream_id')
        .selectAll('parsers')
        .select('streams.type as stream_type')
        .where('parsers.resource_id', '=', resourceId)
        .orderBy('parsers.id')
        .execute();
      const streams = new Map<number, ParserTarget>();
      for (const r of rows) streams.set(r.stream_id, { id: r.stream_id, type: r.stream_type });
      return { parsers: rows.map(parser), streams };
    },
    ingestStats: () => ({ ...(group?.stats ?? noCommits()) }),
    async queryPoints(streamId: number, q: PointQuery): Promise<DataPoint[]> {
      let query = db.selectFrom('data_points').select(['time', 'num', 'txt']).where('stream_id', '=', streamId);
      if (q.from !== undefined) query = query.where('time', '>=', q.from);
      if (q.until !== undefined) query = query.where('time', '<=', q.until);
      const rows = await query.orderBy('time', 'desc').limit(q.limit).execute();
      const out: DataPoint[] = new Array(rows.length);
      // Newest-first from the index; the API returns oldest first.
      for (let i = 0; i < rows.length; i++) {
        const r = rows[rows.length - 1 - i];
        out[i] = { time: Number(r.time), value: r.txt ?? (r.num as number) };
      }
      return out;
    },
    async deletePoints(streamId: number, q: { from?: number; until?: number }): Promise<number> {
      let del = db.deleteFrom('data_points').where('stream_id', '=', streamId);
      if (q.from !== undefined) del = del.where('time', '>=', q.from);
      if (q.until !== undefined) del = del.where('time', '<=', q.until);
      const r = await del.executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

/** Streams of a resource, each read with its newest point's time. */
import type { Kysely, Selectable } from 'kysely';
import type { StreamRecord } from '../model.ts';
import { type StoreContext, type StorePage, window } from './context.ts';
import type { Database, StreamsTable } from './schema.ts';

/** A stream as created: its record without the id the database gives and the newest point's time. */
export type NewStream = Omit<StreamRecord, 'id' | 'lastTime'>;

const stream = (r: Selectable<StreamsTable> & { last_time: number | string | null }): StreamRecord => ({
  id: r.id,
  resourceId: r.resource_id,
  label: r.label,
  unit: r.unit,
  type: r.type,
  public: r.public === 1,
  retentionMaxPoints: r.retention_max_points,
  retentionMaxAgeMs: r.retention_max_age_ms === null ? null : Number(r.retention_max_age_ms),
  keyHash: r.key_hash,
  createdAt: Number(r.created_at),
  lastTime: r.last_time === null ? null : Number(r.last_time),
});

/**
 * Streams with `last_time`, the newest point's time: a max() over the (stream_id, time) primary
 * key is one index probe, cheaper than keeping a column up to date on every insert.
 */
function streamRows(db: Kysely<Database>) {
  return db
    .selectFrom('streams')
    .selectAll('streams')
    .select((eb) =>
      eb
        .selectFrom('data_points')
        .select((e) => e.fn.max('data_points.time').as('m'))
        .whereRef('data_points.stream_id', '=', 'streams.id')
        .as('last_time'),
    );
}

export interface StreamStore {
  createStream(s: NewStream): Promise<StreamRecord>;
  getStream(id: number): Promise<StreamRecord | undefined>;
  getStreamByKeyHash(keyHash: string): Promise<StreamRecord | undefined>;
  listStreams(resourceId: number, page?: StorePage): Promise<StreamRecord[]>;
  updateStream(
    id: number,
    patch: Partial<
      Pick<StreamRecord, 'label' | 'unit' | 'public' | 'retentionMaxPoints' | 'retentionMaxAgeMs' | 'keyHash'>
    >,
  ): Promise<StreamRecord | undefined>;
  deleteStream(id: number): Promise<boolean>;
}

export function streamStore({ db, run }: StoreContext): StreamStore {
  return {
    createStream(s: NewStream): Promise<StreamRecord> {
      return run(async () =>
        stream(
          await db
            .insertInto('streams')
            .values({
              resource_id: s.resourceId,
              label: s.label,
              unit: s.unit,
              type: s.type,
              public: s.public ? 1 : 0,
              retention_max_points: s.retentionMaxPoints,
              retention_max_age_ms: s.retentionMaxAgeMs,
              key_hash: s.keyHash,
              created_at: s.createdAt,
            })
            .returningAll()
            .executeTakeFirstOrThrow()
            .then((r) => ({ ...r, last_time: null })),
        ),
      );
    },
    async getStream(id: number): Promise<StreamRecord | undefined> {
      const r = await streamRows(db).where('streams.id', '=', id).executeTakeFirst();
      return r && stream(r);
    },
    async getStreamByKeyHash(keyHash: string): Promise<StreamRecord | undefined> {
      const r = await streamRows(db).where('streams.key_hash', '=', keyHash).executeTakeFirst();
      return r && stream(r);
    },
    async listStreams(resourceId: number, page?: StorePage): Promise<StreamRecord[]> {
      const rows = await window(
        streamRows(db).where('streams.resource_id', '=', resourceId).orderBy('streams.id'),
        page,
      ).execute();
      return rows.map(stream);
    },
    updateStream(
      id: number,
      patch: Partial<
        Pick<StreamRecord, 'label' | 'unit' | 'public' | 'retentionMaxPoints' | 'retentionMaxAgeMs' | 'keyHash'>
      >,
    ): Promise<StreamRecord | undefined> {
      const set: Partial<Selectable<StreamsTable>> = {};
      if (patch.label !== undefined) set.label = patch.label;
      if (patch.unit !== undefined) set.unit = patch.unit;
      if (patch.public !== undefined) set.public = patch.public ? 1 : 0;
      if (patch.retentionMaxPoints !== undefined) set.retention_max_points = patch.retentionMaxPoints;
      if (patch.retentionMaxAgeMs !== undefined) set.retention_max_age_ms = patch.retentionMaxAgeMs;
      if (patch.keyHash !== undefined) set.key_hash = patch.keyHash;
      if (Object.keys(set).length === 0) return this.getStream(id);
      return run(async () => {
        const r = await db.updateTable('streams').set(set).where('id', '=', id).executeTakeFirst();
        return r.numUpdatedRows > 0n ? this.getStream(id) : undefined;
      });
    },
    async deleteStream(id: number): Promise<boolean> {
      const r = await db.deleteFrom('streams').where('id', '=', id).executeTakeFirst();
      return r.numDeletedRows > 0n;
    },
  };
}

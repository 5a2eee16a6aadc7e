/** Resources: what a user owns and the poller pulls. */
import type { Selectable } from 'kysely';
import type { ResourceRecord } from '../model.ts';
import {
  deleteById,
  findOne,
  insertOne,
  type NewRow,
  type RowPatch,
  type StoreContext,
  type StorePage,
  updateById,
  window,
} from './context.ts';
import type { ResourcesTable } from './schema.ts';

export type NewResource = NewRow<ResourcesTable>;

const RESOURCE_PATCH = [
  'label',
  'pollingUrl',
  'pollingPeriod',
  'pollingRetransmits',
  'pollingTimeoutMs',
  'keyHash',
] as const;
export type ResourceUpdate = Pick<RowPatch<ResourcesTable>, (typeof RESOURCE_PATCH)[number]>;

const resource = (r: Selectable<ResourcesTable>): ResourceRecord => ({
  id: r.id,
  ownerId: r.owner_id,
  label: r.label,
  pollingUrl: r.polling_url,
  pollingPeriod: r.polling_period,
  pollingRetransmits: r.polling_retransmits,
  pollingTimeoutMs: r.polling_timeout_ms,
  keyHash: r.key_hash,
  createdAt: Number(r.created_at),
});

export interface ResourceStore {
  createResource(r: NewResource): Promise<ResourceRecord>;
  getResource(id: number): Promise<ResourceRecord | undefined>;
  getResourceByKeyHash(keyHash: string): Promise<ResourceRecord | undefined>;
  listResources(ownerId: number, page?: StorePage): Promise<ResourceRecord[]>;
  /** Resources with a polling URL, for the poller. */
  listPolledResources(): Promise<ResourceRecord[]>;
  updateResource(id: number, patch: ResourceUpdate): Promise<ResourceRecord | undefined>;
  deleteResource(id: number): Promise<boolean>;
  /**
   * Inside a transaction: takes the resource's row lock (a no-op UPDATE, portable to both engines)
   * so that two first payloads cannot both create its streams. Returns false when it is gone.
   */
  lockResource(id: number): Promise<boolean>;
}

export function resourceStore({ db, run }: StoreContext): ResourceStore {
  return {
    createResource(r: NewResource): Promise<ResourceRecord> {
      return run(async () =>
        resource(
          await insertOne(db, 'resources', {
            owner_id: r.ownerId,
            label: r.label,
            polling_url: r.pollingUrl,
            polling_period: r.pollingPeriod,
            polling_retransmits: r.pollingRetransmits ?? null,
            polling_timeout_ms: r.pollingTimeoutMs ?? null,
            key_hash: r.keyHash,
            created_at: r.createdAt,
          }),
        ),
      );
    },
    async getResource(id: number): Promise<ResourceRecord | undefined> {
      return findOne(db, 'resources', 'id', id, resource);
    },
    async getResourceByKeyHash(keyHash: string): Promise<ResourceRecord | undefined> {
      return findOne(db, 'resources', 'key_hash', keyHash, resource);
    },
    async listResources(ownerId: number, page?: StorePage): Promise<ResourceRecord[]> {
      const rows = await window(
        db.selectFrom('resources').selectAll().where('owner_id', '=', ownerId).orderBy('id'),
        page,
      ).execute();
      return rows.map(resource);
    },
    async listPolledResources(): Promise<ResourceRecord[]> {
      const rows = await db
        .selectFrom('resources')
        .selectAll()
        .where('polling_url', 'is not', null)
        .orderBy('id')
        .execute();
      return rows.map(resource);
    },
    updateResource(id: number, patch: ResourceUpdate): Promise<ResourceRecord | undefined> {
      return updateById({ db, run }, 'resources', id, patch, RESOURCE_PATCH, resource);
    },
    async deleteResource(id: number): Promise<boolean> {
      return deleteById(db, 'resources', id);
    },
    async lockResource(id: number): Promise<boolean> {
      const r = await db
        .updateTable('resources')
        .set((eb) => ({ label: eb.ref('label') }))
        .where('id', '=', id)
        .executeTakeFirst();
      return r.numUpdatedRows > 0n;
    },
  };
}

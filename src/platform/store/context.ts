/**
 * What every aggregate's store module is built from: the database handle (the connection pool, or
 * the transaction it runs in), the mapping of driver errors to domain errors, and paging.
 */
import type { Insertable, Kysely, Selectable, Updateable } from 'kysely';
import { Conflict, NotFound } from '../errors.ts';
import type { StreamPoint } from '../model.ts';
import type { Database, Engine } from './schema.ts';

/** `snake_case` → `camelCase`, at the type level. */
type Camel<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;

/**
 * What a store's create method takes: the table's Kysely `Insertable` row with camelCase keys (the
 * service's spelling), so a column added to `schema.ts` shows up here without a second declaration.
 * Generated and nullable columns are optional, as in the INSERT; the generated `id` is left out.
 */
export type NewRow<T> = { [K in keyof Insertable<T> as K extends 'id' ? never : Camel<K & string>]: Insertable<T>[K] };

/** What a store's update method takes: the table's Kysely `Updateable` row, camelCase keys. */
export type RowPatch<T> = { [K in keyof Updateable<T> as Camel<K & string>]?: Updateable<T>[K] };

export interface StoreContext {
  /** The pool, or the open transaction when the store was handed out by `transaction()`. */
  db: Kysely<Database>;
  engine: Engine;
  /** True for the store handed out by `transaction()`: writes join that transaction. */
  inTransaction: boolean;
  /** Runs a write, turning constraint violations into {@link Conflict} / {@link NotFound}. */
  run<T>(q: () => Promise<T>): Promise<T>;
  /** Runs `fn` in one transaction (joining the open one, if any); everything or nothing. */
  withTransaction<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T>;
  /**
   * Where group-committed points go instead of a transaction on `db`, when the engine has one
   * (SQLite on a file: a writer thread, `sqlite-point-writer.ts`). Stores the points, with their
   * streams' retention, in one transaction; resolves once it committed.
   */
  pointWriter?: PointWriter;
}

export interface PointWriter {
  write(points: StreamPoint[], now: number): Promise<void>;
  /**
   * Upserts DTLS session rows in one transaction off the event loop (the writer thread), when the
   * writer can: a batch of new sessions then costs the serving thread no fsync.
   */
  writeSessions?(rows: readonly DtlsSessionRow[]): Promise<void>;
  /** Sets `last_used_at` of these DTLS sessions, in one transaction on the writer thread. */
  touchSessions?(sessionIds: readonly string[], at: number): Promise<void>;
}

/** A `dtls_sessions` row as the writer thread upserts it. */
export interface DtlsSessionRow {
  sessionId: string;
  state: Uint8Array;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number;
}

/** Maps driver errors for constraint violations to domain errors; rethrows anything else. */
export function mapError(err: unknown): never {
  const e = err as { code?: string; message?: string };
  // SQLite: SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY; PostgreSQL: SQLSTATE 23505 unique_violation.
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === '23505') throw new Conflict('already exists');
  // SQLITE_CONSTRAINT_FOREIGNKEY / 23503 foreign_key_violation: the parent went away meanwhile.
  if (e.code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || e.code === '23503') {
    throw new NotFound('the parent object no longer exists');
  }
  throw err;
}

/** A window of a list in id order: `limit` rows (all when absent) after skipping `offset`. */
export interface StorePage {
  limit?: number;
  offset?: number;
}

/**
 * LIMIT/OFFSET for a page, done by the database. SQLite accepts OFFSET only after a LIMIT, so an
 * offset alone gets the largest LIMIT both engines take.
 */
export function window<Q extends { limit(n: number): Q; offset(n: number): Q }>(q: Q, page: StorePage | undefined): Q {
  if (!page) return q;
  const offset = page.offset ?? 0;
  if (page.limit === undefined && offset === 0) return q;
  const limited = q.limit(page.limit ?? 2_147_483_647);
  return offset > 0 ? limited.offset(offset) : limited;
}

/**
 * The row of `table` whose `column` equals `value`, mapped to its record; undefined when there is
 * none. (The table and column are the caller's constants, never request text.)
 */
export async function findOne<T extends keyof Database, R>(
  db: Kysely<Database>,
  table: T,
  column: keyof Database[T] & string,
  value: string | number,
  map: (row: Selectable<Database[T]>) => R,
): Promise<R | undefined> {
  const r = await db
    .selectFrom(table as 'users')
    .selectAll()
    .where(column as 'id', '=', value as number)
    .executeTakeFirst();
  return r && map(r as unknown as Selectable<Database[T]>);
}

/** Deletes the row of `table` with this id; whether there was one. */
export async function deleteById(db: Kysely<Database>, table: keyof Database, id: number): Promise<boolean> {
  const r = await db
    .deleteFrom(table as 'users')
    .where('id', '=', id)
    .executeTakeFirst();
  return r.numDeletedRows > 0n;
}

/** Inserts one row into `table` and returns it as stored (generated id and defaults included). */
export async function insertOne<T extends keyof Database>(
  db: Kysely<Database>,
  table: T,
  values: Insertable<Database[T]>,
): Promise<Selectable<Database[T]>> {
  const row = await db
    .insertInto(table as 'users')
    .values(values as Insertable<Database['users']>)
    .returningAll()
    .executeTakeFirstOrThrow();
  return row as unknown as Selectable<Database[T]>;
}

/** `camelCase` → `snake_case`: a patch key to its column. */
function columnOf(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * Applies the fields of `patch` named in `keys` that are not undefined to the row of `table` with
 * this id, and returns the row as stored, mapped; the row unchanged when nothing is set; undefined
 * when there is no such row. Only `keys` are read, so a patch object with more fields never names
 * a column the caller did not mean.
 */
export async function updateById<T extends keyof Database, P extends object, R>(
  { db, run }: Pick<StoreContext, 'db' | 'run'>,
  table: T,
  id: number,
  patch: P,
  keys: readonly (keyof P & string)[],
  map: (row: Selectable<Database[T]>) => R,
): Promise<R | undefined> {
  const set: Record<string, unknown> = {};
  for (const k of keys) if (patch[k] !== undefined) set[columnOf(k)] = patch[k];
  if (Object.keys(set).length === 0) return findOne(db, table, 'id' as keyof Database[T] & string, id, map);
  return run(async () => {
    const r = await db
      .updateTable(table as 'users')
      .set(set as Updateable<Database['users']>)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return r && map(r as unknown as Selectable<Database[T]>);
  });
}

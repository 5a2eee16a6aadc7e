/**
 * What every aggregate's store module is built from: the database handle (the connection pool, or
 * the transaction it runs in), the mapping of driver errors to domain errors, and paging.
 */
import type { Kysely } from 'kysely';
import { Conflict, NotFound } from '../errors.ts';
import type { Database, Engine } from './schema.ts';

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

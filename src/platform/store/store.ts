/**
 * The one Store interface, composed of one module per aggregate (users with their tokens and
 * sessions, resources, streams, parsers, points, device credentials, the poll log, shared DTLS
 * sessions), and its implementation over Kysely. Every query is written once and runs on both
 * engines (SQLite through better-sqlite3, PostgreSQL through pg); see `open.ts`.
 *
 * The store throws domain errors (`../errors.ts`): a taken unique name or identity is a
 * `Conflict`, a parent that went away meanwhile a `NotFound`. It knows nothing of HTTP or CoAP.
 */
import type { Kysely, Transaction } from 'kysely';
import { PlatformError } from '../model.ts';
import { mapError, type PointWriter, type StoreContext } from './context.ts';
import { type CredentialStore, credentialStore } from './credentials.ts';
import { type DtlsSessionStore, dtlsSessionStore } from './dtls-sessions.ts';
import { type ParserStore, parserStore } from './parsers.ts';
import { type PointStore, pointStore } from './points.ts';
import { type PollLogStore, pollLogStore } from './poll-log.ts';
import { type RateLimitStore, rateLimitStore } from './rate-limits.ts';
import { type ResourceStore, resourceStore } from './resources.ts';
import type { Database, Engine } from './schema.ts';
import { type StatsStore, statsStore } from './stats.ts';
import { type StreamStore, streamStore } from './streams.ts';
import { type UserStore, userStore } from './users.ts';

export type { StorePage } from './context.ts';
export type { NewDeviceCredential } from './credentials.ts';
export type { DtlsSessionRecord } from './dtls-sessions.ts';
export type { NewParser } from './parsers.ts';
export type { PointQuery } from './points.ts';
export type { NewPollLogEntry } from './poll-log.ts';
export type { RateHits } from './rate-limits.ts';
export type { NewResource, ResourceUpdate } from './resources.ts';
export type { PointBucket } from './stats.ts';
export type { NewStream } from './streams.ts';
export type { NewApiToken, NewUser, NewUserSession } from './users.ts';

/** The lists that page, with the column naming their parent. */
const LIST_PARENT = {
  resources: 'owner_id',
  streams: 'resource_id',
  parsers: 'resource_id',
  device_credentials: 'resource_id',
  api_tokens: 'user_id',
  poll_log: 'resource_id',
} as const;
export type ListName = keyof typeof LIST_PARENT;

/** Storage for the platform. Methods return undefined / false for rows that do not exist. */
export interface Store
  extends UserStore,
    ResourceStore,
    StreamStore,
    ParserStore,
    PointStore,
    CredentialStore,
    PollLogStore,
    DtlsSessionStore,
    RateLimitStore,
    StatsStore {
  readonly engine: Engine;
  /** Runs `fn` in one transaction: everything or nothing. Nested calls join the outer one. */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;
  /** How many rows a list has in all (the `X-Total-Count` of a page). */
  countList(list: ListName, parentId: number): Promise<number>;
  /** Closes the connection(s). Further calls fail. */
  close(): Promise<void>;
}

/**
 * The Store over a Kysely handle: the pool, or (with `inTransaction`) an open transaction, in
 * which a nested `transaction()` joins the outer one.
 */
export function kyselyStore(
  db: Kysely<Database>,
  engine: Engine,
  inTransaction = false,
  onClose: () => Promise<void> = async () => {},
  pointWriter?: PointWriter,
): Store {
  const transaction = async <T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> => {
    if (inTransaction) return fn(db);
    try {
      return await db.transaction().execute((trx: Transaction<Database>) => fn(trx));
    } catch (err) {
      // Refusals thrown inside (the service's, or already mapped) pass as they are.
      if (err instanceof PlatformError) throw err;
      return mapError(err);
    }
  };
  const ctx: StoreContext = {
    db,
    engine,
    inTransaction,
    withTransaction: transaction,
    pointWriter,
    run: async (q) => {
      try {
        return await q();
      } catch (err) {
        return mapError(err);
      }
    },
  };
  const store: Store = {
    engine,
    transaction: (fn) => (inTransaction ? fn(store) : transaction((trx) => fn(kyselyStore(trx, engine, true)))),
    ...userStore(ctx),
    ...resourceStore(ctx),
    ...streamStore(ctx),
    ...parserStore(ctx),
    ...pointStore(ctx),
    ...credentialStore(ctx),
    ...pollLogStore(ctx),
    ...dtlsSessionStore(ctx),
    ...rateLimitStore(ctx),
    ...statsStore(ctx),
    async countList(list, parentId) {
      // The table and column come from LIST_PARENT, never from the caller's text.
      const r = await db
        .selectFrom(list as 'resources')
        .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
        .where(LIST_PARENT[list] as 'owner_id', '=', parentId)
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
    close: onClose,
  };
  return store;
}

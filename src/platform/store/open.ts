/**
 * Opens a Store on SQLite (a file path, default `./data/securesense.db`, or `:memory:`) or on
 * PostgreSQL (a `postgres://` URL), and runs the migrations before returning.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import {
  Kysely,
  type Migration,
  type MigrationProvider,
  Migrator,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteStatement,
} from 'kysely';
import pg from 'pg';
import type { Logger } from '../../util/log.ts';
import { Invalid } from '../errors.ts';
import { SchemaPostgresDialect } from './pg-introspector.ts';
import { type Database, type Engine, migrations } from './schema.ts';
import { SqlitePointWriter } from './sqlite-point-writer.ts';
import { kyselyStore, type Store } from './store.ts';

export interface OpenStoreOptions {
  /** A SQLite path, `:memory:`, or a `postgres://` / `postgresql://` URL. */
  db: string;
  /**
   * PostgreSQL only: the schema to use (created if missing) instead of the default `public`.
   * Tests use a fresh one per file.
   */
  schema?: string;
  /** PostgreSQL only: pool size. Default {@link defaultPoolSize}. */
  poolSize?: number;
  logger?: Logger;
}

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new Invalid(`invalid PostgreSQL schema name ${JSON.stringify(schema)}`);
  return schema;
}

class StaticProvider implements MigrationProvider {
  constructor(private readonly m: Record<string, Migration>) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return this.m;
  }
}

async function migrate(db: Kysely<Database>, engine: Engine, logger?: Logger, schema?: string): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: new StaticProvider(migrations(engine)),
    // PostgreSQL: name the schema of Kysely's bookkeeping tables, or its existence check sees
    // those of another schema in the same database and skips creating ours.
    ...(engine === 'postgres' ? { migrationTableSchema: schema ?? 'public' } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  for (const r of results ?? []) {
    if (r.status === 'Success') logger?.info({ migration: r.migrationName }, 'migration applied');
    else if (r.status === 'Error') logger?.error({ migration: r.migrationName }, 'migration failed');
  }
  if (error) throw error instanceof Error ? error : new Error(`migration failed: ${String(error)}`);
}

/** Opens the store and brings its schema to the latest version. */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  if (isPostgresUrl(opts.db)) return openPostgres(opts);
  return openSqlite(opts);
}

async function openSqlite(opts: OpenStoreOptions): Promise<Store> {
  if (opts.db !== ':memory:') mkdirSync(dirname(opts.db), { recursive: true });
  const sqlite = new BetterSqlite3(opts.db);
  // WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL at every commit, so
  // a point acknowledged after COMMIT survives kill -9 and power loss (sqlite.org/pragma.html#pragma_synchronous).
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingStatements(sqlite) }) });
  try {
    await migrate(db, 'sqlite', opts.logger);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  // A file gets a writer thread for points (its commits off the event loop); `:memory:` is one
  // connection's private database, which another thread cannot open.
  const writer = opts.db === ':memory:' ? undefined : new SqlitePointWriter(opts.db, opts.logger);
  const close = async () => {
    await writer?.close();
    await db.destroy();
  };
  return kyselyStore(db, 'sqlite', false, close, writer);
}

/**
 * Kysely's SQLite driver prepares every query anew; compiling the SQL was a large share of the
 * CPU per request. Our queries are a small fixed set (multi-row inserts vary by row count), so
 * prepared statements are kept by their SQL text, least recently used dropped beyond `max`.
 */
function cachingStatements(sqlite: BetterSqlite3.Database, max = 256): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      // Kysely opens a transaction with a deferred `begin`, which takes the write lock only at
      // its first write and fails (SQLITE_BUSY) if another connection — the point writer thread —
      // committed since the transaction's first read. Taking the lock up front waits instead.
      const sql = text === 'begin' ? 'begin immediate' : text;
      let stmt = cache.get(sql);
      if (stmt) {
        cache.delete(sql); // re-insert: Map order is the recency order
      } else {
        stmt = sqlite.prepare(sql);
        if (cache.size >= max) cache.delete(cache.keys().next().value as string);
      }
      cache.set(sql, stmt);
      return stmt as unknown as SqliteStatement;
    },
  };
}

// int8 (OID 20) as a JS number: our bigints are millisecond times and counts, far below 2^53.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

/**
 * Connections beyond a few per core only queue inside the server (each is a backend process
 * competing for the same cores); ingest needs two (its commit lanes), the rest serve reads.
 */
export function defaultPoolSize(): number {
  return Math.max(4, 2 * availableParallelism());
}

async function openPostgres(opts: OpenStoreOptions): Promise<Store> {
  // A schema named in the URL (`?options=-c search_path=NAME`) is treated as if given as `schema`:
  // created when missing, and home of the migration bookkeeping (a separate `serve` per schema).
  const named = opts.schema ?? searchPathOf(opts.db);
  const schema = named ? checkSchemaName(named) : undefined;
  if (schema) {
    const c = new pg.Client({ connectionString: opts.db });
    await c.connect();
    try {
      await c.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    } finally {
      await c.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: schema ? withSearchPath(opts.db, schema) : opts.db,
    max: opts.poolSize ?? defaultPoolSize(),
    types,
  });
  pool.on('error', (err) => opts.logger?.error({ err }, 'idle PostgreSQL connection failed'));
  // A connection that dies while checked out emits 'error' on its client, which the pool does not
  // listen to then: unheard, it would end the process. The query in flight fails on its own.
  pool.on('connect', (client) =>
    client.on('error', (err) => opts.logger?.warn({ err: err.message }, 'PostgreSQL connection lost')),
  );
  const db = new Kysely<Database>({ dialect: new SchemaPostgresDialect({ pool }, schema ?? 'public') });
  try {
    await migrate(db, 'postgres', opts.logger, schema);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return kyselyStore(db, 'postgres', false, () => db.destroy());
}

/**
 * Every pooled connection works in the chosen schema: `-c search_path=…` joins any `options` the
 * URL already has (pg lets the URL's parameters override the config object's).
 */
function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  const prior = u.searchParams.get('options');
  u.searchParams.set('options', `${prior ? `${prior} ` : ''}-c search_path=${schema}`);
  return u.toString();
}

/** The single schema a URL's `options=-c search_path=NAME` names, if any. */
function searchPathOf(url: string): string | undefined {
  const m = /(?:^|\s)-c\s*search_path=([^\s,]+)(?:\s|$)/.exec(new URL(url).searchParams.get('options') ?? '');
  return m?.[1];
}

/** Drops a PostgreSQL schema and everything in it (test clean-up). */
export async function dropPostgresSchema(url: string, schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${checkSchemaName(schema)}" CASCADE`);
  } finally {
    await c.end();
  }
}

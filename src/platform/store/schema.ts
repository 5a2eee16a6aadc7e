/**
 * Table types for Kysely and the versioned migrations. The same queries run on SQLite and
 * PostgreSQL; only column types differ per engine, so each migration takes the engine.
 *
 * Portable choices: booleans are INTEGER 0/1 on both engines; times are BIGINT milliseconds
 * (INTEGER on SQLite, which is 64-bit); a point's value sits in `num` (double) or `txt` by the
 * stream's type.
 */
import { type ColumnDefinitionBuilder, type Generated, type Kysely, type Migration, sql } from 'kysely';

export type Engine = 'sqlite' | 'postgres';

export interface UsersTable {
  id: Generated<number>;
  username: string;
  password_hash: string;
  token_hash: string;
  created_at: number;
}

export interface ResourcesTable {
  id: Generated<number>;
  owner_id: number;
  label: string;
  polling_url: string | null;
  polling_period: number | null;
  key_hash: string;
  created_at: number;
}

export interface StreamsTable {
  id: Generated<number>;
  resource_id: number;
  label: string;
  unit: string | null;
  type: 'numeric' | 'text';
  public: number;
  retention_max_points: number | null;
  retention_max_age_ms: number | null;
  key_hash: string;
  created_at: number;
}

export interface ParsersTable {
  id: Generated<number>;
  resource_id: number;
  stream_id: number;
  kind: 'json-path' | 'regex' | 'senml';
  expression: string;
  time_format: 'unix-s' | 'unix-ms' | 'iso8601';
  created_at: number;
}

export interface DataPointsTable {
  stream_id: number;
  time: number;
  num: number | null;
  txt: string | null;
}

export interface Database {
  users: UsersTable;
  resources: ResourcesTable;
  streams: StreamsTable;
  parsers: ParsersTable;
  data_points: DataPointsTable;
}

// Migrations see the database without our table types: the schema is what they create.
// biome-ignore lint/suspicious/noExplicitAny: Kysely's migration API is untyped by design.
type AnyDb = Kysely<any>;

/**
 * Migrations in order; names sort lexically. Never edit one that has shipped: add the next
 * (issue 6 adds device credentials as `0002_…`).
 */
export function migrations(engine: Engine): Record<string, Migration> {
  const id = engine === 'sqlite' ? 'integer' : 'serial';
  const big = engine === 'sqlite' ? 'integer' : 'bigint';
  const dbl = engine === 'sqlite' ? 'real' : 'double precision';
  const pk = (c: ColumnDefinitionBuilder) => (engine === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey());
  return {
    '0001_core': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('users')
          .addColumn('id', id, pk)
          .addColumn('username', 'text', (c) => c.notNull().unique())
          .addColumn('password_hash', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('resources')
          .addColumn('id', id, pk)
          .addColumn('owner_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('label', 'text', (c) => c.notNull())
          .addColumn('polling_url', 'text')
          .addColumn('polling_period', 'integer')
          .addColumn('key_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('resources_owner').on('resources').column('owner_id').execute();
        await db.schema
          .createTable('streams')
          .addColumn('id', id, pk)
          .addColumn('resource_id', 'integer', (c) => c.notNull().references('resources.id').onDelete('cascade'))
          .addColumn('label', 'text', (c) => c.notNull())
          .addColumn('unit', 'text')
          .addColumn('type', 'text', (c) => c.notNull().check(sql`type in ('numeric', 'text')`))
          .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('retention_max_points', 'integer')
          .addColumn('retention_max_age_ms', big)
          .addColumn('key_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('streams_resource').on('streams').column('resource_id').execute();
        await db.schema
          .createTable('parsers')
          .addColumn('id', id, pk)
          .addColumn('resource_id', 'integer', (c) => c.notNull().references('resources.id').onDelete('cascade'))
          .addColumn('stream_id', 'integer', (c) => c.notNull().references('streams.id').onDelete('cascade'))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('expression', 'text', (c) => c.notNull())
          .addColumn('time_format', 'text', (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('parsers_resource').on('parsers').column('resource_id').execute();
        await db.schema
          .createTable('data_points')
          .addColumn('stream_id', 'integer', (c) => c.notNull().references('streams.id').onDelete('cascade'))
          .addColumn('time', big, (c) => c.notNull())
          .addColumn('num', dbl)
          .addColumn('txt', 'text')
          // (stream, time) is unique: the primary key doubles as the index for range reads.
          .addPrimaryKeyConstraint('data_points_pk', ['stream_id', 'time'])
          .execute();
      },
      async down(db: AnyDb) {
        for (const t of ['data_points', 'parsers', 'streams', 'resources', 'users'])
          await db.schema.dropTable(t).execute();
      },
    },
  };
}

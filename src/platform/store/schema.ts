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
  /** CoAP MAX_RETRANSMIT for polls of this resource (0002), or null for the default. */
  polling_retransmits: number | null;
  /** CoAP ACK_TIMEOUT (ms) for polls of this resource; also the HTTP request timeout (0002). */
  polling_timeout_ms: number | null;
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

/** A device identity bound to one resource: one of the three DTLS modes per row. */
export interface DeviceCredentialsTable {
  id: Generated<number>;
  resource_id: number;
  mode: 'psk' | 'rpk' | 'x509';
  label: string | null;
  /** PSK identity (unique across the platform: it selects the key at handshake time). */
  psk_identity: string | null;
  /** The PSK itself, hex: the DTLS server needs it, so it cannot be a hash. Never returned. */
  psk_key: string | null;
  /** Lower-case hex SHA-256 of the device's SubjectPublicKeyInfo. */
  rpk_fingerprint: string | null;
  /** Lower-case hex SHA-256 of a pinned leaf certificate. */
  x509_fingerprint: string | null;
  /** A subject ("CN=dev1, O=Acme") or SAN ("DNS:dev1.example") the leaf must carry, with x509_ca. */
  x509_name: string | null;
  /** PEM of the CA that must have issued the device's certificate, with x509_name. */
  x509_ca: string | null;
  /** PEM of the pinned certificate, when it was given (0003): the DTLS server trusts it as it is. */
  x509_certificate: Generated<string | null>;
  created_at: number;
}

/** One poll of a resource's polling_url and how it went. */
export interface PollLogTable {
  id: Generated<number>;
  resource_id: number;
  time: number;
  url: string;
  ok: number;
  /** The response status ("2.05", "200") or the failure kind ("timeout", "handshake", …). */
  status: string;
  message: string | null;
  points: number;
  /** 1 when this poll had to make a new DTLS session (coaps://). */
  new_session: number;
  duration_ms: number;
}

/**
 * A resumable DTLS session shared by the platform's front ends (0004; src/platform/dtls-sessions.ts).
 * `state` is sealed (AES-256-GCM) before it gets here: the store never sees a master secret.
 */
export interface DtlsSessionsTable {
  /** The session ID (RFC 5246 §7.4.1.2), lower-case hex. */
  session_id: string;
  /** The sealed session state: opaque bytes to the store. */
  state: Buffer;
  created_at: number;
  last_used_at: number;
  expires_at: number;
}

/** A named API token of a user (0005): scripts and device tools; only its SHA-256 is kept. */
export interface ApiTokensTable {
  id: Generated<number>;
  user_id: number;
  /** Unique per user; the token `POST /users` returns is named `default`. */
  name: string;
  token_hash: string;
  created_at: number;
  /** When it last authenticated a request (updated at most once a minute), or null. */
  last_used_at: number | null;
}

/** A dashboard sign-in (`POST /login`, 0005): expires, and never touches the API tokens. */
export interface UserSessionsTable {
  id: Generated<number>;
  user_id: number;
  token_hash: string;
  created_at: number;
  expires_at: number;
}

/** Rate-limit hits per key and fixed window, shared by the front ends (0006; store/rate-limits.ts). */
export interface RateLimitsTable {
  /** The limit's kind and its key, e.g. `a:203.0.113.7` (an address) or `p:u12` (a principal). */
  key: string;
  /** The window's start, ms since the epoch. */
  window_start: number;
  hits: number;
}

export interface Database {
  api_tokens: ApiTokensTable;
  rate_limits: RateLimitsTable;
  user_sessions: UserSessionsTable;
  dtls_sessions: DtlsSessionsTable;
  users: UsersTable;
  resources: ResourcesTable;
  streams: StreamsTable;
  parsers: ParsersTable;
  data_points: DataPointsTable;
  device_credentials: DeviceCredentialsTable;
  poll_log: PollLogTable;
}

// Migrations see the database without our table types: the schema is what they create.
// biome-ignore lint/suspicious/noExplicitAny: Kysely's migration API is untyped by design.
type AnyDb = Kysely<any>;

/**
 * Migrations in order; names sort lexically. Never edit one that has shipped: add the next
 * `0002` adds device credentials, the poll log and per-resource poll
 * retransmission settings, `0003` the pinned certificate itself, `0004` the DTLS
 * sessions shared between front ends, `0005` named API tokens and sign-in sessions (users.token_hash
 * stays as a copy of the `default` token's hash: authentication reads api_tokens only), `0006` the
 * rate-limit counters the front ends share.
 */
export function migrations(engine: Engine): Record<string, Migration> {
  const id = engine === 'sqlite' ? 'integer' : 'serial';
  const big = engine === 'sqlite' ? 'integer' : 'bigint';
  const dbl = engine === 'sqlite' ? 'real' : 'double precision';
  const blob = engine === 'sqlite' ? 'blob' : 'bytea';
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
    '0002_devices_and_polling': {
      async up(db: AnyDb) {
        await db.schema.alterTable('resources').addColumn('polling_retransmits', 'integer').execute();
        await db.schema.alterTable('resources').addColumn('polling_timeout_ms', 'integer').execute();
        await db.schema
          .createTable('device_credentials')
          .addColumn('id', id, pk)
          .addColumn('resource_id', 'integer', (c) => c.notNull().references('resources.id').onDelete('cascade'))
          .addColumn('mode', 'text', (c) => c.notNull().check(sql`mode in ('psk', 'rpk', 'x509')`))
          .addColumn('label', 'text')
          // NULLs do not collide in a UNIQUE column on either engine: one column per mode.
          .addColumn('psk_identity', 'text', (c) => c.unique())
          .addColumn('psk_key', 'text')
          .addColumn('rpk_fingerprint', 'text', (c) => c.unique())
          .addColumn('x509_fingerprint', 'text', (c) => c.unique())
          .addColumn('x509_name', 'text')
          .addColumn('x509_ca', 'text')
          .addColumn('created_at', big, (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('device_credentials_resource')
          .on('device_credentials')
          .column('resource_id')
          .execute();
        await db.schema
          .createIndex('device_credentials_x509_name')
          .on('device_credentials')
          .column('x509_name')
          .execute();
        await db.schema
          .createTable('poll_log')
          .addColumn('id', id, pk)
          .addColumn('resource_id', 'integer', (c) => c.notNull().references('resources.id').onDelete('cascade'))
          .addColumn('time', big, (c) => c.notNull())
          .addColumn('url', 'text', (c) => c.notNull())
          .addColumn('ok', 'integer', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('message', 'text')
          .addColumn('points', 'integer', (c) => c.notNull())
          .addColumn('new_session', 'integer', (c) => c.notNull())
          .addColumn('duration_ms', 'integer', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('poll_log_resource').on('poll_log').columns(['resource_id', 'id']).execute();
      },
      async down(db: AnyDb) {
        await db.schema.dropTable('poll_log').execute();
        await db.schema.dropTable('device_credentials').execute();
        await db.schema.alterTable('resources').dropColumn('polling_timeout_ms').execute();
        await db.schema.alterTable('resources').dropColumn('polling_retransmits').execute();
      },
    },
    '0003_pinned_certificates': {
      async up(db: AnyDb) {
        await db.schema.alterTable('device_credentials').addColumn('x509_certificate', 'text').execute();
      },
      async down(db: AnyDb) {
        await db.schema.alterTable('device_credentials').dropColumn('x509_certificate').execute();
      },
    },
    '0004_dtls_sessions': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('dtls_sessions')
          .addColumn('session_id', 'text', (c) => c.primaryKey())
          .addColumn('state', blob, (c) => c.notNull())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('last_used_at', big, (c) => c.notNull())
          .addColumn('expires_at', big, (c) => c.notNull())
          .execute();
        // The clean-up deletes by expiry, a bounded batch at a time.
        await db.schema.createIndex('dtls_sessions_expires').on('dtls_sessions').column('expires_at').execute();
      },
      async down(db: AnyDb) {
        await db.schema.dropTable('dtls_sessions').execute();
      },
    },
    '0005_api_tokens_and_sessions': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('api_tokens')
          .addColumn('id', id, pk)
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('last_used_at', big)
          .execute();
        // One name per user; the index also serves the per-user listing.
        await db.schema
          .createIndex('api_tokens_user_name')
          .on('api_tokens')
          .columns(['user_id', 'name'])
          .unique()
          .execute();
        // Every existing user keeps the token it has, now named `default`.
        await sql`insert into api_tokens (user_id, name, token_hash, created_at)
                  select id, 'default', token_hash, created_at from users`.execute(db);
        await db.schema
          .createTable('user_sessions')
          .addColumn('id', id, pk)
          .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
          .addColumn('token_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', big, (c) => c.notNull())
          .addColumn('expires_at', big, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('user_sessions_expires').on('user_sessions').column('expires_at').execute();
      },
      async down(db: AnyDb) {
        await db.schema.dropTable('user_sessions').execute();
        await db.schema.dropTable('api_tokens').execute();
      },
    },
    '0006_rate_limits': {
      async up(db: AnyDb) {
        await db.schema
          .createTable('rate_limits')
          .addColumn('key', 'text', (c) => c.notNull())
          .addColumn('window_start', big, (c) => c.notNull())
          .addColumn('hits', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('rate_limits_pk', ['key', 'window_start'])
          .execute();
        // The clean-up deletes old windows.
        await db.schema.createIndex('rate_limits_window').on('rate_limits').column('window_start').execute();
      },
      async down(db: AnyDb) {
        await db.schema.dropTable('rate_limits').execute();
      },
    },
  };
}

/**
 * The one Store interface and its implementation over Kysely. Every query is written once and
 * runs on both engines (SQLite through better-sqlite3, PostgreSQL through pg); see `open.ts`.
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import {
  type ApiTokenRecord,
  type DataPoint,
  type DeviceCredentialRecord,
  type DeviceMode,
  type Parser,
  type ParserKind,
  PlatformError,
  type PollLogEntry,
  type ResourceRecord,
  type StreamPoint,
  type StreamRecord,
  type StreamType,
  type TimeFormat,
  type UserRecord,
  type UserSessionRecord,
} from '../model.ts';
import type {
  ApiTokensTable,
  Database,
  DeviceCredentialsTable,
  Engine,
  ParsersTable,
  PollLogTable,
  ResourcesTable,
  StreamsTable,
  UserSessionsTable,
  UsersTable,
} from './schema.ts';

export interface NewUser {
  username: string;
  passwordHash: string;
  tokenHash: string;
  createdAt: number;
}
export interface NewResource {
  ownerId: number;
  label: string;
  pollingUrl: string | null;
  pollingPeriod: number | null;
  pollingRetransmits?: number | null;
  pollingTimeoutMs?: number | null;
  keyHash: string;
  createdAt: number;
}
export interface NewDeviceCredential {
  resourceId: number;
  mode: DeviceMode;
  label: string | null;
  pskIdentity?: string | null;
  pskKey?: Buffer | null;
  rpkFingerprint?: string | null;
  x509Fingerprint?: string | null;
  x509Name?: string | null;
  x509Ca?: string | null;
  x509Certificate?: string | null;
  createdAt: number;
}
export type NewApiToken = Omit<ApiTokenRecord, 'id' | 'lastUsedAt'>;
export type NewUserSession = Omit<UserSessionRecord, 'id'>;
export type NewPollLogEntry = Omit<PollLogEntry, 'id'>;

/** A window of a list in id order: `limit` rows (all when absent) after skipping `offset`. */
export interface StorePage {
  limit?: number;
  offset?: number;
}

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

/**
 * LIMIT/OFFSET for a page, done by the database. SQLite accepts OFFSET only after a LIMIT, so an
 * offset alone gets the largest LIMIT both engines take.
 */
function window<Q extends { limit(n: number): Q; offset(n: number): Q }>(q: Q, page: StorePage | undefined): Q {
  if (!page) return q;
  const offset = page.offset ?? 0;
  if (page.limit === undefined && offset === 0) return q;
  const limited = q.limit(page.limit ?? 2_147_483_647);
  return offset > 0 ? limited.offset(offset) : limited;
}
/** A shared DTLS session as stored: the state is sealed by src/platform/dtls-sessions.ts, opaque here. */
export interface DtlsSessionRecord {
  /** The session ID, lower-case hex. */
  sessionId: string;
  state: Buffer;
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number;
}
export interface NewStream {
  resourceId: number;
  label: string;
  unit: string | null;
  type: StreamType;
  public: boolean;
  retentionMaxPoints: number | null;
  retentionMaxAgeMs: number | null;
  keyHash: string;
  createdAt: number;
}
export interface NewParser {
  resourceId: number;
  streamId: number;
  kind: ParserKind;
  expression: string;
  timeFormat: TimeFormat;
  createdAt: number;
}

export interface PointQuery {
  /** Inclusive lower bound, ms. */
  from?: number;
  /** Inclusive upper bound, ms. */
  until?: number;
  /** The newest `limit` points of the range are returned (oldest first). */
  limit: number;
}

/** Storage for the platform. Methods return undefined / false for rows that do not exist. */
export interface Store {
  readonly engine: Engine;
  /** Runs `fn` in one transaction: everything or nothing. Nested calls join the outer one. */
  transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;

  createUser(u: NewUser): Promise<UserRecord>;
  getUser(id: number): Promise<UserRecord | undefined>;
  getUserByUsername(username: string): Promise<UserRecord | undefined>;
  getUserByTokenHash(tokenHash: string): Promise<UserRecord | undefined>;
  updateUser(
    id: number,
    patch: Partial<Pick<UserRecord, 'passwordHash' | 'tokenHash'>>,
  ): Promise<UserRecord | undefined>;
  deleteUser(id: number): Promise<boolean>;

  /** A named API token; a name the user already has is a 409. */
  createApiToken(t: NewApiToken): Promise<ApiTokenRecord>;
  listApiTokens(userId: number, page?: StorePage): Promise<ApiTokenRecord[]>;
  getApiToken(id: number): Promise<ApiTokenRecord | undefined>;
  getApiTokenByHash(tokenHash: string): Promise<ApiTokenRecord | undefined>;
  getApiTokenByName(userId: number, name: string): Promise<ApiTokenRecord | undefined>;
  /** Replaces the token's secret (rotation): the old one stops working. */
  setApiTokenHash(id: number, tokenHash: string, createdAt: number): Promise<ApiTokenRecord | undefined>;
  touchApiToken(id: number, now: number): Promise<void>;
  deleteApiToken(id: number): Promise<boolean>;

  createUserSession(s: NewUserSession): Promise<UserSessionRecord>;
  getUserSessionByHash(tokenHash: string): Promise<UserSessionRecord | undefined>;
  deleteUserSession(id: number): Promise<boolean>;
  /** Ends every session of a user (a password change); returns how many. */
  deleteUserSessionsOf(userId: number): Promise<number>;
  /** Deletes at most `limit` sessions expired by `now`; returns how many. */
  deleteExpiredUserSessions(now: number, limit: number): Promise<number>;

  createResource(r: NewResource): Promise<ResourceRecord>;
  getResource(id: number): Promise<ResourceRecord | undefined>;
  getResourceByKeyHash(keyHash: string): Promise<ResourceRecord | undefined>;
  listResources(ownerId: number, page?: StorePage): Promise<ResourceRecord[]>;
  /** Resources with a polling URL, for the poller (issue 6). */
  listPolledResources(): Promise<ResourceRecord[]>;
  updateResource(id: number, patch: ResourceUpdate): Promise<ResourceRecord | undefined>;
  deleteResource(id: number): Promise<boolean>;
  /**
   * Inside a transaction: takes the resource's row lock (a no-op UPDATE, portable to both engines)
   * so that two first payloads cannot both create its streams. Returns false when it is gone.
   */
  lockResource(id: number): Promise<boolean>;

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

  createParser(p: NewParser): Promise<Parser>;
  getParser(id: number): Promise<Parser | undefined>;
  listParsers(resourceId: number, page?: StorePage): Promise<Parser[]>;
  updateParser(
    id: number,
    patch: Partial<Pick<Parser, 'streamId' | 'kind' | 'expression' | 'timeFormat'>>,
  ): Promise<Parser | undefined>;
  deleteParser(id: number): Promise<boolean>;

  /**
   * Stores points (a later point at the same (stream, time) replaces the value), moves each
   * stream's `lastTime`, and applies each stream's retention — all in one transaction.
   * Returns how many points were written.
   */
  insertPoints(points: StreamPoint[], now: number): Promise<number>;
  queryPoints(streamId: number, q: PointQuery): Promise<DataPoint[]>;
  /** Deletes points in [from, until] (all when both are absent); returns how many. */
  deletePoints(streamId: number, q: { from?: number; until?: number }): Promise<number>;

  /** Binds a device identity to a resource; a taken PSK identity or fingerprint is a 409. */
  createDeviceCredential(c: NewDeviceCredential): Promise<DeviceCredentialRecord>;
  getDeviceCredential(id: number): Promise<DeviceCredentialRecord | undefined>;
  listDeviceCredentials(resourceId: number, page?: StorePage): Promise<DeviceCredentialRecord[]>;
  deleteDeviceCredential(id: number): Promise<boolean>;
  /** The PSK credential with this identity (the DTLS server's key lookup). */
  findPskCredential(identity: string): Promise<DeviceCredentialRecord | undefined>;
  findRpkCredential(fingerprint: string): Promise<DeviceCredentialRecord | undefined>;
  /** X.509 credentials pinning `fingerprint` or naming one of `names` (subject, SANs). */
  findX509Credentials(fingerprint: string, names: string[]): Promise<DeviceCredentialRecord[]>;
  /** Every bound CA and pinned certificate (PEM, distinct): the DTLS server's X.509 trust anchors. */
  listX509TrustMaterial(): Promise<string[]>;

  /** Appends a poll outcome and keeps only the newest `keep` entries of that resource. */
  addPollLog(e: NewPollLogEntry, keep: number): Promise<PollLogEntry>;
  /** The newest `limit` poll outcomes of a resource, newest first. */
  listPollLog(resourceId: number, limit: number, offset?: number): Promise<PollLogEntry[]>;
  /** How many rows a list has in all (the `X-Total-Count` of a page). */
  countList(list: ListName, parentId: number): Promise<number>;

  /** Stores a DTLS session for the other front ends; an existing row with the same ID is replaced. */
  putDtlsSession(s: DtlsSessionRecord): Promise<void>;
  /** The session with this ID unless it has expired by `now`; its `last_used_at` becomes `now`. */
  getDtlsSession(sessionId: string, now: number): Promise<DtlsSessionRecord | undefined>;
  deleteDtlsSession(sessionId: string): Promise<boolean>;
  /** Deletes at most `limit` sessions expired by `now` (oldest expiry first); returns how many. */
  deleteExpiredDtlsSessions(now: number, limit: number): Promise<number>;
  /** How many DTLS sessions are stored, expired ones included (monitoring, tests). */
  countDtlsSessions(): Promise<number>;

  /** Closes the connection(s). Further calls fail. */
  close(): Promise<void>;
}

export type ResourceUpdate = Partial<
  Pick<ResourceRecord, 'label' | 'pollingUrl' | 'pollingPeriod' | 'pollingRetransmits' | 'pollingTimeoutMs' | 'keyHash'>
>;

// ---------------------------------------------------------------------------------------------

const user = (r: Selectable<UsersTable>): UserRecord => ({
  id: r.id,
  username: r.username,
  passwordHash: r.password_hash,
  tokenHash: r.token_hash,
  createdAt: Number(r.created_at),
});

const apiToken = (r: Selectable<ApiTokensTable>): ApiTokenRecord => ({
  id: r.id,
  userId: r.user_id,
  name: r.name,
  tokenHash: r.token_hash,
  createdAt: Number(r.created_at),
  lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
});

const userSession = (r: Selectable<UserSessionsTable>): UserSessionRecord => ({
  id: r.id,
  userId: r.user_id,
  tokenHash: r.token_hash,
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
});

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

const parser = (r: Selectable<ParsersTable>): Parser => ({
  id: r.id,
  resourceId: r.resource_id,
  streamId: r.stream_id,
  kind: r.kind,
  expression: r.expression,
  timeFormat: r.time_format,
  createdAt: Number(r.created_at),
});

const deviceCredential = (r: Selectable<DeviceCredentialsTable>): DeviceCredentialRecord => ({
  id: r.id,
  resourceId: r.resource_id,
  mode: r.mode,
  label: r.label,
  pskIdentity: r.psk_identity,
  pskKey: r.psk_key === null ? null : Buffer.from(r.psk_key, 'hex'),
  rpkFingerprint: r.rpk_fingerprint,
  x509Fingerprint: r.x509_fingerprint,
  x509Name: r.x509_name,
  x509Ca: r.x509_ca,
  x509Certificate: r.x509_certificate,
  createdAt: Number(r.created_at),
});

const pollLog = (r: Selectable<PollLogTable>): PollLogEntry => ({
  id: r.id,
  resourceId: r.resource_id,
  time: Number(r.time),
  url: r.url,
  ok: r.ok === 1,
  status: r.status,
  message: r.message,
  points: r.points,
  newSession: r.new_session === 1,
  durationMs: r.duration_ms,
});

/** Maps driver errors for constraint violations to PlatformErrors; rethrows anything else. */
function mapError(err: unknown): never {
  const e = err as { code?: string; message?: string };
  // SQLite: SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY; PostgreSQL: SQLSTATE 23505 unique_violation.
  if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === '23505') {
    throw new PlatformError(409, 'already exists');
  }
  // SQLITE_CONSTRAINT_FOREIGNKEY / 23503 foreign_key_violation: the parent went away meanwhile.
  if (e.code === 'SQLITE_CONSTRAINT_FOREIGNKEY' || e.code === '23503') {
    throw new PlatformError(404, 'the parent object no longer exists');
  }
  throw err;
}

/** Rows per INSERT: 4 parameters each stays well under SQLite's and PostgreSQL's parameter limits. */
const INSERT_CHUNK = 500;

export class KyselyStore implements Store {
  constructor(
    private readonly db: Kysely<Database>,
    readonly engine: Engine,
    private readonly inTransaction = false,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {}

  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.inTransaction) return fn(this);
    try {
      return await this.db
        .transaction()
        .execute((trx: Transaction<Database>) => fn(new KyselyStore(trx, this.engine, true)));
    } catch (err) {
      if (err instanceof PlatformError) throw err;
      return mapError(err);
    }
  }

  private async run<T>(q: () => Promise<T>): Promise<T> {
    try {
      return await q();
    } catch (err) {
      return mapError(err);
    }
  }

  // --- users

  createUser(u: NewUser): Promise<UserRecord> {
    return this.run(async () =>
      user(
        await this.db
          .insertInto('users')
          .values({
            username: u.username,
            password_hash: u.passwordHash,
            token_hash: u.tokenHash,
            created_at: u.createdAt,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }
  async getUser(id: number): Promise<UserRecord | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return r && user(r);
  }
  async getUserByUsername(username: string): Promise<UserRecord | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
    return r && user(r);
  }
  async getUserByTokenHash(tokenHash: string): Promise<UserRecord | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return r && user(r);
  }
  updateUser(
    id: number,
    patch: Partial<Pick<UserRecord, 'passwordHash' | 'tokenHash'>>,
  ): Promise<UserRecord | undefined> {
    const set: Partial<Selectable<UsersTable>> = {};
    if (patch.passwordHash !== undefined) set.password_hash = patch.passwordHash;
    if (patch.tokenHash !== undefined) set.token_hash = patch.tokenHash;
    if (Object.keys(set).length === 0) return this.getUser(id);
    return this.run(async () => {
      const r = await this.db.updateTable('users').set(set).where('id', '=', id).returningAll().executeTakeFirst();
      return r && user(r);
    });
  }
  async deleteUser(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  // --- resources

  createResource(r: NewResource): Promise<ResourceRecord> {
    return this.run(async () =>
      resource(
        await this.db
          .insertInto('resources')
          .values({
            owner_id: r.ownerId,
            label: r.label,
            polling_url: r.pollingUrl,
            polling_period: r.pollingPeriod,
            polling_retransmits: r.pollingRetransmits ?? null,
            polling_timeout_ms: r.pollingTimeoutMs ?? null,
            key_hash: r.keyHash,
            created_at: r.createdAt,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }
  async getResource(id: number): Promise<ResourceRecord | undefined> {
    const r = await this.db.selectFrom('resources').selectAll().where('id', '=', id).executeTakeFirst();
    return r && resource(r);
  }
  async getResourceByKeyHash(keyHash: string): Promise<ResourceRecord | undefined> {
    const r = await this.db.selectFrom('resources').selectAll().where('key_hash', '=', keyHash).executeTakeFirst();
    return r && resource(r);
  }
  async listResources(ownerId: number, page?: StorePage): Promise<ResourceRecord[]> {
    const rows = await window(
      this.db.selectFrom('resources').selectAll().where('owner_id', '=', ownerId).orderBy('id'),
      page,
    ).execute();
    return rows.map(resource);
  }
  async listPolledResources(): Promise<ResourceRecord[]> {
    const rows = await this.db
      .selectFrom('resources')
      .selectAll()
      .where('polling_url', 'is not', null)
      .orderBy('id')
      .execute();
    return rows.map(resource);
  }
  updateResource(id: number, patch: ResourceUpdate): Promise<ResourceRecord | undefined> {
    const set: Partial<Selectable<ResourcesTable>> = {};
    if (patch.label !== undefined) set.label = patch.label;
    if (patch.pollingUrl !== undefined) set.polling_url = patch.pollingUrl;
    if (patch.pollingPeriod !== undefined) set.polling_period = patch.pollingPeriod;
    if (patch.pollingRetransmits !== undefined) set.polling_retransmits = patch.pollingRetransmits;
    if (patch.pollingTimeoutMs !== undefined) set.polling_timeout_ms = patch.pollingTimeoutMs;
    if (patch.keyHash !== undefined) set.key_hash = patch.keyHash;
    if (Object.keys(set).length === 0) return this.getResource(id);
    return this.run(async () => {
      const r = await this.db.updateTable('resources').set(set).where('id', '=', id).returningAll().executeTakeFirst();
      return r && resource(r);
    });
  }
  async deleteResource(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('resources').where('id', '=', id).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  async lockResource(id: number): Promise<boolean> {
    const r = await this.db
      .updateTable('resources')
      .set((eb) => ({ label: eb.ref('label') }))
      .where('id', '=', id)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  // --- streams

  createStream(s: NewStream): Promise<StreamRecord> {
    return this.run(async () =>
      stream(
        await this.db
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
  }
  /**
   * Streams with `last_time`, the newest point's time: a max() over the (stream_id, time) primary
   * key is one index probe, cheaper than keeping a column up to date on every insert.
   */
  private streams() {
    return this.db
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
  async getStream(id: number): Promise<StreamRecord | undefined> {
    const r = await this.streams().where('streams.id', '=', id).executeTakeFirst();
    return r && stream(r);
  }
  async getStreamByKeyHash(keyHash: string): Promise<StreamRecord | undefined> {
    const r = await this.streams().where('streams.key_hash', '=', keyHash).executeTakeFirst();
    return r && stream(r);
  }
  async listStreams(resourceId: number, page?: StorePage): Promise<StreamRecord[]> {
    const rows = await window(
      this.streams().where('streams.resource_id', '=', resourceId).orderBy('streams.id'),
      page,
    ).execute();
    return rows.map(stream);
  }
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
    return this.run(async () => {
      const r = await this.db.updateTable('streams').set(set).where('id', '=', id).executeTakeFirst();
      return r.numUpdatedRows > 0n ? this.getStream(id) : undefined;
    });
  }
  async deleteStream(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('streams').where('id', '=', id).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  // --- parsers

  createParser(p: NewParser): Promise<Parser> {
    return this.run(async () =>
      parser(
        await this.db
          .insertInto('parsers')
          .values({
            resource_id: p.resourceId,
            stream_id: p.streamId,
            kind: p.kind,
            expression: p.expression,
            time_format: p.timeFormat,
            created_at: p.createdAt,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }
  async getParser(id: number): Promise<Parser | undefined> {
    const r = await this.db.selectFrom('parsers').selectAll().where('id', '=', id).executeTakeFirst();
    return r && parser(r);
  }
  async listParsers(resourceId: number, page?: StorePage): Promise<Parser[]> {
    const rows = await window(
      this.db.selectFrom('parsers').selectAll().where('resource_id', '=', resourceId).orderBy('id'),
      page,
    ).execute();
    return rows.map(parser);
  }
  updateParser(
    id: number,
    patch: Partial<Pick<Parser, 'streamId' | 'kind' | 'expression' | 'timeFormat'>>,
  ): Promise<Parser | undefined> {
    const set: Partial<Selectable<ParsersTable>> = {};
    if (patch.streamId !== undefined) set.stream_id = patch.streamId;
    if (patch.kind !== undefined) set.kind = patch.kind;
    if (patch.expression !== undefined) set.expression = patch.expression;
    if (patch.timeFormat !== undefined) set.time_format = patch.timeFormat;
    if (Object.keys(set).length === 0) return this.getParser(id);
    return this.run(async () => {
      const r = await this.db.updateTable('parsers').set(set).where('id', '=', id).returningAll().executeTakeFirst();
      return r && parser(r);
    });
  }
  async deleteParser(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('parsers').where('id', '=', id).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }

  // --- data points

  insertPoints(points: StreamPoint[], now: number): Promise<number> {
    if (points.length === 0) return Promise.resolve(0);
    return this.transaction(async (txStore) => {
      const db = (txStore as KyselyStore).db;
      for (let i = 0; i < points.length; i += INSERT_CHUNK) {
        const rows = points.slice(i, i + INSERT_CHUNK).map((p) => ({
          stream_id: p.streamId,
          time: p.time,
          num: typeof p.value === 'number' ? p.value : null,
          txt: typeof p.value === 'string' ? p.value : null,
        }));
        await db
          .insertInto('data_points')
          .values(rows)
          // (stream, time) is unique; a repeated time replaces the value (an idempotent retry).
          .onConflict((oc) =>
            oc
              .columns(['stream_id', 'time'])
              .doUpdateSet((eb) => ({ num: eb.ref('excluded.num'), txt: eb.ref('excluded.txt') })),
          )
          .execute();
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
      return points.length;
    });
  }

  async queryPoints(streamId: number, q: PointQuery): Promise<DataPoint[]> {
    let query = this.db.selectFrom('data_points').select(['time', 'num', 'txt']).where('stream_id', '=', streamId);
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
  }

  async deletePoints(streamId: number, q: { from?: number; until?: number }): Promise<number> {
    let del = this.db.deleteFrom('data_points').where('stream_id', '=', streamId);
    if (q.from !== undefined) del = del.where('time', '>=', q.from);
    if (q.until !== undefined) del = del.where('time', '<=', q.until);
    const r = await del.executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  // --- device credentials

  createDeviceCredential(c: NewDeviceCredential): Promise<DeviceCredentialRecord> {
    return this.run(async () =>
      deviceCredential(
        await this.db
          .insertInto('device_credentials')
          .values({
            resource_id: c.resourceId,
            mode: c.mode,
            label: c.label,
            psk_identity: c.pskIdentity ?? null,
            psk_key: c.pskKey ? c.pskKey.toString('hex') : null,
            rpk_fingerprint: c.rpkFingerprint ?? null,
            x509_fingerprint: c.x509Fingerprint ?? null,
            x509_name: c.x509Name ?? null,
            x509_ca: c.x509Ca ?? null,
            x509_certificate: c.x509Certificate ?? null,
            created_at: c.createdAt,
          })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }
  async getDeviceCredential(id: number): Promise<DeviceCredentialRecord | undefined> {
    const r = await this.db.selectFrom('device_credentials').selectAll().where('id', '=', id).executeTakeFirst();
    return r && deviceCredential(r);
  }
  async listDeviceCredentials(resourceId: number, page?: StorePage): Promise<DeviceCredentialRecord[]> {
    const rows = await window(
      this.db.selectFrom('device_credentials').selectAll().where('resource_id', '=', resourceId).orderBy('id'),
      page,
    ).execute();
    return rows.map(deviceCredential);
  }
  async deleteDeviceCredential(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('device_credentials').where('id', '=', id).executeTakeFirst();
    return r.numDeletedRows > 0n;
  }
  async findPskCredential(identity: string): Promise<DeviceCredentialRecord | undefined> {
    const r = await this.db
      .selectFrom('device_credentials')
      .selectAll()
      .where('psk_identity', '=', identity)
      .executeTakeFirst();
    return r && deviceCredential(r);
  }
  async findRpkCredential(fingerprint: string): Promise<DeviceCredentialRecord | undefined> {
    const r = await this.db
      .selectFrom('device_credentials')
      .selectAll()
      .where('rpk_fingerprint', '=', fingerprint)
      .executeTakeFirst();
    return r && deviceCredential(r);
  }
  async findX509Credentials(fingerprint: string, names: string[]): Promise<DeviceCredentialRecord[]> {
    const rows = await this.db
      .selectFrom('device_credentials')
      .selectAll()
      .where((eb) =>
        names.length > 0
          ? eb.or([eb('x509_fingerprint', '=', fingerprint), eb('x509_name', 'in', names)])
          : eb('x509_fingerprint', '=', fingerprint),
      )
      .orderBy('id')
      .execute();
    return rows.map(deviceCredential);
  }

  async listX509TrustMaterial(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('device_credentials')
      .select(['x509_ca', 'x509_certificate'])
      .where('mode', '=', 'x509')
      .execute();
    const out = new Set<string>();
    for (const r of rows) {
      if (r.x509_ca) out.add(r.x509_ca);
      if (r.x509_certificate) out.add(r.x509_certificate);
    }
    return [...out];
  }

  // --- poll log

  addPollLog(e: NewPollLogEntry, keep: number): Promise<PollLogEntry> {
    return this.transaction(async (tx) => {
      const db = (tx as KyselyStore).db;
      const row = await db
        .insertInto('poll_log')
        .values({
          resource_id: e.resourceId,
          time: e.time,
          url: e.url,
          ok: e.ok ? 1 : 0,
          status: e.status,
          message: e.message,
          points: e.points,
          new_session: e.newSession ? 1 : 0,
          duration_ms: e.durationMs,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      // Keep the newest `keep`: everything at or below the keep-th newest id minus one goes.
      const edge = await db
        .selectFrom('poll_log')
        .select('id')
        .where('resource_id', '=', e.resourceId)
        .orderBy('id', 'desc')
        .offset(keep)
        .limit(1)
        .executeTakeFirst();
      if (edge)
        await db.deleteFrom('poll_log').where('resource_id', '=', e.resourceId).where('id', '<=', edge.id).execute();
      return pollLog(row);
    });
  }
  async listPollLog(resourceId: number, limit: number, offset = 0): Promise<PollLogEntry[]> {
    const rows = await window(
      this.db.selectFrom('poll_log').selectAll().where('resource_id', '=', resourceId).orderBy('id', 'desc'),
      { limit, offset },
    ).execute();
    return rows.map(pollLog);
  }
  async countList(list: ListName, parentId: number): Promise<number> {
    // The table and column come from LIST_PARENT, never from the caller's text.
    const r = await this.db
      .selectFrom(list as 'resources')
      .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
      .where(LIST_PARENT[list] as 'owner_id', '=', parentId)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  // --- shared DTLS sessions

  // --- API tokens and sign-in sessions (0005)

  createApiToken(t: NewApiToken): Promise<ApiTokenRecord> {
    return this.run(async () =>
      apiToken(
        await this.db
          .insertInto('api_tokens')
          .values({ user_id: t.userId, name: t.name, token_hash: t.tokenHash, created_at: t.createdAt })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }
  async listApiTokens(userId: number, page?: StorePage): Promise<ApiTokenRecord[]> {
    const rows = await window(
      this.db.selectFrom('api_tokens').selectAll().where('user_id', '=', userId).orderBy('id'),
      page,
    ).execute();
    return rows.map(apiToken);
  }
  async getApiToken(id: number): Promise<ApiTokenRecord | undefined> {
    const r = await this.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return r && apiToken(r);
  }
  async getApiTokenByHash(tokenHash: string): Promise<ApiTokenRecord | undefined> {
    const r = await this.db.selectFrom('api_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
    return r && apiToken(r);
  }
  async getApiTokenByName(userId: number, name: string): Promise<ApiTokenRecord | undefined> {
    const r = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('user_id', '=', userId)
      .where('name', '=', name)
      .executeTakeFirst();
    return r && apiToken(r);
  }
  setApiTokenHash(id: number, tokenHash: string, createdAt: number): Promise<ApiTokenRecord | undefined> {
    return this.run(async () => {
      const r = await this.db
        .updateTable('api_tokens')
        .set({ token_hash: tokenHash, created_at: createdAt, last_used_at: null })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
      return r && apiToken(r);
    });
  }
  async touchApiToken(id: number, now: number): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
  }
  async deleteApiToken(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('api_tokens').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  createUserSession(s: NewUserSession): Promise<UserSessionRecord> {
    return this.run(async () =>
      userSession(
        await this.db
          .insertInto('user_sessions')
          .values({ user_id: s.userId, token_hash: s.tokenHash, created_at: s.createdAt, expires_at: s.expiresAt })
          .returningAll()
          .executeTakeFirstOrThrow(),
      ),
    );
  }
  async getUserSessionByHash(tokenHash: string): Promise<UserSessionRecord | undefined> {
    const r = await this.db
      .selectFrom('user_sessions')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return r && userSession(r);
  }
  async deleteUserSession(id: number): Promise<boolean> {
    const r = await this.db.deleteFrom('user_sessions').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  async deleteUserSessionsOf(userId: number): Promise<number> {
    const r = await this.db.deleteFrom('user_sessions').where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
  async deleteExpiredUserSessions(now: number, limit: number): Promise<number> {
    // A bounded batch, like the DTLS sessions' clean-up.
    const r = await this.db
      .deleteFrom('user_sessions')
      .where('id', 'in', (eb) =>
        eb.selectFrom('user_sessions').select('id').where('expires_at', '<=', now).orderBy('expires_at').limit(limit),
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async putDtlsSession(r: DtlsSessionRecord): Promise<void> {
    const row = {
      session_id: r.sessionId,
      state: r.state,
      created_at: r.createdAt,
      last_used_at: r.lastUsedAt,
      expires_at: r.expiresAt,
    };
    await this.db
      .insertInto('dtls_sessions')
      .values(row)
      .onConflict((oc) =>
        oc.column('session_id').doUpdateSet({
          state: row.state,
          created_at: row.created_at,
          last_used_at: row.last_used_at,
          expires_at: row.expires_at,
        }),
      )
      .execute();
  }
  async getDtlsSession(sessionId: string, now: number): Promise<DtlsSessionRecord | undefined> {
    const r = await this.db
      .selectFrom('dtls_sessions')
      .selectAll()
      .where('session_id', '=', sessionId)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (!r) return undefined;
    await this.db.updateTable('dtls_sessions').set({ last_used_at: now }).where('session_id', '=', sessionId).execute();
    return {
      sessionId: r.session_id,
      // better-sqlite3 and pg both hand BLOB/bytea back as a Buffer; copy defensively all the same.
      state: Buffer.from(r.state),
      createdAt: Number(r.created_at),
      lastUsedAt: now,
      expiresAt: Number(r.expires_at),
    };
  }
  async deleteDtlsSession(sessionId: string): Promise<boolean> {
    const r = await this.db.deleteFrom('dtls_sessions').where('session_id', '=', sessionId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
  async deleteExpiredDtlsSessions(now: number, limit: number): Promise<number> {
    // A bounded batch: one DELETE never holds the table for long, whatever piled up.
    const r = await this.db
      .deleteFrom('dtls_sessions')
      .where('session_id', 'in', (eb) =>
        eb
          .selectFrom('dtls_sessions')
          .select('session_id')
          .where('expires_at', '<=', now)
          .orderBy('expires_at')
          .limit(limit),
      )
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
  async countDtlsSessions(): Promise<number> {
    const r = await this.db
      .selectFrom('dtls_sessions')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  close(): Promise<void> {
    return this.onClose();
  }
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

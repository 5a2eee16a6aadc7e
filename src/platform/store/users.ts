/** Users, their named API tokens and sign-in sessions. */
import type { Selectable } from 'kysely';
import type { ApiTokenRecord, UserRecord, UserSessionRecord } from '../model.ts';
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
import type { ApiTokensTable, UserSessionsTable, UsersTable } from './schema.ts';

export type NewUser = NewRow<UsersTable>;

export type NewApiToken = Omit<NewRow<ApiTokensTable>, 'lastUsedAt'>;

export type NewUserSession = NewRow<UserSessionsTable>;

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

export interface UserStore {
  createUser(u: NewUser): Promise<UserRecord>;
  getUser(id: number): Promise<UserRecord | undefined>;
  getUserByUsername(username: string): Promise<UserRecord | undefined>;
  getUserByTokenHash(tokenHash: string): Promise<UserRecord | undefined>;
  updateUser(
    id: number,
    patch: Pick<RowPatch<UsersTable>, 'passwordHash' | 'tokenHash'>,
  ): Promise<UserRecord | undefined>;
  deleteUser(id: number): Promise<boolean>;
  /** A named API token; a name the user already has is a Conflict. */
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
}

export function userStore({ db, run }: StoreContext): UserStore {
  return {
    createUser(u: NewUser): Promise<UserRecord> {
      return run(async () =>
        user(
          await insertOne(db, 'users', {
            username: u.username,
            password_hash: u.passwordHash,
            token_hash: u.tokenHash,
            created_at: u.createdAt,
          }),
        ),
      );
    },
    async getUser(id: number): Promise<UserRecord | undefined> {
      return findOne(db, 'users', 'id', id, user);
    },
    async getUserByUsername(username: string): Promise<UserRecord | undefined> {
      return findOne(db, 'users', 'username', username, user);
    },
    async getUserByTokenHash(tokenHash: string): Promise<UserRecord | undefined> {
      return findOne(db, 'users', 'token_hash', tokenHash, user);
    },
    updateUser(
      id: number,
      patch: Pick<RowPatch<UsersTable>, 'passwordHash' | 'tokenHash'>,
    ): Promise<UserRecord | undefined> {
      return updateById({ db, run }, 'users', id, patch, ['passwordHash', 'tokenHash'], user);
    },
    async deleteUser(id: number): Promise<boolean> {
      return deleteById(db, 'users', id);
    },
    createApiToken(t: NewApiToken): Promise<ApiTokenRecord> {
      return run(async () =>
        apiToken(
          await insertOne(db, 'api_tokens', {
            user_id: t.userId,
            name: t.name,
            token_hash: t.tokenHash,
            created_at: t.createdAt,
          }),
        ),
      );
    },
    async listApiTokens(userId: number, page?: StorePage): Promise<ApiTokenRecord[]> {
      const rows = await window(
        db.selectFrom('api_tokens').selectAll().where('user_id', '=', userId).orderBy('id'),
        page,
      ).execute();
      return rows.map(apiToken);
    },
    async getApiToken(id: number): Promise<ApiTokenRecord | undefined> {
      return findOne(db, 'api_tokens', 'id', id, apiToken);
    },
    async getApiTokenByHash(tokenHash: string): Promise<ApiTokenRecord | undefined> {
      return findOne(db, 'api_tokens', 'token_hash', tokenHash, apiToken);
    },
    async getApiTokenByName(userId: number, name: string): Promise<ApiTokenRecord | undefined> {
      const r = await db
        .selectFrom('api_tokens')
        .selectAll()
        .where('user_id', '=', userId)
        .where('name', '=', name)
        .executeTakeFirst();
      return r && apiToken(r);
    },
    setApiTokenHash(id: number, tokenHash: string, createdAt: number): Promise<ApiTokenRecord | undefined> {
      return run(async () => {
        const r = await db
          .updateTable('api_tokens')
          .set({ token_hash: tokenHash, created_at: createdAt, last_used_at: null })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirst();
        return r && apiToken(r);
      });
    },
    async touchApiToken(id: number, now: number): Promise<void> {
      await db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', id).execute();
    },
    async deleteApiToken(id: number): Promise<boolean> {
      return deleteById(db, 'api_tokens', id);
    },
    createUserSession(s: NewUserSession): Promise<UserSessionRecord> {
      return run(async () =>
        userSession(
          await insertOne(db, 'user_sessions', {
            user_id: s.userId,
            token_hash: s.tokenHash,
            created_at: s.createdAt,
            expires_at: s.expiresAt,
          }),
        ),
      );
    },
    async getUserSessionByHash(tokenHash: string): Promise<UserSessionRecord | undefined> {
      return findOne(db, 'user_sessions', 'token_hash', tokenHash, userSession);
    },
    async deleteUserSession(id: number): Promise<boolean> {
      return deleteById(db, 'user_sessions', id);
    },
    async deleteUserSessionsOf(userId: number): Promise<number> {
      const r = await db.deleteFrom('user_sessions').where('user_id', '=', userId).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
    async deleteExpiredUserSessions(now: number, limit: number): Promise<number> {
      // A bounded batch, like the DTLS sessions' clean-up.
      const r = await db
        .deleteFrom('user_sessions')
        .where('id', 'in', (eb) =>
          eb.selectFrom('user_sessions').select('id').where('expires_at', '<=', now).orderBy('expires_at').limit(limit),
        )
        .executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}

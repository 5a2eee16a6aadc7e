/** Users, sign-in sessions (`login`/`logout`) and named API tokens. */

import { Conflict, Forbidden, Invalid, NotFound, Unauthenticated } from '../errors.ts';
import { type ApiToken, type Caller, LIMITS, type User, type UserRecord } from '../model.ts';
import {
  checkPage,
  DEFAULT_TOKEN_NAME,
  MAX_API_TOKENS,
  type PageRequest,
  SESSION_SWEEP,
  ServiceCore,
  strip,
  stripToken,
} from './core.ts';
import {
  checkPassword,
  DUMMY_PASSWORD_RECORD,
  hashPassword,
  hashSecret,
  newSecret,
  sameHash,
  verifyPassword,
} from './secrets.ts';

export class UserService extends ServiceCore {
  // -------------------------------------------------------------------------------------------
  // Users

  /** Creates a user; returns it with its API token, which is shown only now. */
  async createUser(
    caller: Caller,
    input: { username: string; password: string },
  ): Promise<{ user: User; token: string }> {
    if (this.signup === 'admin' && caller.kind !== 'admin') {
      throw caller.kind === 'anonymous'
        ? new Unauthenticated('creating users needs the admin token')
        : new Forbidden('creating users needs the admin token');
    }
    if (!/^[A-Za-z0-9_.-]+$/.test(input.username) || input.username.length > LIMITS.usernameLength) {
      throw new Invalid(`username must be 1–${LIMITS.usernameLength} of A-Z a-z 0-9 _ . -`);
    }
    checkPassword(input.password);
    const token = newSecret('sst');
    const passwordHash = await hashPassword(input.password);
    const createdAt = this.now();
    // The user and its first named token ("default") together, or neither.
    const rec = await this.store.transaction(async (tx) => {
      const u = await tx.createUser({
        username: input.username,
        passwordHash,
        tokenHash: hashSecret(token),
        createdAt,
      });
      await tx.createApiToken({ userId: u.id, name: DEFAULT_TOKEN_NAME, tokenHash: hashSecret(token), createdAt });
      return u;
    });
    return { user: strip(rec), token };
  }

  /**
   * Exchanges username and password for a new sign-in session (`ssn_…`) that expires after the
   * configured lifetime. The user's API tokens are left alone: signing in to the dashboard must
   * not break the scripts and devices that use them.
   */
  async login(input: {
    username: string;
    password: string;
  }): Promise<{ user: User; token: string; expiresAt: number }> {
    const rec = await this.store.getUserByUsername(input.username);
    // Check a password even for an unknown user so that timing does not tell which names exist.
    const ok = await verifyPassword(input.password, rec?.passwordHash ?? DUMMY_PASSWORD_RECORD);
    if (!rec || !ok) throw new Unauthenticated('wrong username or password');
    const now = this.now();
    // Sessions nobody signed out of pile up otherwise; a bounded batch per sign-in keeps up with them.
    await this.store.deleteExpiredUserSessions(now, SESSION_SWEEP);
    const token = newSecret('ssn');
    const expiresAt = now + this.sessionLifetimeMs;
    await this.store.createUserSession({ userId: rec.id, tokenHash: hashSecret(token), createdAt: now, expiresAt });
    return { user: strip(rec), token, expiresAt };
  }

  /** Ends the sign-in session whose token this is (`POST /logout`); an API token is Invalid. */
  async logout(secret: string | undefined): Promise<void> {
    if (secret === undefined || secret === '') throw new Unauthenticated('authentication required: the session token');
    if (!secret.startsWith('ssn_')) throw new Invalid('not a session token: only a session (POST /login) signs out');
    const h = hashSecret(secret);
    const s = await this.store.getUserSessionByHash(h);
    if (!s || !sameHash(s.tokenHash, h)) throw new Unauthenticated('invalid token or key');
    await this.store.deleteUserSession(s.id);
  }

  // -------------------------------------------------------------------------------------------
  // Named API tokens

  /** The user's API tokens, without their secrets. */
  async listTokens(caller: Caller, uid: number, page?: PageRequest): Promise<ApiToken[]> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    const w = checkPage(page);
    await this.userRecord(uid);
    await this.total(page, 'api_tokens', uid);
    return (await this.store.listApiTokens(uid, w)).map(stripToken);
  }

  /** A new named API token; its secret is returned only now. A name the user already has is a Conflict. */
  async createToken(
    caller: Caller,
    uid: number,
    input: { name: string },
  ): Promise<{ token: ApiToken; secret: string }> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    await this.userRecord(uid);
    const name = input.name.trim();
    if (name.length === 0 || name.length > LIMITS.labelLength) {
      throw new Invalid(`name must be 1–${LIMITS.labelLength} characters`);
    }
    if ((await this.store.listApiTokens(uid)).length >= MAX_API_TOKENS) {
      throw new Conflict(`at most ${MAX_API_TOKENS} API tokens per user: revoke one first`);
    }
    if (await this.store.getApiTokenByName(uid, name)) throw new Conflict(`a token named "${name}" exists`);
    const secret = newSecret('sst');
    const rec = await this.store.createApiToken({
      userId: uid,
      name,
      tokenHash: hashSecret(secret),
      createdAt: this.now(),
    });
    return { token: stripToken(rec), secret };
  }

  /** Revokes one API token: requests that present it get 401 from now on. */
  async deleteToken(caller: Caller, uid: number, tid: number): Promise<void> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    const t = await this.store.getApiToken(tid);
    if (!t || t.userId !== uid) throw new NotFound(`no token ${tid} for user ${uid}`);
    await this.store.deleteApiToken(tid);
  }

  /** The user a user token belongs to (`GET /users/me`): lets a client that holds only a token find its id. */
  async whoami(caller: Caller): Promise<User> {
    if (caller.kind === 'anonymous') throw new Unauthenticated('credentials required');
    if (caller.kind !== 'user') throw new Forbidden('only a user token names a user');
    return strip(await this.userRecord(caller.userId));
  }

  async getUser(caller: Caller, uid: number): Promise<User> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    return strip(await this.userRecord(uid));
  }

  protected async userRecord(uid: number): Promise<UserRecord> {
    const u = await this.store.getUser(uid);
    if (!u) throw new NotFound(`no user ${uid}`);
    return u;
  }

  /**
   * Changes the password (which ends all the user's sessions) and/or rotates the `default` API
   * token (returned once).
   */
  async updateUser(
    caller: Caller,
    uid: number,
    patch: { password?: string; rotateToken?: boolean },
  ): Promise<{ user: User; token?: string }> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    await this.userRecord(uid);
    const set: { passwordHash?: string; tokenHash?: string } = {};
    if (patch.password !== undefined) {
      checkPassword(patch.password);
      set.passwordHash = await hashPassword(patch.password);
    }
    let token: string | undefined;
    if (patch.rotateToken) {
      // Rotates the token named "default" (made with the user), or makes it again if it was revoked;
      // the user's other named tokens keep working.
      token = newSecret('sst');
      set.tokenHash = hashSecret(token);
      const h = set.tokenHash;
      const now = this.now();
      const old = await this.store.getApiTokenByName(uid, DEFAULT_TOKEN_NAME);
      if (old) await this.store.setApiTokenHash(old.id, h, now);
      else await this.store.createApiToken({ userId: uid, name: DEFAULT_TOKEN_NAME, tokenHash: h, createdAt: now });
    }
    const u = await this.store.updateUser(uid, set);
    if (!u) throw new NotFound(`no user ${uid}`);
    // A new password ends every sign-in made with the old one (someone who learnt it is signed
    // out); API tokens are separate credentials and are revoked one by one.
    if (patch.password !== undefined) await this.store.deleteUserSessionsOf(uid);
    return token ? { user: strip(u), token } : { user: strip(u) };
  }

  async deleteUser(caller: Caller, uid: number): Promise<void> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    if (!(await this.store.deleteUser(uid))) throw new NotFound(`no user ${uid}`);
  }
}

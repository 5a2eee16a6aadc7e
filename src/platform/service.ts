/**
 * The platform's use cases, independent of protocol (DESIGN.md, "Service"). The HTTP API and
 * (issue 6) the CoAP API call only this. Every function takes the {@link Caller} and the ids of
 * the path it addresses (`/users/:uid/resources/:rid/streams/:sid`), and returns data or throws a
 * {@link PlatformError} carrying the HTTP status.
 *
 * Authorization, in this order:
 * 1. A read of a public stream (and its data) is allowed to anyone, whatever the path's owner.
 * 2. No credential → 401. A credential for another user, resource or stream → 403
 *    (decided from the ids alone, before any lookup, so it leaks nothing about existence).
 * 3. A path whose objects do not exist or do not nest (stream not in that resource, resource not
 *    that user's) → 404.
 * What each caller kind may do is described on {@link Caller}.
 *
 * Secrets: the user's API tokens, sign-in sessions and the resource and stream keys are 192-bit
 * random strings shown once (at creation or rotation) and stored only as SHA-256 (see
 * {@link hashSecret}). A sign-in (`login`) makes a session that expires; it never touches the API
 * tokens that scripts and device tools hold.
 * Passwords are stored as scrypt records with their salt and parameters.
 */
import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { promisify } from 'node:util';
import type { Logger } from '../util/log.ts';
import { type DeviceCredentialInput, prepareDeviceCredential, publicCredential } from './devices.ts';
import {
  type ApiToken,
  type Caller,
  type DataPoint,
  type DeviceCredential,
  LIMITS,
  type Parser,
  type ParserKind,
  PlatformError,
  type PointValue,
  type PollLogEntry,
  type Resource,
  type ResourceRecord,
  type Stream,
  type StreamPoint,
  type StreamRecord,
  type StreamType,
  type TimeFormat,
  type User,
  type UserRecord,
} from './model.ts';
import { checkParser, parseTime, proposeStreams, runParsers, toValue } from './parsers.ts';
import type { ListName, Store, StorePage } from './store/index.ts';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

// scrypt parameters (RFC 7914 §2): N=2^15, r=8, p=1 costs ~32 MiB and tens of ms per check.
const SCRYPT = { N: 32768, r: 8, p: 1, keyLen: 32, maxmem: 64 * 1024 * 1024 };

/** SHA-256 hex of a secret. Tokens and keys are stored only in this form. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * A new random secret with a prefix that says what it unlocks (user API token `sst_`, sign-in
 * session `ssn_`, resource key `ssr_`, stream key `sss_`), so that a lookup hits one table.
 */
export function newSecret(prefix: 'sst' | 'ssn' | 'ssr' | 'sss'): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, SCRYPT.keyLen, {
    N: SCRYPT.N,
    r: SCRYPT.r,
    p: SCRYPT.p,
    maxmem: SCRYPT.maxmem,
  });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, record: string): Promise<boolean> {
  const parts = record.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], 'base64');
  const want = Buffer.from(parts[5], 'base64');
  const got = await scrypt(password, salt, want.length, { N, r, p, maxmem: SCRYPT.maxmem });
  return timingSafeEqual(got, want);
}

/** Equal-time comparison of two hex digests. */
function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface ServiceOptions {
  store: Store;
  /** `open`: anyone may create a user. `admin`: only the admin token may. */
  signup?: 'open' | 'admin';
  adminToken?: string | null;
  /** Largest `limit` a stream-data read may ask for. Default 100 000. */
  maxReadLimit?: number;
  /** How long a sign-in session (`login`) is accepted, ms. Default 12 h. */
  sessionLifetimeMs?: number;
  /** The clock, ms (tests pin it). */
  now?: () => number;
  logger?: Logger;
}

/** Default lifetime of a sign-in session: a working day. */
export const DEFAULT_SESSION_LIFETIME_MS = 12 * 3600 * 1000;
/** An API token's `last_used_at` is written at most this often: not one UPDATE per request. */
const TOKEN_TOUCH_INTERVAL_MS = 60_000;
/** Named API tokens per user: bounds what one user can make the store hold. */
export const MAX_API_TOKENS = 100;
/** Expired sessions deleted per sign-in (a bounded batch; an expired one is also deleted when shown). */
const SESSION_SWEEP = 100;

export interface NewResourceInput {
  label: string;
  pollingUrl?: string | null;
  pollingPeriod?: number | null;
  /** CoAP MAX_RETRANSMIT of each poll (0–20), null for the default. */
  pollingRetransmits?: number | null;
  /** CoAP ACK_TIMEOUT / HTTP timeout of each poll in ms (100–60000), null for the default. */
  pollingTimeoutMs?: number | null;
}
export interface ResourcePatch {
  label?: string;
  pollingUrl?: string | null;
  pollingPeriod?: number | null;
  pollingRetransmits?: number | null;
  pollingTimeoutMs?: number | null;
  /** Issue a new secret key; the old one stops working. */
  rotateKey?: boolean;
}
export interface NewStreamInput {
  label: string;
  unit?: string | null;
  type?: StreamType;
  public?: boolean;
  retentionMaxPoints?: number | null;
  retentionMaxAgeMs?: number | null;
}
export interface StreamPatch {
  label?: string;
  unit?: string | null;
  public?: boolean;
  retentionMaxPoints?: number | null;
  retentionMaxAgeMs?: number | null;
  rotateKey?: boolean;
}
export interface NewParserInput {
  streamId: number;
  kind: ParserKind;
  expression: string;
  timeFormat?: TimeFormat;
}
export type ParserPatch = Partial<NewParserInput>;

export interface RawPayload {
  body: Buffer;
  contentType: string | null;
}

export interface PointInput {
  /** ms since the epoch, or an ISO 8601 string; absent → now. */
  time?: number | string;
  value: PointValue | boolean;
}

export interface IngestResult {
  /** Points written. */
  stored: number;
  /** Streams created for this payload (the first payload to a resource with no parsers). */
  created: Stream[];
}

/**
 * A change the poller (and anyone keeping per-resource state) must react to: a resource created,
 * changed or deleted (`resource` undefined), or its device credentials changed.
 */
export interface ResourceChange {
  resourceId: number;
  resource?: Resource;
  what: 'created' | 'updated' | 'deleted' | 'credentials';
}

/** Poll outcomes kept per resource. */
export const POLL_LOG_KEEP = 1000;

/** Largest `limit` of a list page. */
export const MAX_PAGE_LIMIT = 1000;

/**
 * A page of a list route: `limit` items (the whole list when absent) after `offset`, in id order.
 * The service checks it and fills `total` with the list's full length (for `X-Total-Count`).
 */
export interface PageRequest {
  limit?: number;
  offset?: number;
  total?: number;
}

/** A bad limit/offset is a 400 that says which and why. */
function checkPage(page: PageRequest | undefined): StorePage | undefined {
  if (!page) return undefined;
  const { limit, offset } = page;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT))
    throw new PlatformError(400, `limit must be an integer 1–${MAX_PAGE_LIMIT}`);
  if (offset !== undefined && (!Number.isInteger(offset) || offset < 0))
    throw new PlatformError(400, 'offset must be an integer ≥ 0');
  return { limit, offset };
}

/** What `need` of an object the caller wants: look at it, push data into it, or change it. */
type Need = 'read' | 'data' | 'owner';

/** The name of the token `POST /users` returns and `rotate_token` rotates. */
export const DEFAULT_TOKEN_NAME = 'default';

const stripToken = (t: ApiToken & { tokenHash: string }): ApiToken => {
  const { tokenHash: _t, ...rest } = t;
  return rest;
};

const strip = <T extends { keyHash?: string; tokenHash?: string; passwordHash?: string }>(r: T) => {
  const { keyHash: _k, tokenHash: _t, passwordHash: _p, ...rest } = r;
  return rest;
};

export class PlatformService {
  readonly store: Store;
  private readonly signup: 'open' | 'admin';
  private readonly adminTokenHash: string | null;
  private readonly maxReadLimit: number;
  private readonly sessionLifetimeMs: number;
  private readonly now: () => number;
  private readonly events = new EventEmitter();
  private readonly log?: Logger;

  constructor(opts: ServiceOptions) {
    this.store = opts.store;
    this.signup = opts.signup ?? 'open';
    this.adminTokenHash = opts.adminToken ? hashSecret(opts.adminToken) : null;
    this.maxReadLimit = opts.maxReadLimit ?? 100_000;
    this.sessionLifetimeMs = opts.sessionLifetimeMs ?? DEFAULT_SESSION_LIFETIME_MS;
    this.now = opts.now ?? Date.now;
    this.log = opts.logger;
    this.events.setMaxListeners(0);
  }

  // -------------------------------------------------------------------------------------------
  // Identity

  /**
   * Maps a presented secret (Bearer token or `?key=`) to a caller. Undefined or empty → anonymous;
   * a secret that unlocks nothing → 401.
   *
   * The lookup is by SHA-256 of the secret: the index timing can reveal something about the hash
   * at most, which does not help find a 192-bit preimage; the final comparison is constant-time.
   */
  async authenticate(secret: string | undefined): Promise<Caller> {
    if (secret === undefined || secret === '') return { kind: 'anonymous' };
    if (secret.length > 256) throw new PlatformError(401, 'invalid token or key');
    const h = hashSecret(secret);
    if (this.adminTokenHash && sameHash(h, this.adminTokenHash)) return { kind: 'admin' };
    const prefix = secret.slice(0, 4);
    // A known prefix names the one table to look in; anything else (older secrets) tries each.
    const known = ['sst_', 'ssn_', 'ssr_', 'sss_'].includes(prefix);
    const tries = (p: string) => prefix === p || !known;
    if (tries('sst_')) {
      const tok = await this.store.getApiTokenByHash(h);
      if (tok && sameHash(tok.tokenHash, h)) {
        const now = this.now();
        if (tok.lastUsedAt === null || now - tok.lastUsedAt >= TOKEN_TOUCH_INTERVAL_MS) {
          await this.store.touchApiToken(tok.id, now);
        }
        return { kind: 'user', userId: tok.userId };
      }
    }
    if (tries('ssn_')) {
      const s = await this.store.getUserSessionByHash(h);
      if (s && sameHash(s.tokenHash, h)) {
        if (s.expiresAt <= this.now()) {
          await this.store.deleteUserSession(s.id);
          throw new PlatformError(401, 'session expired');
        }
        return { kind: 'user', userId: s.userId };
      }
    }
    if (tries('ssr_')) {
      const r = await this.store.getResourceByKeyHash(h);
      if (r && sameHash(r.keyHash, h)) return { kind: 'resource', resourceId: r.id, via: 'key' };
    }
    if (tries('sss_')) {
      const s = await this.store.getStreamByKeyHash(h);
      if (s && sameHash(s.keyHash, h)) return { kind: 'stream', streamId: s.id };
    }
    throw new PlatformError(401, 'invalid token or key');
  }

  /** The caller for a device whose DTLS identity is bound to `resourceId` (issue 6). */
  deviceCaller(resourceId: number): Caller {
    return { kind: 'resource', resourceId, via: 'device' };
  }

  /** Decides from ids alone; throws 401/403. `rid`/`sid` are those of the path, when it has them. */
  private authorize(caller: Caller, uid: number, rid: number | undefined, sid: number | undefined, need: Need): void {
    switch (caller.kind) {
      case 'anonymous':
        throw new PlatformError(401, 'authentication required: Authorization: Bearer TOKEN or ?key=');
      case 'admin':
        throw new PlatformError(403, 'the admin token only creates users');
      case 'user':
        if (caller.userId !== uid) throw new PlatformError(403, "another user's objects");
        return;
      case 'resource':
        if (need === 'owner') throw new PlatformError(403, 'a resource key cannot change definitions');
        if (rid === undefined || caller.resourceId !== rid)
          throw new PlatformError(403, 'the key is for another resource');
        return;
      case 'stream':
        if (need === 'owner') throw new PlatformError(403, 'a stream key cannot change definitions');
        if (sid === undefined || caller.streamId !== sid) throw new PlatformError(403, 'the key is for another stream');
        return;
    }
  }

  private async resource(caller: Caller, uid: number, rid: number, need: Need): Promise<ResourceRecord> {
    this.authorize(caller, uid, rid, undefined, need);
    const r = await this.store.getResource(rid);
    if (!r || r.ownerId !== uid) throw new PlatformError(404, `no resource ${rid} for user ${uid}`);
    return r;
  }

  private async stream(caller: Caller, uid: number, rid: number, sid: number, need: Need): Promise<StreamRecord> {
    const s = await this.store.getStream(sid);
    const r = s && s.resourceId === rid ? await this.store.getResource(rid) : undefined;
    const found = r && r.ownerId === uid ? s : undefined;
    if (found?.public && need === 'read') return found;
    this.authorize(caller, uid, rid, sid, need);
    if (!found) throw new PlatformError(404, `no stream ${sid} in resource ${rid} of user ${uid}`);
    return found;
  }

  // -------------------------------------------------------------------------------------------
  // Users

  /** Creates a user; returns it with its API token, which is shown only now. */
  async createUser(
    caller: Caller,
    input: { username: string; password: string },
  ): Promise<{ user: User; token: string }> {
    if (this.signup === 'admin' && caller.kind !== 'admin') {
      throw new PlatformError(caller.kind === 'anonymous' ? 401 : 403, 'creating users needs the admin token');
    }
    if (!/^[A-Za-z0-9_.-]+$/.test(input.username) || input.username.length > LIMITS.usernameLength) {
      throw new PlatformError(400, `username must be 1–${LIMITS.usernameLength} of A-Z a-z 0-9 _ . -`);
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
    if (!rec || !ok) throw new PlatformError(401, 'wrong username or password');
    const now = this.now();
    // Sessions nobody signed out of pile up otherwise; a bounded batch per sign-in keeps up with them.
    await this.store.deleteExpiredUserSessions(now, SESSION_SWEEP);
    const token = newSecret('ssn');
    const expiresAt = now + this.sessionLifetimeMs;
    await this.store.createUserSession({ userId: rec.id, tokenHash: hashSecret(token), createdAt: now, expiresAt });
    return { user: strip(rec), token, expiresAt };
  }

  /** Ends the sign-in session whose token this is (`POST /logout`); an API token is a 400. */
  async logout(secret: string | undefined): Promise<void> {
    if (secret === undefined || secret === '')
      throw new PlatformError(401, 'authentication required: the session token');
    if (!secret.startsWith('ssn_'))
      throw new PlatformError(400, 'not a session token: only a session (POST /login) signs out');
    const h = hashSecret(secret);
    const s = await this.store.getUserSessionByHash(h);
    if (!s || !sameHash(s.tokenHash, h)) throw new PlatformError(401, 'invalid token or key');
    await this.store.deleteUserSession(s.id);
  }

  // -------------------------------------------------------------------------------------------
  // Named API tokens

  /** The user's API tokens, without their secrets. */
  /** Fills `page.total` when a page was asked for (a list read without one skips the count). */
  private async total(page: PageRequest | undefined, list: ListName, parentId: number): Promise<void> {
    if (page) page.total = await this.store.countList(list, parentId);
  }

  async listTokens(caller: Caller, uid: number, page?: PageRequest): Promise<ApiToken[]> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    const w = checkPage(page);
    await this.userRecord(uid);
    await this.total(page, 'api_tokens', uid);
    return (await this.store.listApiTokens(uid, w)).map(stripToken);
  }

  /** A new named API token; its secret is returned only now. A name the user already has is a 409. */
  async createToken(
    caller: Caller,
    uid: number,
    input: { name: string },
  ): Promise<{ token: ApiToken; secret: string }> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    await this.userRecord(uid);
    const name = input.name.trim();
    if (name.length === 0 || name.length > LIMITS.labelLength) {
      throw new PlatformError(400, `name must be 1–${LIMITS.labelLength} characters`);
    }
    if ((await this.store.listApiTokens(uid)).length >= MAX_API_TOKENS) {
      throw new PlatformError(409, `at most ${MAX_API_TOKENS} API tokens per user: revoke one first`);
    }
    if (await this.store.getApiTokenByName(uid, name)) throw new PlatformError(409, `a token named "${name}" exists`);
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
    if (!t || t.userId !== uid) throw new PlatformError(404, `no token ${tid} for user ${uid}`);
    await this.store.deleteApiToken(tid);
  }

  /** The user a user token belongs to (`GET /users/me`): lets a client that holds only a token find its id. */
  async whoami(caller: Caller): Promise<User> {
    if (caller.kind === 'anonymous') throw new PlatformError(401, 'credentials required');
    if (caller.kind !== 'user') throw new PlatformError(403, 'only a user token names a user');
    return strip(await this.userRecord(caller.userId));
  }

  async getUser(caller: Caller, uid: number): Promise<User> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    return strip(await this.userRecord(uid));
  }

  private async userRecord(uid: number): Promise<UserRecord> {
    const u = await this.store.getUser(uid);
    if (!u) throw new PlatformError(404, `no user ${uid}`);
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
    if (!u) throw new PlatformError(404, `no user ${uid}`);
    // A new password ends every sign-in made with the old one (someone who learnt it is signed
    // out); API tokens are separate credentials and are revoked one by one.
    if (patch.password !== undefined) await this.store.deleteUserSessionsOf(uid);
    return token ? { user: strip(u), token } : { user: strip(u) };
  }

  async deleteUser(caller: Caller, uid: number): Promise<void> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    if (!(await this.store.deleteUser(uid))) throw new PlatformError(404, `no user ${uid}`);
  }

  // -------------------------------------------------------------------------------------------
  // Resources

  async listResources(caller: Caller, uid: number, page?: PageRequest): Promise<Resource[]> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    const w = checkPage(page);
    await this.userRecord(uid);
    await this.total(page, 'resources', uid);
    return (await this.store.listResources(uid, w)).map(strip);
  }

  async createResource(
    caller: Caller,
    uid: number,
    input: NewResourceInput,
  ): Promise<{ resource: Resource; key: string }> {
    this.authorize(caller, uid, undefined, undefined, 'owner');
    await this.userRecord(uid);
    checkLabel(input.label);
    const polling = checkPolling(input.pollingUrl ?? null, input.pollingPeriod ?? null);
    const tuning = checkPollTuning(input.pollingRetransmits ?? null, input.pollingTimeoutMs ?? null);
    const key = newSecret('ssr');
    const r = await this.store.createResource({
      ownerId: uid,
      label: input.label,
      ...polling,
      ...tuning,
      keyHash: hashSecret(key),
      createdAt: this.now(),
    });
    await this.changed({ resourceId: r.id, resource: strip(r), what: 'created' });
    return { resource: strip(r), key };
  }

  async getResource(caller: Caller, uid: number, rid: number): Promise<Resource> {
    return strip(await this.resource(caller, uid, rid, 'read'));
  }

  async updateResource(
    caller: Caller,
    uid: number,
    rid: number,
    patch: ResourcePatch,
  ): Promise<{ resource: Resource; key?: string }> {
    const cur = await this.resource(caller, uid, rid, 'owner');
    if (patch.label !== undefined) checkLabel(patch.label);
    const polling = checkPolling(
      patch.pollingUrl !== undefined ? patch.pollingUrl : cur.pollingUrl,
      patch.pollingPeriod !== undefined ? patch.pollingPeriod : cur.pollingPeriod,
    );
    const tuning = checkPollTuning(
      patch.pollingRetransmits !== undefined ? patch.pollingRetransmits : cur.pollingRetransmits,
      patch.pollingTimeoutMs !== undefined ? patch.pollingTimeoutMs : cur.pollingTimeoutMs,
    );
    let key: string | undefined;
    const set: Parameters<Store['updateResource']>[1] = { ...polling, ...tuning };
    if (patch.label !== undefined) set.label = patch.label;
    if (patch.rotateKey) {
      key = newSecret('ssr');
      set.keyHash = hashSecret(key);
    }
    const r = await this.store.updateResource(rid, set);
    if (!r) throw new PlatformError(404, `no resource ${rid}`);
    await this.changed({ resourceId: rid, resource: strip(r), what: 'updated' });
    return key ? { resource: strip(r), key } : { resource: strip(r) };
  }

  async deleteResource(caller: Caller, uid: number, rid: number): Promise<void> {
    await this.resource(caller, uid, rid, 'owner');
    await this.store.deleteResource(rid);
    await this.changed({ resourceId: rid, what: 'deleted' });
  }

  // -------------------------------------------------------------------------------------------
  // Device credentials (issue 6): the DTLS identities that act as a resource

  /**
   * Binds a device identity to a resource (owner only). The PSK key is returned only when it was
   * generated here, and only now; no later call shows it.
   */
  async addDeviceCredential(
    caller: Caller,
    uid: number,
    rid: number,
    input: DeviceCredentialInput,
  ): Promise<{ credential: DeviceCredential; pskKey?: string }> {
    await this.resource(caller, uid, rid, 'owner');
    const { row, generatedKey } = prepareDeviceCredential(rid, input, this.now());
    const c = await this.store.createDeviceCredential(row);
    await this.changed({ resourceId: rid, what: 'credentials' });
    return generatedKey
      ? { credential: publicCredential(c), pskKey: generatedKey }
      : { credential: publicCredential(c) };
  }

  async listDeviceCredentials(
    caller: Caller,
    uid: number,
    rid: number,
    page?: PageRequest,
  ): Promise<DeviceCredential[]> {
    await this.resource(caller, uid, rid, 'owner');
    const w = checkPage(page);
    await this.total(page, 'device_credentials', rid);
    return (await this.store.listDeviceCredentials(rid, w)).map(publicCredential);
  }

  async deleteDeviceCredential(caller: Caller, uid: number, rid: number, cid: number): Promise<void> {
    await this.resource(caller, uid, rid, 'owner');
    const c = await this.store.getDeviceCredential(cid);
    if (!c || c.resourceId !== rid) throw new PlatformError(404, `no device credential ${cid} in resource ${rid}`);
    await this.store.deleteDeviceCredential(cid);
    await this.changed({ resourceId: rid, what: 'credentials' });
  }

  // -------------------------------------------------------------------------------------------
  // Poll log (issue 6)

  /** The newest poll outcomes of a resource, newest first. */
  async getPollLog(caller: Caller, uid: number, rid: number, limit = 100, page?: PageRequest): Promise<PollLogEntry[]> {
    await this.resource(caller, uid, rid, 'read');
    if (!Number.isInteger(limit) || limit < 1 || limit > POLL_LOG_KEEP)
      throw new PlatformError(400, `limit must be 1–${POLL_LOG_KEEP}`);
    const offset = checkPage(page)?.offset ?? 0;
    await this.total(page, 'poll_log', rid);
    return this.store.listPollLog(rid, limit, offset);
  }

  /** The poller's record of one poll (no caller: the platform itself polled). */
  async recordPoll(entry: Omit<PollLogEntry, 'id'>): Promise<PollLogEntry> {
    return this.store.addPollLog(entry, POLL_LOG_KEEP);
  }

  /**
   * Calls `listener` after each change to a resource or its device credentials. A listener that
   * returns a promise is awaited before the use case returns (the DTLS trust store uses this so
   * that a device bound through the API can connect as soon as the API has answered).
   */
  watchResources(listener: (change: ResourceChange) => void | Promise<void>): () => void {
    this.events.on('resource', listener);
    return () => this.events.off('resource', listener);
  }

  private async changed(change: ResourceChange): Promise<void> {
    for (const l of this.events.listeners('resource') as Array<(c: ResourceChange) => void | Promise<void>>) {
      try {
        await l(change);
      } catch (err) {
        this.log?.error({ err, resource: change.resourceId }, 'resource listener failed');
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Parsers

  async listParsers(caller: Caller, uid: number, rid: number, page?: PageRequest): Promise<Parser[]> {
    await this.resource(caller, uid, rid, 'read');
    const w = checkPage(page);
    await this.total(page, 'parsers', rid);
    return this.store.listParsers(rid, w);
  }

  async createParser(caller: Caller, uid: number, rid: number, input: NewParserInput): Promise<Parser> {
    await this.resource(caller, uid, rid, 'owner');
    checkParser(input.kind, input.expression);
    await this.ownStream(rid, input.streamId);
    return this.store.createParser({
      resourceId: rid,
      streamId: input.streamId,
      kind: input.kind,
      expression: input.expression,
      timeFormat: input.timeFormat ?? 'unix-ms',
      createdAt: this.now(),
    });
  }

  private async ownStream(rid: number, sid: number): Promise<StreamRecord> {
    const s = await this.store.getStream(sid);
    if (!s || s.resourceId !== rid) throw new PlatformError(400, `stream ${sid} is not a stream of resource ${rid}`);
    return s;
  }

  private async parser(caller: Caller, uid: number, rid: number, pid: number, need: Need): Promise<Parser> {
    await this.resource(caller, uid, rid, need);
    const p = await this.store.getParser(pid);
    if (!p || p.resourceId !== rid) throw new PlatformError(404, `no parser ${pid} in resource ${rid}`);
    return p;
  }

  async getParser(caller: Caller, uid: number, rid: number, pid: number): Promise<Parser> {
    return this.parser(caller, uid, rid, pid, 'read');
  }

  async updateParser(caller: Caller, uid: number, rid: number, pid: number, patch: ParserPatch): Promise<Parser> {
    const cur = await this.parser(caller, uid, rid, pid, 'owner');
    checkParser(patch.kind ?? cur.kind, patch.expression ?? cur.expression);
    if (patch.streamId !== undefined) await this.ownStream(rid, patch.streamId);
    const p = await this.store.updateParser(pid, patch);
    if (!p) throw new PlatformError(404, `no parser ${pid}`);
    return p;
  }

  async deleteParser(caller: Caller, uid: number, rid: number, pid: number): Promise<void> {
    await this.parser(caller, uid, rid, pid, 'owner');
    await this.store.deleteParser(pid);
  }

  // -------------------------------------------------------------------------------------------
  // Raw resource data

  /**
   * Runs a raw payload through the resource's parsers and stores the points, all in one
   * transaction: a payload or value a parser rejects stores nothing. The first payload to a
   * resource without parsers creates one stream and parser per value (SicsthSense's rule).
   */
  async postResourceData(caller: Caller, uid: number, rid: number, payload: RawPayload): Promise<IngestResult> {
    await this.resource(caller, uid, rid, 'data');
    const now = this.now();
    const input = { ...payload, now };
    const result = await this.store.transaction(async (tx) => {
      let parsers = await tx.listParsers(rid);
      const created: Stream[] = [];
      if (parsers.length === 0) {
        // Serialize first payloads to this resource, then look again: another may have won.
        if (!(await tx.lockResource(rid))) throw new PlatformError(404, `no resource ${rid}`);
        parsers = await tx.listParsers(rid);
        if (parsers.length === 0) {
          const proposals = proposeStreams(input);
          if (proposals.length === 0) throw new PlatformError(400, 'the payload has no values to make streams of');
          for (const p of proposals) {
            const s = await tx.createStream({
              resourceId: rid,
              label: p.label.slice(0, LIMITS.labelLength),
              unit: p.unit,
              type: p.type,
              public: false,
              retentionMaxPoints: null,
              retentionMaxAgeMs: null,
              keyHash: hashSecret(newSecret('sss')),
              createdAt: now,
            });
            created.push(strip(s));
            parsers.push(await tx.createParser({ resourceId: rid, streamId: s.id, ...p.parser, createdAt: now }));
          }
        }
      }
      const streams = new Map((await tx.listStreams(rid)).map((s) => [s.id, strip(s)]));
      const points = runParsers(parsers, streams, input);
      await tx.insertPoints(points, now);
      // The new streams were read before their first points: give them their newest time.
      for (const c of created) {
        for (const p of points)
          if (p.streamId === c.id && (c.lastTime === null || p.time > c.lastTime)) c.lastTime = p.time;
      }
      return { points, created };
    });
    this.emit(result.points);
    if (result.created.length > 0)
      this.log?.info({ resource: rid, streams: result.created.length }, 'streams created from the first payload');
    return { stored: result.points.length, created: result.created };
  }

  // -------------------------------------------------------------------------------------------
  // Streams

  async listStreams(caller: Caller, uid: number, rid: number, page?: PageRequest): Promise<Stream[]> {
    await this.resource(caller, uid, rid, 'read');
    const w = checkPage(page);
    await this.total(page, 'streams', rid);
    return (await this.store.listStreams(rid, w)).map(strip);
  }

  async createStream(
    caller: Caller,
    uid: number,
    rid: number,
    input: NewStreamInput,
  ): Promise<{ stream: Stream; key: string }> {
    await this.resource(caller, uid, rid, 'owner');
    checkLabel(input.label);
    checkRetention(input.retentionMaxPoints, input.retentionMaxAgeMs);
    const key = newSecret('sss');
    const s = await this.store.createStream({
      resourceId: rid,
      label: input.label,
      unit: input.unit ?? null,
      type: input.type ?? 'numeric',
      public: input.public ?? false,
      retentionMaxPoints: input.retentionMaxPoints ?? null,
      retentionMaxAgeMs: input.retentionMaxAgeMs ?? null,
      keyHash: hashSecret(key),
      createdAt: this.now(),
    });
    return { stream: strip(s), key };
  }

  async getStream(caller: Caller, uid: number, rid: number, sid: number): Promise<Stream> {
    return strip(await this.stream(caller, uid, rid, sid, 'read'));
  }

  async updateStream(
    caller: Caller,
    uid: number,
    rid: number,
    sid: number,
    patch: StreamPatch,
  ): Promise<{ stream: Stream; key?: string }> {
    await this.stream(caller, uid, rid, sid, 'owner');
    if (patch.label !== undefined) checkLabel(patch.label);
    checkRetention(patch.retentionMaxPoints, patch.retentionMaxAgeMs);
    const { rotateKey, ...rest } = patch;
    let key: string | undefined;
    const set: Parameters<Store['updateStream']>[1] = { ...rest };
    if (rotateKey) {
      key = newSecret('sss');
      set.keyHash = hashSecret(key);
    }
    const s = await this.store.updateStream(sid, set);
    if (!s) throw new PlatformError(404, `no stream ${sid}`);
    return key ? { stream: strip(s), key } : { stream: strip(s) };
  }

  async deleteStream(caller: Caller, uid: number, rid: number, sid: number): Promise<void> {
    await this.stream(caller, uid, rid, sid, 'owner');
    await this.store.deleteStream(sid);
  }

  // -------------------------------------------------------------------------------------------
  // Stream data

  /** The newest `limit` points in [from, until], oldest first. */
  async getStreamData(
    caller: Caller,
    uid: number,
    rid: number,
    sid: number,
    q: { from?: number; until?: number; limit?: number },
  ): Promise<{ stream: Stream; points: DataPoint[] }> {
    const s = await this.stream(caller, uid, rid, sid, 'read');
    const limit = q.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > this.maxReadLimit) {
      throw new PlatformError(400, `limit must be 1–${this.maxReadLimit}`);
    }
    if (q.from !== undefined && q.until !== undefined && q.from > q.until)
      throw new PlatformError(400, 'from is after until');
    return { stream: strip(s), points: await this.store.queryPoints(sid, { from: q.from, until: q.until, limit }) };
  }

  /** Stores points given as values (with optional times) into one stream; all or nothing. */
  async postStreamData(caller: Caller, uid: number, rid: number, sid: number, input: PointInput[]): Promise<number> {
    const s = await this.stream(caller, uid, rid, sid, 'data');
    if (input.length === 0) throw new PlatformError(400, 'no points');
    if (input.length > LIMITS.pointsPerBatch) throw new PlatformError(413, `more than ${LIMITS.pointsPerBatch} points`);
    const now = this.now();
    const points: StreamPoint[] = input.map((p, i) => ({
      streamId: sid,
      value: toValue(p.value, s.type, `points[${i}].value`),
      time:
        p.time === undefined
          ? now
          : parseTime(
              p.time,
              typeof p.time === 'string' && !/^\d+$/.test(p.time) ? 'iso8601' : 'unix-ms',
              `points[${i}].time`,
            ),
    }));
    await this.store.insertPoints(points, now);
    this.emit(points);
    return points.length;
  }

  async deleteStreamData(
    caller: Caller,
    uid: number,
    rid: number,
    sid: number,
    q: { from?: number; until?: number },
  ): Promise<number> {
    await this.stream(caller, uid, rid, sid, 'owner');
    return this.store.deletePoints(sid, q);
  }

  // -------------------------------------------------------------------------------------------
  // Events (for RFC 7641 observers in the CoAP API, issue 6)

  /** Calls `listener` with each batch of points stored into `streamId`, after commit. */
  subscribe(streamId: number, listener: (points: DataPoint[]) => void): () => void {
    const name = `points:${streamId}`;
    this.events.on(name, listener);
    return () => this.events.off(name, listener);
  }

  private emit(points: StreamPoint[]): void {
    if (this.events.eventNames().length === 0) return;
    const by = new Map<number, DataPoint[]>();
    for (const p of points) {
      const l = by.get(p.streamId);
      const dp = { time: p.time, value: p.value };
      if (l) l.push(dp);
      else by.set(p.streamId, [dp]);
    }
    for (const [sid, list] of by) {
      try {
        this.events.emit(`points:${sid}`, list);
      } catch (err) {
        this.log?.error({ err, stream: sid }, 'points listener failed');
      }
    }
  }
}

// A valid scrypt record of a random password, checked against for unknown users.
const DUMMY_PASSWORD_RECORD = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;

function checkPassword(pw: string): void {
  if (pw.length < LIMITS.passwordMinLength || pw.length > LIMITS.passwordMaxLength) {
    throw new PlatformError(400, `password must be ${LIMITS.passwordMinLength}–${LIMITS.passwordMaxLength} characters`);
  }
}

function checkLabel(label: string): void {
  if (label.trim() === '' || label.length > LIMITS.labelLength) {
    throw new PlatformError(400, `label must be 1–${LIMITS.labelLength} characters`);
  }
}

function checkRetention(points: number | null | undefined, ageMs: number | null | undefined): void {
  if (points !== undefined && points !== null && (!Number.isInteger(points) || points < 1)) {
    throw new PlatformError(400, 'retention_max_points must be a positive integer');
  }
  if (ageMs !== undefined && ageMs !== null && (!Number.isInteger(ageMs) || ageMs < 1)) {
    throw new PlatformError(400, 'retention_max_age_ms must be a positive integer');
  }
}

function checkPollTuning(
  retransmits: number | null,
  timeoutMs: number | null,
): { pollingRetransmits: number | null; pollingTimeoutMs: number | null } {
  // RFC 7252 §4.8 leaves MAX_RETRANSMIT and ACK_TIMEOUT to the deployment; these bounds keep a
  // poll's worst case (ACK_TIMEOUT · 1.5 · (2^(MAX_RETRANSMIT+1) − 1)) finite and sane.
  if (retransmits !== null && (!Number.isInteger(retransmits) || retransmits < 0 || retransmits > 20))
    throw new PlatformError(400, 'polling_retransmits must be 0–20');
  if (timeoutMs !== null && (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60_000))
    throw new PlatformError(400, 'polling_timeout_ms must be 100–60000');
  return { pollingRetransmits: retransmits, pollingTimeoutMs: timeoutMs };
}

const POLL_SCHEMES = ['http:', 'https:', 'coap:', 'coaps:'];

function checkPolling(
  url: string | null,
  period: number | null,
): { pollingUrl: string | null; pollingPeriod: number | null } {
  if (url !== null) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new PlatformError(400, `polling_url is not a URL: ${url}`);
    }
    if (!POLL_SCHEMES.includes(u.protocol))
      throw new PlatformError(400, 'polling_url must be http, https, coap or coaps');
    if (period === null) throw new PlatformError(400, 'polling_url needs polling_period (seconds)');
  }
  if (period !== null && (!Number.isInteger(period) || period < 1 || period > 31_536_000)) {
    throw new PlatformError(400, 'polling_period must be 1–31536000 seconds');
  }
  return { pollingUrl: url, pollingPeriod: period };
}

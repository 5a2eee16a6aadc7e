/**
 * The service's shared core: options, who is asking (authentication) and what they may do
 * (authorization), paging totals, and the events observers and the poller follow.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../util/log.ts';
import { Forbidden, Invalid, NotFound, Unauthenticated } from '../errors.ts';
import {
  type ApiToken,
  type Caller,
  type DataPoint,
  LIMITS,
  type Resource,
  type ResourceRecord,
  type StreamPoint,
  type StreamRecord,
} from '../model.ts';
import { NetGuard } from '../net-guard.ts';
import type { ListName, Store, StorePage } from '../store/index.ts';
import { hashSecret, sameHash } from './secrets.ts';

export interface ServiceOptions {
  store: Store;
  /** `open`: anyone may create a user. `admin`: only the admin token may. */
  signup?: 'open' | 'admin';
  adminToken?: string | null;
  /** Largest `limit` a stream-data read may ask for. Default 100 000. */
  maxReadLimit?: number;
  /** How long a sign-in session (`login`) is accepted, ms. Default 12 h. */
  sessionLifetimeMs?: number;
  /** Which addresses a polling URL may name (config `poller.allow`); default: public addresses only. */
  netGuard?: NetGuard;
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
export const SESSION_SWEEP = 100;

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

/** A bad limit/offset is Invalid, saying which and why. */
export function checkPage(page: PageRequest | undefined): StorePage | undefined {
  if (!page) return undefined;
  const { limit, offset } = page;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT))
    throw new Invalid(`limit must be an integer 1–${MAX_PAGE_LIMIT}`);
  if (offset !== undefined && (!Number.isInteger(offset) || offset < 0))
    throw new Invalid('offset must be an integer ≥ 0');
  return { limit, offset };
}

/** What `need` of an object the caller wants: look at it, push data into it, or change it. */
export type Need = 'read' | 'data' | 'owner';

/** The name of the token `POST /users` returns and `rotate_token` rotates. */
export const DEFAULT_TOKEN_NAME = 'default';

export const stripToken = (t: ApiToken & { tokenHash: string }): ApiToken => {
  const { tokenHash: _t, ...rest } = t;
  return rest;
};

export const strip = <T extends { keyHash?: string; tokenHash?: string; passwordHash?: string }>(r: T) => {
  const { keyHash: _k, tokenHash: _t, passwordHash: _p, ...rest } = r;
  return rest;
};

/**
 * What every use case shares: the store, the options, who-is-asking and the authorization rules,
 * list totals and the events. The use cases build on it, one module per aggregate
 * (users → resources → parsers → streams → data), and `PlatformService` is the last of them.
 */
export class ServiceCore {
  readonly store: Store;
  protected readonly signup: 'open' | 'admin';
  protected readonly adminTokenHash: string | null;
  protected readonly maxReadLimit: number;
  protected readonly sessionLifetimeMs: number;
  protected readonly now: () => number;
  protected readonly events = new EventEmitter();
  protected readonly log?: Logger;
  /** The SSRF guard shared with the poller (net-guard.ts). */
  readonly netGuard: NetGuard;

  constructor(opts: ServiceOptions) {
    this.store = opts.store;
    this.netGuard = opts.netGuard ?? new NetGuard();
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
   * a secret that unlocks nothing → Unauthenticated.
   *
   * The lookup is by SHA-256 of the secret: the index timing can reveal something about the hash
   * at most, which does not help find a 192-bit preimage; the final comparison is constant-time.
   */
  async authenticate(secret: string | undefined): Promise<Caller> {
    if (secret === undefined || secret === '') return { kind: 'anonymous' };
    if (secret.length > 256) throw new Unauthenticated('invalid token or key');
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
          throw new Unauthenticated('session expired');
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
    throw new Unauthenticated('invalid token or key');
  }

  /** The caller for a device whose DTLS identity is bound to `resourceId`. */
  deviceCaller(resourceId: number): Caller {
    return { kind: 'resource', resourceId, via: 'device' };
  }

  /** Decides from ids alone; throws 401/403. `rid`/`sid` are those of the path, when it has them. */
  protected authorize(caller: Caller, uid: number, rid: number | undefined, sid: number | undefined, need: Need): void {
    switch (caller.kind) {
      case 'anonymous':
        throw new Unauthenticated('authentication required: Authorization: Bearer TOKEN or ?key=');
      case 'admin':
        throw new Forbidden('the admin token only creates users');
      case 'user':
        if (caller.userId !== uid) throw new Forbidden("another user's objects");
        return;
      case 'resource':
        if (need === 'owner') throw new Forbidden('a resource key cannot change definitions');
        if (rid === undefined || caller.resourceId !== rid) throw new Forbidden('the key is for another resource');
        return;
      case 'stream':
        if (need === 'owner') throw new Forbidden('a stream key cannot change definitions');
        if (sid === undefined || caller.streamId !== sid) throw new Forbidden('the key is for another stream');
        return;
    }
  }

  protected async resource(caller: Caller, uid: number, rid: number, need: Need): Promise<ResourceRecord> {
    this.authorize(caller, uid, rid, undefined, need);
    const r = await this.store.getResource(rid);
    if (!r || r.ownerId !== uid) throw new NotFound(`no resource ${rid} for user ${uid}`);
    return r;
  }

  protected async stream(caller: Caller, uid: number, rid: number, sid: number, need: Need): Promise<StreamRecord> {
    const s = await this.store.getStream(sid);
    const r = s && s.resourceId === rid ? await this.store.getResource(rid) : undefined;
    const found = r && r.ownerId === uid ? s : undefined;
    if (found?.public && need === 'read') return found;
    this.authorize(caller, uid, rid, sid, need);
    if (!found) throw new NotFound(`no stream ${sid} in resource ${rid} of user ${uid}`);
    return found;
  }

  /** Fills `page.total` when a page was asked for (a list read without one skips the count). */
  protected async total(page: PageRequest | undefined, list: ListName, parentId: number): Promise<void> {
    if (page) page.total = await this.store.countList(list, parentId);
  }

  // -------------------------------------------------------------------------------------------
  // Events (for RFC 7641 observers in the CoAP API)

  /** Calls `listener` with each batch of points stored into `streamId`, after commit. */
  subscribe(streamId: number, listener: (points: DataPoint[]) => void): () => void {
    const name = `points:${streamId}`;
    this.events.on(name, listener);
    return () => this.events.off(name, listener);
  }

  /** Calls `listener` with each batch of points stored into any stream, per stream, after commit. */
  watchPoints(listener: (streamId: number, points: DataPoint[]) => void): () => void {
    this.events.on('points', listener);
    return () => this.events.off('points', listener);
  }

  protected emit(points: StreamPoint[]): void {
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
        this.events.emit('points', sid, list);
      } catch (err) {
        this.log?.error({ err, stream: sid }, 'points listener failed');
      }
    }
  }
}

export function checkLabel(label: string): void {
  if (label.trim() === '' || label.length > LIMITS.labelLength) {
    throw new Invalid(`label must be 1–${LIMITS.labelLength} characters`);
  }
}

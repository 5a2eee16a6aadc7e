/**
 * The HTTP API's rate limits ({@link ClientLimits}, limits.ts) as Fastify hooks: every request is
 * admitted by its client address before anything else (authentication costs a store lookup); a
 * request that authenticates is charged to its principal instead; every 401 counts against the
 * address. A refusal is 429 with `Retry-After` in seconds (RFC 6585 §4, RFC 9110 §10.2.3).
 *
 * Why not @fastify/rate-limit: it keys each request once, before the handler, so it cannot move a
 * charge from the address to the principal once authentication succeeds nor count only failures;
 * and the CoAP API needs the same policy over the same buckets (coap/rate-limit.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimited } from '../errors.ts';
import { ClientLimits, type ClientLimitsOptions } from '../limits.ts';
import type { Caller } from '../model.ts';

export { RateLimiter, type RateLimiterOptions } from '../limits.ts';

export interface HttpLimits {
  /** The policy and its refusal counters. */
  limits: ClientLimits;
  /** After authentication: the caller, or a 429 when its principal's bucket is empty. */
  authenticated(req: FastifyRequest, caller: Caller): Caller;
  /** Before a sign-in attempt for `username`: a 429 when the address and username have tried too often. */
  login(req: FastifyRequest, reply: FastifyReply, username: string): void;
}

/** 429 with `Retry-After` in seconds. */
function tooMany(reply: FastifyReply, wait: number, what: string): never {
  reply.header('retry-after', String(wait));
  throw new RateLimited(`${what}: retry after ${wait} s`);
}

/**
 * Installs the hooks on `app` (before its routes) and returns what the routes call. Given a
 * {@link ClientLimits}, the app shares its buckets (createPlatform: HTTP, HTTPS and CoAP share one).
 */
export function installRateLimits(app: FastifyInstance, opts: ClientLimitsOptions | ClientLimits): HttpLimits {
  const limits = opts instanceof ClientLimits ? opts : new ClientLimits(opts);
  // Waits decided inside a handler, where the reply is out of reach: onSend adds the header.
  const retryAfter = new WeakMap<FastifyRequest, number>();
  const charged = new WeakSet<FastifyRequest>();

  app.addHook('onRequest', async (req, reply) => {
    const wait = limits.admit(req.ip);
    if (wait > 0) tooMany(reply, wait, 'too many requests');
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const wait = retryAfter.get(req);
    if (wait !== undefined) reply.header('retry-after', String(wait));
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    if (reply.statusCode === 401) limits.failed(req.ip);
  });

  return {
    limits,
    authenticated(req, caller) {
      if (caller.kind === 'anonymous' || charged.has(req)) return caller;
      charged.add(req);
      const wait = limits.authenticated(req.ip, caller);
      if (wait > 0) {
        retryAfter.set(req, wait);
        throw new RateLimited(`too many requests: retry after ${wait} s`);
      }
      return caller;
    },
    login(req, reply, username) {
      const wait = limits.login(req.ip, username);
      if (wait > 0) tooMany(reply, wait, 'too many sign-in attempts');
    },
  };
}

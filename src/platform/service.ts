/**
 * The platform's use cases, independent of protocol (DESIGN.md, "Service"). The HTTP API and
 * the CoAP API call only this. Every function takes the {@link Caller} and the ids of
 * the path it addresses (`/users/:uid/resources/:rid/streams/:sid`), and returns data or throws a
 * {@link PlatformError} of a kind (errors.ts) that each API maps to its answer.
 *
 * Authorization, in this order:
 * 1. A read of a public stream (and its data) is allowed to anyone, whatever the path's owner.
 * 2. No credential → Unauthenticated. A credential for another user, resource or stream → Forbidden
 *    (decided from the ids alone, before any lookup, so it leaks nothing about existence).
 * 3. A path whose objects do not exist or do not nest (stream not in that resource, resource not
 *    that user's) → NotFound.
 * What each caller kind may do is described on {@link Caller}.
 *
 * Secrets: the user's API tokens, sign-in sessions and the resource and stream keys are 192-bit
 * random strings shown once (at creation or rotation) and stored only as SHA-256 (see
 * {@link hashSecret}). A sign-in (`login`) makes a session that expires; it never touches the API
 * tokens that scripts and device tools hold.
 * Passwords are stored as scrypt records with their salt and parameters.
 *
 * The use cases live in `service/`, one module per aggregate, each class building on the one
 * before: `core.ts` (options, authentication, authorization, paging, events) → `users.ts` →
 * `resources.ts` (with device credentials and the poll log) → `parsers.ts` → `streams.ts` →
 * `data.ts`. A new use case goes in its aggregate's module; this file only gathers them.
 */
import { DataService } from './service/data.ts';

export {
  DEFAULT_SESSION_LIFETIME_MS,
  DEFAULT_TOKEN_NAME,
  MAX_API_TOKENS,
  MAX_PAGE_LIMIT,
  type PageRequest,
  POLL_LOG_KEEP,
  type ResourceChange,
  type ServiceOptions,
} from './service/core.ts';
export type { IngestResult, PointInput, RawPayload } from './service/data.ts';
export type { NewParserInput, ParserPatch } from './service/parsers.ts';
export type { NewResourceInput, ResourcePatch } from './service/resources.ts';
export { hashPassword, hashSecret, newSecret, verifyPassword } from './service/secrets.ts';
export type { NewStreamInput, StreamPatch } from './service/streams.ts';

/** The platform's use cases: every aggregate's, over one store. */
export class PlatformService extends DataService {}

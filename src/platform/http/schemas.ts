/**
 * The HTTP API's route schemas, assembled from the entity schemas in `../schema/`: they validate
 * every request (through the shared strict validator, `../schema/validate.ts`), shape every
 * response (fast-json-stringify drops any field not listed), and become the OpenAPI document at
 * /docs/json. Only what is HTTP's own lives here: path parameters, query strings, status maps.
 */
import { type TSchema, Type } from '@sinclair/typebox';
import { ErrorBody, Id } from '../schema/common.ts';
import { DeviceCredentialView, PollLogView } from '../schema/devices.ts';
import { ParserView } from '../schema/parsers.ts';
import { ResourceView } from '../schema/resources.ts';
import { StreamView } from '../schema/streams.ts';
import { ApiTokenView, UserView } from '../schema/users.ts';

export { DeviceCredentialCreate, DeviceCredentialCreated } from '../schema/devices.ts';
export { PlatformInfo as InfoView } from '../schema/info.ts';
export { ParserCreate, ParserPatch } from '../schema/parsers.ts';
export { IngestCount, PointsBody, PointsView } from '../schema/points.ts';
export { AuthQuery, DataQuery, PageQuery, PollLogQuery, RangeQuery } from '../schema/queries.ts';
export { ResourceCreate, ResourcePatch, ResourceWithKey } from '../schema/resources.ts';
export { StreamCreate, StreamPatch, StreamWithKey } from '../schema/streams.ts';
export { ApiTokenCreated, Credentials, SessionView, TokenCreate, UserPatch, UserWithToken } from '../schema/users.ts';

/** Entities the OpenAPI document names once (components) and responses refer to. */
const named = (id: string, s: TSchema) => ({ ...s, $id: id });
export const sharedSchemas = [
  ErrorBody,
  named('User', UserView),
  named('Resource', ResourceView),
  named('Stream', StreamView),
  named('Parser', ParserView),
  named('DeviceCredential', DeviceCredentialView),
];
export const ref = (id: 'User' | 'Resource' | 'Stream' | 'Parser' | 'DeviceCredential') => ({ $ref: `${id}#` });
export const listOf = (id: Parameters<typeof ref>[0]) => ({ type: 'array', items: ref(id) });

// --- path parameters (text by nature: declared integers are read from decimal digits)

export const UidParams = Type.Object({ uid: Id });
export const RidParams = Type.Object({ uid: Id, rid: Id });
export const PidParams = Type.Object({ uid: Id, rid: Id, pid: Id });
export const SidParams = Type.Object({ uid: Id, rid: Id, sid: Id });
export const TidParams = Type.Object({ uid: Id, tid: Id });
export const CidParams = Type.Object({ uid: Id, rid: Id, cid: Id });

// --- responses

/** A route that answers 204 with no body (`reply.status(204).send()`). */
export const noContent = { 204: Type.Null({ description: 'done; no body' }) };

export const errors = {
  400: { $ref: 'Error#' },
  401: { $ref: 'Error#' },
  403: { $ref: 'Error#' },
  404: { $ref: 'Error#' },
} as const;

export const ApiTokenList = Type.Array(ApiTokenView);
export const PollLogList = Type.Array(PollLogView);
export const IngestResponse = {
  type: 'object',
  properties: {
    stored: { type: 'integer', description: 'points written' },
    created: { type: 'array', items: ref('Stream'), description: 'streams made from a first payload' },
  },
} as const;

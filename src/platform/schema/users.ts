/** Users, their named API tokens and sign-in sessions: the wire shapes and the bodies they accept. */
import { type Static, Type } from '@sinclair/typebox';
import { type ApiToken, LIMITS, type User } from '../model.ts';
import { Id, Label, Millis, Nullable, Strict } from './common.ts';

export const UserView = Type.Object({ id: Id, username: Type.String(), created_at: Millis });
export type UserView = Static<typeof UserView>;

export const userView = (u: User): UserView => ({ id: u.id, username: u.username, created_at: u.createdAt });

const Password = Type.String({ minLength: LIMITS.passwordMinLength, maxLength: LIMITS.passwordMaxLength });

/** `POST /users` and `POST /login`. */
export const Credentials = Type.Object(
  { username: Type.String({ minLength: 1, maxLength: LIMITS.usernameLength }), password: Password },
  Strict,
);
export type Credentials = Static<typeof Credentials>;

/** `PUT /users/:uid`: a new password and/or a new "default" API token. */
export const UserPatch = Type.Object(
  { password: Type.Optional(Password), rotate_token: Type.Optional(Type.Boolean()) },
  Strict,
);
export type UserPatch = Static<typeof UserPatch>;

export const userPatchInput = (b: UserPatch) => ({ password: b.password, rotateToken: b.rotate_token });

export const UserWithToken = Type.Object({
  ...UserView.properties,
  token: Type.Optional(Type.String({ description: 'the API token: shown only now' })),
});

export const SessionView = Type.Object({
  ...UserView.properties,
  token: Type.String({ description: 'the session token (ssn_…): send it as Bearer; the API tokens are unchanged' }),
  expires_at: Type.Integer({ description: 'ms since the epoch; after it the token gets 401 "session expired"' }),
});

/** A named API token as listed: the schema has no secret field, so none can be serialized by mistake. */
export const ApiTokenView = Type.Object({
  id: Id,
  user_id: Id,
  name: Type.String(),
  created_at: Millis,
  last_used_at: Nullable(Type.Integer({ description: 'last request it authenticated, to within a minute' })),
});
export type ApiTokenView = Static<typeof ApiTokenView>;

export const apiTokenView = (t: ApiToken): ApiTokenView => ({
  id: t.id,
  user_id: t.userId,
  name: t.name,
  created_at: t.createdAt,
  last_used_at: t.lastUsedAt,
});

/** `POST /users/:uid/tokens`. */
export const TokenCreate = Type.Object({ name: { ...Label, description: "unique among this user's tokens" } }, Strict);
export type TokenCreate = Static<typeof TokenCreate>;

export const ApiTokenCreated = Type.Object({
  ...ApiTokenView.properties,
  token: Type.String({ description: 'the API token (sst_…): shown only now' }),
});

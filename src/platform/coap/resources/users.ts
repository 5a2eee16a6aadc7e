/** Users: `POST /users`, `POST /login`, `GET|PUT|DELETE /users/:uid` (as the HTTP routes/users.ts). */
import { Code } from '../../../coap/index.ts';
import { Credentials, UserPatch, userPatchInput, userView } from '../../schema/users.ts';
import { body, id, JSON_ONLY, json, type Resources } from './context.ts';

export const userResources: Resources = ({ server, service, limits, caller, h }) => {
  server.post(
    '/users',
    h(async (req) => {
      const { user, token } = await service.createUser(await caller(req), body(req, Credentials));
      return { ...json({ ...userView(user), token }), code: Code.Created, locationPath: ['users', String(user.id)] };
    }),
    { ...JSON_ONLY, title: 'Users', rt: 'securesense.users' },
  );
  server.post(
    '/login',
    h(async (req) => {
      const credentials = body(req, Credentials);
      limits.login(req, credentials.username);
      // A sign-in session (ssn_…) that expires, as over HTTP; the API tokens are left alone.
      const { user, token, expiresAt } = await service.login(credentials);
      return json({ ...userView(user), token, expires_at: expiresAt }, Code.Changed);
    }),
    JSON_ONLY,
  );
  server.get(
    '/users/:uid',
    h(async (req) => json(userView(await service.getUser(await caller(req), id(req, 'uid'))))),
    JSON_ONLY,
  );
  server.put(
    '/users/:uid',
    h(async (req) => {
      const b = body(req, UserPatch);
      const r = await service.updateUser(await caller(req), id(req, 'uid'), userPatchInput(b));
      return json(r.token ? { ...userView(r.user), token: r.token } : userView(r.user), Code.Changed);
    }),
    JSON_ONLY,
  );
  server.delete(
    '/users/:uid',
    h(async (req) => {
      await service.deleteUser(await caller(req), id(req, 'uid'));
      return { code: Code.Deleted };
    }),
  );
  return undefined;
};

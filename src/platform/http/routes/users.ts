/** Users, sign-in sessions and named API tokens. */
import { userPatchInput, userView } from '../../schema/users.ts';
import { apiTokenView } from '../../views.ts';
import * as S from '../schemas.ts';
import { deleteRoute, listRoute, type Routes } from './context.ts';

export const userRoutes: Routes = async (app, { service, caller, loginGuard }) => {
  app.post(
    '/users',
    {
      schema: {
        tags: ['users'],
        summary: 'Create a user (open, or admin-gated by config); returns the API token once',
        body: S.Credentials,
        querystring: S.AuthQuery,
        response: { 201: S.UserWithToken, ...S.errors },
      },
    },
    async (req, reply) => {
      const { user, token } = await service.createUser(await caller(req), req.body);
      return reply.status(201).send({ ...userView(user), token });
    },
  );

  app.post(
    '/login',
    {
      schema: {
        tags: ['users'],
        summary: 'Sign in: a session token that expires (api.sessionLifetime); the API tokens are left alone',
        body: S.Credentials,
        security: [],
        response: { 200: S.SessionView, ...S.errors },
      },
      // Password guessing is slowed per client IP and username, after the body is parsed.
      preHandler: loginGuard,
    },
    async (req) => {
      const { user, token, expiresAt } = await service.login(req.body);
      return { ...userView(user), token, expires_at: expiresAt };
    },
  );

  app.post(
    '/logout',
    {
      schema: {
        tags: ['users'],
        summary: 'Sign out: the session token presented stops working',
        querystring: S.AuthQuery,
        response: { ...S.noContent, ...S.errors },
      },
    },
    async (req, reply) => {
      await service.logout(req.secret);
      return reply.status(204).send();
    },
  );

  // A static segment wins over `:uid` in Fastify's router, so `/users/me` never reaches the id route.
  app.get(
    '/users/me',
    {
      schema: {
        tags: ['users'],
        summary: 'The user whose token this is',
        querystring: S.AuthQuery,
        response: { 200: S.ref('User'), ...S.errors },
      },
    },
    async (req) => userView(await service.whoami(await caller(req))),
  );

  app.get(
    '/users/:uid',
    {
      schema: {
        tags: ['users'],
        params: S.UidParams,
        querystring: S.AuthQuery,
        response: { 200: S.ref('User'), ...S.errors },
      },
    },
    async (req) => userView(await service.getUser(await caller(req), req.params.uid)),
  );

  app.put(
    '/users/:uid',
    {
      schema: {
        tags: ['users'],
        summary: 'Change the password and/or rotate the "default" API token (the new token is returned once)',
        params: S.UidParams,
        querystring: S.AuthQuery,
        body: S.UserPatch,
        response: { 200: S.UserWithToken, ...S.errors },
      },
    },
    async (req) => {
      const r = await service.updateUser(await caller(req), req.params.uid, userPatchInput(req.body));
      return r.token ? { ...userView(r.user), token: r.token } : userView(r.user);
    },
  );

  deleteRoute(app, '/users/:uid', { tags: ['users'], params: S.UidParams }, async ({ uid }, req) =>
    service.deleteUser(await caller(req), uid),
  );

  // --- named API tokens

  listRoute(
    app,
    '/users/:uid/tokens',
    {
      tags: ['tokens'],
      summary: "The user's API tokens: names, created, last used (never the secrets)",
      params: S.UidParams,
      items: S.ApiTokenList,
    },
    async ({ uid }, page, req) => (await service.listTokens(await caller(req), uid, page)).map(apiTokenView),
  );

  app.post(
    '/users/:uid/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'A new named API token; its secret is returned only now',
        params: S.UidParams,
        querystring: S.AuthQuery,
        body: S.TokenCreate,
        response: { 201: S.ApiTokenCreated, ...S.errors },
      },
    },
    async (req, reply) => {
      const { token, secret } = await service.createToken(await caller(req), req.params.uid, req.body);
      return reply.status(201).send({ ...apiTokenView(token), token: secret });
    },
  );

  deleteRoute(
    app,
    '/users/:uid/tokens/:tid',
    { tags: ['tokens'], summary: 'Revoke an API token: it gets 401 from now on', params: S.TidParams },
    async ({ uid, tid }, req) => service.deleteToken(await caller(req), uid, tid),
  );
};

/** Resources, the device credentials bound to them, and their poll log. */
import { deviceCredentialInput, deviceCredentialView, pollLogView } from '../../schema/devices.ts';
import { resourceInput, resourceView } from '../../schema/resources.ts';
import * as S from '../schemas.ts';
import { deleteRoute, listRoute, type Routes } from './context.ts';

export const R = '/users/:uid/resources';

export const resourceRoutes: Routes = async (app, { service, caller }) => {
  listRoute(
    app,
    R,
    { tags: ['resources'], params: S.UidParams, items: S.listOf('Resource') },
    async ({ uid }, page, req) => (await service.listResources(await caller(req), uid, page)).map(resourceView),
  );

  app.post(
    R,
    {
      schema: {
        tags: ['resources'],
        summary: 'Create a resource; returns its secret key once',
        params: S.UidParams,
        querystring: S.AuthQuery,
        body: S.ResourceCreate,
        response: { 201: S.ResourceWithKey, ...S.errors },
      },
    },
    async (req, reply) => {
      const input = resourceInput(req.body);
      const { resource, key } = await service.createResource(await caller(req), req.params.uid, input);
      return reply.status(201).send({ ...resourceView(resource), key });
    },
  );

  app.get(
    `${R}/:rid`,
    {
      schema: {
        tags: ['resources'],
        params: S.RidParams,
        querystring: S.AuthQuery,
        response: { 200: S.ref('Resource'), ...S.errors },
      },
    },
    async (req) => resourceView(await service.getResource(await caller(req), req.params.uid, req.params.rid)),
  );

  app.put(
    `${R}/:rid`,
    {
      schema: {
        tags: ['resources'],
        summary: 'Change a resource; rotate_key returns a new key once',
        params: S.RidParams,
        querystring: S.AuthQuery,
        body: S.ResourcePatch,
        response: { 200: S.ResourceWithKey, ...S.errors },
      },
    },
    async (req) => {
      const { uid, rid } = req.params;
      const r = await service.updateResource(await caller(req), uid, rid, resourceInput(req.body));
      return r.key ? { ...resourceView(r.resource), key: r.key } : resourceView(r.resource);
    },
  );

  deleteRoute(app, `${R}/:rid`, { tags: ['resources'], params: S.RidParams }, async ({ uid, rid }, req) =>
    service.deleteResource(await caller(req), uid, rid),
  );

  // --- device credentials: the DTLS identities that act as a resource

  listRoute(
    app,
    `${R}/:rid/devices`,
    {
      tags: ['devices'],
      summary: "The resource's device credentials (identities and fingerprints; keys are never shown)",
      params: S.RidParams,
      items: S.listOf('DeviceCredential'),
    },
    async ({ uid, rid }, page, req) =>
      (await service.listDeviceCredentials(await caller(req), uid, rid, page)).map(deviceCredentialView),
  );

  app.post(
    `${R}/:rid/devices`,
    {
      schema: {
        tags: ['devices'],
        summary: 'Bind a device identity (PSK, raw public key or X.509) to the resource; usable at once over coaps://',
        params: S.RidParams,
        querystring: S.AuthQuery,
        body: S.DeviceCredentialCreate,
        response: { 201: S.DeviceCredentialCreated, ...S.errors },
      },
    },
    async (req, reply) => {
      const { uid, rid } = req.params;
      const r = await service.addDeviceCredential(await caller(req), uid, rid, deviceCredentialInput(req.body));
      const view = deviceCredentialView(r.credential);
      if (!r.pskKey) return reply.status(201).send(view);
      const shown = r.pskKeyText ? { psk_key: r.pskKey, psk_key_text: r.pskKeyText } : { psk_key: r.pskKey };
      return reply.status(201).send({ ...view, ...shown });
    },
  );

  deleteRoute(
    app,
    `${R}/:rid/devices/:cid`,
    { tags: ['devices'], params: S.CidParams },
    async ({ uid, rid, cid }, req) => service.deleteDeviceCredential(await caller(req), uid, rid, cid),
  );

  listRoute(
    app,
    `${R}/:rid/log`,
    {
      tags: ['resources'],
      summary: "The resource's newest poll outcomes, newest first",
      params: S.RidParams,
      items: S.PollLogList,
      query: S.PollLogQuery,
    },
    async ({ uid, rid }, page, req) =>
      (await service.getPollLog(await caller(req), uid, rid, page.limit, page)).map(pollLogView),
  );
};

/** Resources, the device credentials bound to them, and their poll log. */
import { deviceCredentialInput, deviceCredentialView, pollLogView } from '../../schema/devices.ts';
import { resourceInput, resourceView } from '../../schema/resources.ts';
import * as S from '../schemas.ts';
import { paged, pageOf, type Routes } from './context.ts';

export const R = '/users/:uid/resources';

export const resourceRoutes: Routes = async (app, { service, caller }) => {
  app.get(
    R,
    {
      schema: {
        tags: ['resources'],
        params: S.UidParams,
        querystring: S.PageQuery,
        response: { 200: S.listOf('Resource'), ...S.errors },
      },
    },
    async (req, reply) => {
      const page = pageOf(req.query);
      const items = await service.listResources(await caller(req), req.params.uid, page);
      return paged(req, reply, page, items.map(resourceView));
    },
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

  app.delete(
    `${R}/:rid`,
    {
      schema: {
        tags: ['resources'],
        params: S.RidParams,
        querystring: S.AuthQuery,
        response: { ...S.noContent, ...S.errors },
      },
    },
    async (req, reply) => {
      await service.deleteResource(await caller(req), req.params.uid, req.params.rid);
      return reply.status(204).send();
    },
  );

  // --- device credentials: the DTLS identities that act as a resource

  app.get(
    `${R}/:rid/devices`,
    {
      schema: {
        tags: ['devices'],
        summary: "The resource's device credentials (identities and fingerprints; keys are never shown)",
        params: S.RidParams,
        querystring: S.PageQuery,
        response: { 200: S.listOf('DeviceCredential'), ...S.errors },
      },
    },
    async (req, reply) => {
      const page = pageOf(req.query);
      const items = await service.listDeviceCredentials(await caller(req), req.params.uid, req.params.rid, page);
      return paged(req, reply, page, items.map(deviceCredentialView));
    },
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

  app.delete(
    `${R}/:rid/devices/:cid`,
    {
      schema: {
        tags: ['devices'],
        params: S.CidParams,
        querystring: S.AuthQuery,
        response: { ...S.noContent, ...S.errors },
      },
    },
    async (req, reply) => {
      await service.deleteDeviceCredential(await caller(req), req.params.uid, req.params.rid, req.params.cid);
      return reply.status(204).send();
    },
  );

  app.get(
    `${R}/:rid/log`,
    {
      schema: {
        tags: ['resources'],
        summary: "The resource's newest poll outcomes, newest first",
        params: S.RidParams,
        querystring: S.PollLogQuery,
        response: { 200: S.PollLogList, ...S.errors },
      },
    },
    async (req, reply) => {
      const page = pageOf(req.query);
      const items = await service.getPollLog(await caller(req), req.params.uid, req.params.rid, page.limit, page);
      return paged(req, reply, page, items.map(pollLogView));
    },
  );
};

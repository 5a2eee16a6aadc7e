/** A resource's streams. */
import { streamInput, streamView } from '../../schema/streams.ts';
import * as S from '../schemas.ts';
import { deleteRoute, listRoute, type Routes } from './context.ts';
import { R } from './resources.ts';

export const ST = `${R}/:rid/streams`;

export const streamRoutes: Routes = async (app, { service, caller }) => {
  listRoute(
    app,
    ST,
    { tags: ['streams'], params: S.RidParams, items: S.listOf('Stream') },
    async ({ uid, rid }, page, req) => (await service.listStreams(await caller(req), uid, rid, page)).map(streamView),
  );

  app.post(
    ST,
    {
      schema: {
        tags: ['streams'],
        summary: 'Create a stream; returns its secret key once',
        params: S.RidParams,
        querystring: S.AuthQuery,
        body: S.StreamCreate,
        response: { 201: S.StreamWithKey, ...S.errors },
      },
    },
    async (req, reply) => {
      const { uid, rid } = req.params;
      const { stream, key } = await service.createStream(await caller(req), uid, rid, streamInput(req.body));
      return reply.status(201).send({ ...streamView(stream), key });
    },
  );

  app.get(
    `${ST}/:sid`,
    {
      schema: {
        tags: ['streams'],
        summary: 'A stream (public streams are readable by anyone)',
        params: S.SidParams,
        querystring: S.AuthQuery,
        response: { 200: S.ref('Stream'), ...S.errors },
      },
    },
    async (req) => {
      const { uid, rid, sid } = req.params;
      return streamView(await service.getStream(await caller(req), uid, rid, sid));
    },
  );

  app.put(
    `${ST}/:sid`,
    {
      schema: {
        tags: ['streams'],
        params: S.SidParams,
        querystring: S.AuthQuery,
        body: S.StreamPatch,
        response: { 200: S.StreamWithKey, ...S.errors },
      },
    },
    async (req) => {
      const { uid, rid, sid } = req.params;
      const r = await service.updateStream(await caller(req), uid, rid, sid, streamInput(req.body));
      return r.key ? { ...streamView(r.stream), key: r.key } : streamView(r.stream);
    },
  );

  deleteRoute(app, `${ST}/:sid`, { tags: ['streams'], params: S.SidParams }, async ({ uid, rid, sid }, req) =>
    service.deleteStream(await caller(req), uid, rid, sid),
  );
};

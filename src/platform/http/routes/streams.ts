/** A resource's streams. */
import { streamInput, streamView } from '../../schema/streams.ts';
import * as S from '../schemas.ts';
import { paged, pageOf, type Routes } from './context.ts';
import { R } from './resources.ts';

export const ST = `${R}/:rid/streams`;

export const streamRoutes: Routes = async (app, { service, caller }) => {
  app.get(
    ST,
    {
      schema: {
        tags: ['streams'],
        params: S.RidParams,
        querystring: S.PageQuery,
        response: { 200: S.listOf('Stream'), ...S.errors },
      },
    },
    async (req, reply) => {
      const page = pageOf(req.query);
      const items = await service.listStreams(await caller(req), req.params.uid, req.params.rid, page);
      return paged(req, reply, page, items.map(streamView));
    },
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

  app.delete(
    `${ST}/:sid`,
    {
      schema: {
        tags: ['streams'],
        params: S.SidParams,
        querystring: S.AuthQuery,
        response: { ...S.noContent, ...S.errors },
      },
    },
    async (req, reply) => {
      await service.deleteStream(await caller(req), req.params.uid, req.params.rid, req.params.sid);
      return reply.status(204).send();
    },
  );
};

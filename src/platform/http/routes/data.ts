/** Data in and out: a resource's raw payloads (through its parsers) and a stream's points. */

import { Invalid } from '../../errors.ts';
import { pointsOf } from '../../schema/points.ts';
import { pointsCsv, streamView } from '../../views.ts';
import * as S from '../schemas.ts';
import { queryTime, type Routes } from './context.ts';
import { R } from './resources.ts';
import { ST } from './streams.ts';

export const dataRoutes: Routes = async (app, { service, caller, bodyLimit }) => {
  // Raw resource data: any content type, kept as bytes for the parsers (an encapsulated context,
  // so the JSON parser of every other route is untouched).
  await app.register(async (raw: typeof app) => {
    raw.removeAllContentTypeParsers();
    raw.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));
    raw.post(
      `${R}/:rid/data`,
      {
        schema: {
          tags: ['data'],
          summary: "A raw payload through the resource's parsers (JSON, text, SenML JSON/CBOR)",
          description:
            'All points of the payload are stored in one transaction, or none. The first JSON or SenML payload ' +
            'to a resource with no parsers creates one stream and parser per value.',
          params: S.RidParams,
          querystring: S.AuthQuery,
          response: { 200: S.IngestResponse, ...S.errors },
        },
      },
      async (req) => {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        if (body.length === 0) throw new Invalid('empty payload');
        const r = await service.postResourceData(await caller(req), req.params.uid, req.params.rid, {
          body,
          contentType: req.headers['content-type'] ?? null,
        });
        return { stored: r.stored, created: r.created.map(streamView) };
      },
    );
  });

  app.get(
    `${ST}/:sid/data`,
    {
      schema: {
        tags: ['data'],
        summary: 'The newest `limit` points in [from, until], oldest first, as JSON or CSV',
        params: S.SidParams,
        querystring: S.DataQuery,
        response: {
          200: {
            description: 'JSON (application/json) or RFC 4180 CSV (text/csv) with a `time,value` header',
            content: {
              'application/json': { schema: S.PointsView },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          ...S.errors,
        },
      },
    },
    async (req, reply) => {
      const { uid, rid, sid } = req.params;
      const q = req.query;
      const range = { from: queryTime(q.from, 'from'), until: queryTime(q.until, 'until'), limit: q.limit };
      const { stream, points } = await service.getStreamData(await caller(req), uid, rid, sid, range);
      if (q.format === 'csv') return reply.type('text/csv; charset=utf-8').send(pointsCsv(points));
      return reply
        .type('application/json')
        .send({ stream_id: stream.id, label: stream.label, unit: stream.unit, points });
    },
  );

  app.post(
    `${ST}/:sid/data`,
    {
      schema: {
        tags: ['data'],
        summary: 'Store points: {value, time?}, an array of them, or {points: [...]}; time is ms or ISO 8601',
        params: S.SidParams,
        querystring: S.AuthQuery,
        body: S.PointsBody,
        response: { 200: S.IngestCount, ...S.errors },
      },
    },
    async (req) => {
      const { uid, rid, sid } = req.params;
      return { stored: await service.postStreamData(await caller(req), uid, rid, sid, pointsOf(req.body)) };
    },
  );

  app.delete(
    `${ST}/:sid/data`,
    {
      schema: {
        tags: ['data'],
        summary: 'Delete the points in [from, until] (all without bounds)',
        params: S.SidParams,
        querystring: S.RangeQuery,
        response: { 200: S.IngestCount, ...S.errors },
      },
    },
    async (req) => {
      const { uid, rid, sid } = req.params;
      const range = { from: queryTime(req.query.from, 'from'), until: queryTime(req.query.until, 'until') };
      return { deleted: await service.deleteStreamData(await caller(req), uid, rid, sid, range) };
    },
  );
};

/** A resource's parsers: how its raw payloads become points of its streams. */
import { parserInput, parserView } from '../../schema/parsers.ts';
import * as S from '../schemas.ts';
import { paged, pageOf, type Routes } from './context.ts';
import { R } from './resources.ts';

const P = `${R}/:rid/parsers`;

export const parserRoutes: Routes = async (app, { service, caller }) => {
  app.get(
    P,
    {
      schema: {
        tags: ['parsers'],
        params: S.RidParams,
        querystring: S.PageQuery,
        response: { 200: S.listOf('Parser'), ...S.errors },
      },
    },
    async (req, reply) => {
      const page = pageOf(req.query);
      const items = await service.listParsers(await caller(req), req.params.uid, req.params.rid, page);
      return paged(req, reply, page, items.map(parserView));
    },
  );

  app.post(
    P,
    {
      schema: {
        tags: ['parsers'],
        params: S.RidParams,
        querystring: S.AuthQuery,
        body: S.ParserCreate,
        response: { 201: S.ref('Parser'), ...S.errors },
      },
    },
    async (req, reply) => {
      const p = await service.createParser(await caller(req), req.params.uid, req.params.rid, parserInput(req.body));
      return reply.status(201).send(parserView(p));
    },
  );

  app.get(
    `${P}/:pid`,
    {
      schema: {
        tags: ['parsers'],
        params: S.PidParams,
        querystring: S.AuthQuery,
        response: { 200: S.ref('Parser'), ...S.errors },
      },
    },
    async (req) => {
      const { uid, rid, pid } = req.params;
      return parserView(await service.getParser(await caller(req), uid, rid, pid));
    },
  );

  app.put(
    `${P}/:pid`,
    {
      schema: {
        tags: ['parsers'],
        params: S.PidParams,
        querystring: S.AuthQuery,
        body: S.ParserPatch,
        response: { 200: S.ref('Parser'), ...S.errors },
      },
    },
    async (req) => {
      const { uid, rid, pid } = req.params;
      return parserView(await service.updateParser(await caller(req), uid, rid, pid, parserInput(req.body)));
    },
  );

  app.delete(
    `${P}/:pid`,
    {
      schema: {
        tags: ['parsers'],
        params: S.PidParams,
        querystring: S.AuthQuery,
        response: { ...S.noContent, ...S.errors },
      },
    },
    async (req, reply) => {
      await service.deleteParser(await caller(req), req.params.uid, req.params.rid, req.params.pid);
      return reply.status(204).send();
    },
  );
};

/** A resource's parsers: how its raw payloads become points of its streams. */
import { parserInput, parserView } from '../../schema/parsers.ts';
import * as S from '../schemas.ts';
import { deleteRoute, listRoute, type Routes } from './context.ts';
import { R } from './resources.ts';

const P = `${R}/:rid/parsers`;

export const parserRoutes: Routes = async (app, { service, caller }) => {
  listRoute(
    app,
    P,
    { tags: ['parsers'], params: S.RidParams, items: S.listOf('Parser') },
    async ({ uid, rid }, page, req) => (await service.listParsers(await caller(req), uid, rid, page)).map(parserView),
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

  deleteRoute(app, `${P}/:pid`, { tags: ['parsers'], params: S.PidParams }, async ({ uid, rid, pid }, req) =>
    service.deleteParser(await caller(req), uid, rid, pid),
  );
};

/**
 * Resources: `GET|POST /users/:uid/resources`, `GET|PUT|DELETE …/resources/:rid`, and
 * `POST …/resources/:rid/data`, a raw payload in any content format for the resource's parsers.
 */
import { CoapError, Code, contentFormatName } from '../../../coap/index.ts';
import { ResourceCreate, ResourcePatch, resourceInput, resourceView } from '../../schema/resources.ts';
import { streamView } from '../../schema/streams.ts';
import { body, id, JSON_ONLY, json, page, type Resources } from './context.ts';

export const RESOURCES = '/users/:uid/resources';

export const resourceResources: Resources = ({ server, service, caller, h }) => {
  const R = RESOURCES;
  server.get(
    R,
    h(async (req) =>
      json((await service.listResources(await caller(req), id(req, 'uid'), page(req))).map(resourceView)),
    ),
    JSON_ONLY,
  );
  server.post(
    R,
    h(async (req) => {
      const b = body(req, ResourceCreate);
      const uid = id(req, 'uid');
      const { resource, key } = await service.createResource(await caller(req), uid, resourceInput(b));
      return {
        ...json({ ...resourceView(resource), key }),
        code: Code.Created,
        locationPath: ['users', String(uid), 'resources', String(resource.id)],
      };
    }),
    JSON_ONLY,
  );
  server.get(
    `${R}/:rid`,
    h(async (req) => json(resourceView(await service.getResource(await caller(req), id(req, 'uid'), id(req, 'rid'))))),
    JSON_ONLY,
  );
  server.put(
    `${R}/:rid`,
    h(async (req) => {
      const b = body(req, ResourcePatch);
      const r = await service.updateResource(await caller(req), id(req, 'uid'), id(req, 'rid'), resourceInput(b));
      return json(r.key ? { ...resourceView(r.resource), key: r.key } : resourceView(r.resource), Code.Changed);
    }),
    JSON_ONLY,
  );
  server.delete(
    `${R}/:rid`,
    h(async (req) => {
      await service.deleteResource(await caller(req), id(req, 'uid'), id(req, 'rid'));
      return { code: Code.Deleted };
    }),
  );

  // Any content format, as bytes for the parsers.
  server.post(
    `${R}/:rid/data`,
    h(async (req) => {
      if (req.payload.length === 0) throw new CoapError(Code.BadRequest, 'empty payload');
      const r = await service.postResourceData(await caller(req), id(req, 'uid'), id(req, 'rid'), {
        body: req.payload,
        contentType: req.contentFormat === undefined ? null : contentFormatName(req.contentFormat),
      });
      return json({ stored: r.stored, created: r.created.map(streamView) }, Code.Changed);
    }),
    { ...JSON_ONLY, title: 'Resource data', rt: 'securesense.resource-data' },
  );
  return undefined;
};

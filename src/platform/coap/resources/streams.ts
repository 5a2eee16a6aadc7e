/** Streams: `GET|POST …/resources/:rid/streams`, `GET|PUT|DELETE …/streams/:sid`. */
import { Code } from '../../../coap/index.ts';
import { StreamCreate, StreamPatch, streamInput, streamView } from '../../schema/streams.ts';
import { body, id, JSON_ONLY, json, page, type Resources } from './context.ts';
import { RESOURCES } from './resources.ts';

export const STREAMS = `${RESOURCES}/:rid/streams`;

export const streamResources: Resources = ({ server, service, caller, h }) => {
  const ST = STREAMS;
  server.get(
    ST,
    h(async (req) =>
      json((await service.listStreams(await caller(req), id(req, 'uid'), id(req, 'rid'), page(req))).map(streamView)),
    ),
    JSON_ONLY,
  );
  server.post(
    ST,
    h(async (req) => {
      const b = body(req, StreamCreate);
      const uid = id(req, 'uid');
      const rid = id(req, 'rid');
      const { stream, key } = await service.createStream(await caller(req), uid, rid, streamInput(b));
      return {
        ...json({ ...streamView(stream), key }),
        code: Code.Created,
        locationPath: ['users', String(uid), 'resources', String(rid), 'streams', String(stream.id)],
      };
    }),
    JSON_ONLY,
  );
  server.get(
    `${ST}/:sid`,
    h(async (req) =>
      json(streamView(await service.getStream(await caller(req), id(req, 'uid'), id(req, 'rid'), id(req, 'sid')))),
    ),
    JSON_ONLY,
  );
  server.put(
    `${ST}/:sid`,
    h(async (req) => {
      const b = body(req, StreamPatch);
      const ids = [id(req, 'uid'), id(req, 'rid'), id(req, 'sid')] as const;
      const r = await service.updateStream(await caller(req), ...ids, streamInput(b));
      return json(r.key ? { ...streamView(r.stream), key: r.key } : streamView(r.stream), Code.Changed);
    }),
    JSON_ONLY,
  );
  server.delete(
    `${ST}/:sid`,
    h(async (req) => {
      await service.deleteStream(await caller(req), id(req, 'uid'), id(req, 'rid'), id(req, 'sid'));
      return { code: Code.Deleted };
    }),
  );
  return undefined;
};

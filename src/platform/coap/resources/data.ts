/**
 * Stream data: `GET|POST|DELETE …/streams/:sid/data`, the GET observable (RFC 7641).
 *
 * Per observed path: the service subscription and the batch being notified. The server re-runs
 * the GET handler for each observer (RFC 7641 §4.2); a notification carries the points of the
 * batch that caused it, read before the handler's first await so that every observer of one
 * notify() sees the same batch. A notification delayed behind an unacknowledged Confirmable one
 * carries the newest batch (RFC 7641 §4.5.2 lets a server skip intermediate states).
 */
import { Code, ContentFormat } from '../../../coap/index.ts';
import type { DataPoint } from '../../model.ts';
import { PointsBody, pointsOf } from '../../schema/points.ts';
import { DataQuery, queryTime, RangeQuery } from '../../schema/queries.ts';
import { pointsCsv } from '../../views.ts';
import { fail } from '../errors.ts';
import { body, id, JSON_CF, JSON_ONLY, json, query, type Resources } from './context.ts';
import { STREAMS } from './streams.ts';

export const dataResources: Resources = ({ server, service, limits, caller, h }) => {
  const D = `${STREAMS}/:sid/data`;
  const watched = new Map<string, { stop: () => void; batch: DataPoint[] }>();
  const watch = (path: string, sid: number) => {
    if (watched.has(path)) return;
    const entry = {
      batch: [] as DataPoint[],
      stop: service.subscribe(sid, (points) => {
        if (server.observerCount(path) === 0) {
          entry.stop();
          watched.delete(path);
          return;
        }
        entry.batch = points;
        void server.notify(path);
      }),
    };
    watched.set(path, entry);
  };

  server.get(
    D,
    async (req) => {
      const batch = req.notification ? watched.get(req.path)?.batch : undefined;
      // A notification is the server's doing, not the client's: only requests are limited.
      const refused = req.notification ? undefined : limits.admit(req);
      if (refused) return refused;
      try {
        const uid = id(req, 'uid');
        const rid = id(req, 'rid');
        const sid = id(req, 'sid');
        const q = query(req, DataQuery);
        const limit = q.limit;
        // Authorization runs again for every notification: an unbound device stops hearing.
        const r = await service.getStreamData(await caller(req), uid, rid, sid, {
          from: queryTime(q.from, 'from'),
          until: queryTime(q.until, 'until'),
          // A registration answers with the newest point only, unless asked for more.
          limit: limit ?? (req.observe === 0 ? 1 : undefined),
        });
        if (req.observe === 0 && !req.notification) watch(req.path, sid);
        const points = batch ?? r.points;
        if (q.format === 'csv') return { payload: pointsCsv(points), contentFormat: ContentFormat['text/plain'] };
        return json({ stream_id: r.stream.id, label: r.stream.label, unit: r.stream.unit, points });
      } catch (err) {
        return limits.onError(req, err) ?? fail(err);
      }
    },
    { observable: true, title: 'Stream data', rt: 'securesense.stream-data', produces: [JSON_CF, 0] },
  );
  server.post(
    D,
    h(async (req) => {
      const points = pointsOf(body(req, PointsBody));
      const ids = [id(req, 'uid'), id(req, 'rid'), id(req, 'sid')] as const;
      const stored = await service.postStreamData(await caller(req), ...ids, points);
      return json({ stored }, Code.Changed);
    }),
    JSON_ONLY,
  );
  server.delete(
    D,
    h(async (req) => {
      const q = query(req, RangeQuery);
      const ids = [id(req, 'uid'), id(req, 'rid'), id(req, 'sid')] as const;
      const range = { from: queryTime(q.from, 'from'), until: queryTime(q.until, 'until') };
      const deleted = await service.deleteStreamData(await caller(req), ...ids, range);
      return json({ deleted }, Code.Deleted);
    }),
  );

  // Closing the server ends the service subscriptions of observed streams.
  return () => {
    for (const w of watched.values()) w.stop();
    watched.clear();
  };
};

/**
 * The dashboard's fleet console: `GET /users/:uid/overview` (every resource and device at a
 * glance), `GET /users/:uid/events` (Server-Sent Events: points and device state as they happen,
 * the same feed for every open page) and `GET …/streams/:sid/series` (a time range downsampled in
 * SQL to min/max/mean per bucket).
 */
import type { ServerResponse } from 'node:http';
import { Invalid, RateLimited } from '../../errors.ts';
import type { FleetEvent, FleetMonitor } from '../../fleet.ts';
import type { DataPoint } from '../../model.ts';
import { fleetOverview } from '../../overview.ts';
import { OverviewView, SeriesQuery, SeriesView } from '../../schema/fleet.ts';
import * as S from '../schemas.ts';
import { queryTime, type Routes } from './context.ts';
import { ST } from './streams.ts';

/** Open event streams per user, and in all; beyond either a new one is refused with 429 (counted). */
export const SSE_PER_USER = 20;
export const SSE_TOTAL = 1000;
/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/** Stream → owner look-ups remembered (cleared when full). */
const OWNER_CACHE = 50_000;

/** What the console counts of its own limits (for the operator; shown in `GET /users/:uid/overview`'s logs). */
export interface FleetRouteCounters {
  sseOpen: number;
  sseRefused: number;
}

export function fleetRoutes(fleet: FleetMonitor, counters: FleetRouteCounters): Routes {
  return async (app, { service, caller }) => {
    app.get(
      '/users/:uid/overview',
      {
        schema: {
          tags: ['fleet'],
          summary: "The user's resources and devices at a glance, with counts",
          params: S.UidParams,
          querystring: S.AuthQuery,
          response: { 200: OverviewView, ...S.errors },
        },
      },
      async (req) => fleetOverview(service, fleet, await caller(req), req.params.uid),
    );

    app.get(
      `${ST}/:sid/series`,
      {
        schema: {
          tags: ['data'],
          summary: 'A time range in equal buckets with min/max/mean each (numeric points)',
          params: S.SidParams,
          querystring: SeriesQuery,
          response: {
            200: {
              description: 'JSON, or CSV with a `time,min,max,mean,count` header',
              content: { 'application/json': { schema: SeriesView }, 'text/csv': { schema: { type: 'string' } } },
            },
            ...S.errors,
          },
        },
      },
      async (req, reply) => {
        const { uid, rid, sid } = req.params;
        const q = req.query;
        const from = queryTime(q.from, 'from') as number;
        const until = queryTime(q.until, 'until') ?? Date.now();
        if (from > until) throw new Invalid('from is after until');
        const buckets = q.buckets ?? 300;
        await service.getStream(await caller(req), uid, rid, sid);
        const rows = await service.store.bucketPoints(sid, from, until, buckets);
        if (q.format === 'csv') {
          const lines = [
            'time,min,max,mean,count',
            ...rows.map((b) => `${b.time},${b.min},${b.max},${b.mean},${b.count}`),
          ];
          return reply.type('text/csv; charset=utf-8').send(`${lines.join('\r\n')}\r\n`);
        }
        const view: SeriesView = {
          stream_id: sid,
          from,
          until,
          bucket_ms: Math.max(1, Math.ceil((until - from + 1) / buckets)),
          buckets: rows,
        };
        return reply.type('application/json').send(view);
      },
    );

    // Which user owns a stream / resource, for routing events to their pages.
    const streamOwner = new Map<number, { rid: number; uid: number } | null>();
    const resourceOwner = new Map<number, number | null>();
    const ownerOfResource = async (rid: number): Promise<number | null> => {
      let uid = resourceOwner.get(rid);
      if (uid === undefined) {
        uid = (await service.store.getResource(rid))?.ownerId ?? null;
        if (resourceOwner.size >= OWNER_CACHE) resourceOwner.clear();
        resourceOwner.set(rid, uid);
      }
      return uid;
    };
    const ownerOfStream = async (sid: number): Promise<{ rid: number; uid: number } | null> => {
      let o = streamOwner.get(sid);
      if (o === undefined) {
        const s = await service.store.getStream(sid);
        const uid = s ? await ownerOfResource(s.resourceId) : null;
        o = s && uid !== null ? { rid: s.resourceId, uid } : null;
        if (streamOwner.size >= OWNER_CACHE) streamOwner.clear();
        streamOwner.set(sid, o);
      }
      return o;
    };
    // A deleted stream or resource must not keep routing: forget owners on every change.
    const unwatchResources = service.watchResources(() => {
      streamOwner.clear();
      resourceOwner.clear();
    });

    /** Open pages per user. */
    const pages = new Map<number, Set<ServerResponse>>();
    const send = (uid: number, event: string, data: unknown) => {
      const set = pages.get(uid);
      if (!set) return;
      const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
      for (const res of set) res.write(frame);
    };
    const onPoints = (sid: number, points: DataPoint[]) => {
      if (pages.size === 0) return;
      ownerOfStream(sid).then(
        (o) => {
          if (o) send(o.uid, 'points', { stream_id: sid, resource_id: o.rid, points });
        },
        (err) => app.log.warn({ err }, 'event not routed'),
      );
    };
    const onFleet = (e: FleetEvent) => {
      if (pages.size === 0 || e.kind !== 'device') return;
      ownerOfResource(e.state.resourceId).then(
        (uid) => {
          if (uid !== null)
            send(uid, 'device', {
              resource_id: e.state.resourceId,
              mode: e.state.mode,
              identity: e.state.identity,
              resumed: e.state.resumed,
              last_handshake: e.state.lastHandshake,
              last_seen: e.state.lastSeen,
            });
        },
        (err) => app.log.warn({ err }, 'event not routed'),
      );
    };
    const unwatchPoints = service.watchPoints(onPoints);
    const unwatchFleet = fleet.watch(onFleet);
    // Before the server waits for its connections to end: open event streams never end by themselves.
    app.addHook('preClose', async () => {
      unwatchPoints();
      unwatchFleet();
      unwatchResources();
      for (const set of pages.values()) for (const res of set) res.end();
    });

    app.get(
      '/users/:uid/events',
      {
        schema: {
          tags: ['fleet'],
          summary: 'Server-Sent Events: `points` and `device` as they happen (authenticate with ?key= from a browser)',
          params: S.UidParams,
          querystring: S.AuthQuery,
          response: {
            200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
            ...S.errors,
          },
        },
      },
      async (req, reply) => {
        const { uid } = req.params;
        // Authorized as reading the user's own lists: a user token or session of this user only.
        await service.listResources(await caller(req), uid, { limit: 1, offset: 0 });
        const set = pages.get(uid) ?? new Set<ServerResponse>();
        if (set.size >= SSE_PER_USER || counters.sseOpen >= SSE_TOTAL) {
          counters.sseRefused++;
          reply.header('retry-after', '30');
          throw new RateLimited(`too many open event streams (at most ${SSE_PER_USER} per user)`);
        }
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          'x-content-type-options': 'nosniff',
          connection: 'keep-alive',
        });
        res.write(`retry: 3000\nevent: hello\ndata: ${JSON.stringify({ time: Date.now() })}\n\n`);
        set.add(res);
        pages.set(uid, set);
        counters.sseOpen++;
        const beat = setInterval(() => res.write(': beat\n\n'), HEARTBEAT_MS);
        req.raw.on('close', () => {
          clearInterval(beat);
          set.delete(res);
          if (set.size === 0) pages.delete(uid);
          counters.sseOpen--;
        });
      },
    );
  };
}

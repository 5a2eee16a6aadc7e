/**
 * Data in and out: raw payloads through a resource's parsers, points posted to, read from and
 * deleted from a stream.
 */
import { type Caller, type DataPoint, LIMITS, type PointValue, type Stream, type StreamPoint } from '../model.ts';
import { parseTime, proposeStreams, runParsers, toValue } from '../parsers.ts';
import { strip } from './core.ts';
import { hashSecret, newSecret } from './secrets.ts';

export interface RawPayload {
  body: Buffer;
  contentType: string | null;
}

export interface PointInput {
  /** ms since the epoch, or an ISO 8601 string; absent → now. */
  time?: number | string;
  value: PointValue | boolean;
}

export interface IngestResult {
  /** Points written. */
  stored: number;
  /** Streams created for this payload (the first payload to a resource with no parsers). */
  created: Stream[];
}

import { Invalid, NotFound, TooLarge } from '../errors.ts';
import { StreamService } from './streams.ts';

export class DataService extends StreamService {
  // -------------------------------------------------------------------------------------------
  // Raw resource data

  /**
   * Runs a raw payload through the resource's parsers and stores the points, all or nothing: a
   * payload or value a parser rejects stores nothing. The first payload to a
   * resource without parsers creates one stream and parser per value (SicsthSense's rule).
   */
  async postResourceData(caller: Caller, uid: number, rid: number, payload: RawPayload): Promise<IngestResult> {
    await this.resource(caller, uid, rid, 'data');
    const now = this.now();
    const input = { ...payload, now };
    // The common case, a resource with parsers: parse (and so refuse a bad payload) before the
    // points join the shared transaction of the group commit, so that a bad request fails alone.
    const plan = await this.store.ingestPlan(rid);
    if (plan.parsers.length > 0) {
      const points = runParsers(plan.parsers, plan.streams, input);
      await this.store.insertPoints(points, now);
      this.emit(points);
      return { stored: points.length, created: [] };
    }
    // A first payload: streams and parsers made and points stored in one transaction.
    const result = await this.store.transaction(async (tx) => {
      let parsers = await tx.listParsers(rid);
      const created: Stream[] = [];
      if (parsers.length === 0) {
        // Serialize first payloads to this resource, then look again: another may have won.
        if (!(await tx.lockResource(rid))) throw new NotFound(`no resource ${rid}`);
        parsers = await tx.listParsers(rid);
        if (parsers.length === 0) {
          const proposals = proposeStreams(input);
          if (proposals.length === 0) throw new Invalid('the payload has no values to make streams of');
          for (const p of proposals) {
            const s = await tx.createStream({
              resourceId: rid,
              label: p.label.slice(0, LIMITS.labelLength),
              unit: p.unit,
              type: p.type,
              public: false,
              retentionMaxPoints: null,
              retentionMaxAgeMs: null,
              keyHash: hashSecret(newSecret('sss')),
              createdAt: now,
            });
            created.push(strip(s));
            parsers.push(await tx.createParser({ resourceId: rid, streamId: s.id, ...p.parser, createdAt: now }));
          }
        }
      }
      const streams = new Map((await tx.listStreams(rid)).map((s) => [s.id, strip(s)]));
      const points = runParsers(parsers, streams, input);
      await tx.insertPoints(points, now);
      // The new streams were read before their first points: give them their newest time.
      for (const c of created) {
        for (const p of points)
          if (p.streamId === c.id && (c.lastTime === null || p.time > c.lastTime)) c.lastTime = p.time;
      }
      return { points, created };
    });
    this.emit(result.points);
    if (result.created.length > 0)
      this.log?.info({ resource: rid, streams: result.created.length }, 'streams created from the first payload');
    return { stored: result.points.length, created: result.created };
  }

  // -------------------------------------------------------------------------------------------
  // Stream data

  /** The newest `limit` points in [from, until], oldest first. */
  async getStreamData(
    caller: Caller,
    uid: number,
    rid: number,
    sid: number,
    q: { from?: number; until?: number; limit?: number },
  ): Promise<{ stream: Stream; points: DataPoint[] }> {
    const s = await this.stream(caller, uid, rid, sid, 'read');
    const limit = q.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1 || limit > this.maxReadLimit) {
      throw new Invalid(`limit must be 1–${this.maxReadLimit}`);
    }
    if (q.from !== undefined && q.until !== undefined && q.from > q.until) throw new Invalid('from is after until');
    return { stream: strip(s), points: await this.store.queryPoints(sid, { from: q.from, until: q.until, limit }) };
  }

  /** Stores points given as values (with optional times) into one stream; all or nothing. */
  async postStreamData(caller: Caller, uid: number, rid: number, sid: number, input: PointInput[]): Promise<number> {
    const s = await this.stream(caller, uid, rid, sid, 'data');
    if (input.length === 0) throw new Invalid('no points');
    if (input.length > LIMITS.pointsPerBatch) throw new TooLarge(`more than ${LIMITS.pointsPerBatch} points`);
    const now = this.now();
    const points: StreamPoint[] = input.map((p, i) => ({
      streamId: sid,
      value: toValue(p.value, s.type, `points[${i}].value`),
      time:
        p.time === undefined
          ? now
          : parseTime(
              p.time,
              typeof p.time === 'string' && !/^\d+$/.test(p.time) ? 'iso8601' : 'unix-ms',
              `points[${i}].time`,
            ),
    }));
    await this.store.insertPoints(points, now);
    this.emit(points);
    return points.length;
  }

  async deleteStreamData(
    caller: Caller,
    uid: number,
    rid: number,
    sid: number,
    q: { from?: number; until?: number },
  ): Promise<number> {
    await this.stream(caller, uid, rid, sid, 'owner');
    return this.store.deletePoints(sid, q);
  }
}

/** A resource's streams: labels, units, visibility, retention and their secret keys. */

import { Invalid, NotFound } from '../errors.ts';
import type { Caller, Stream } from '../model.ts';
import type { StreamInput } from '../schema/streams.ts';
import type { Store } from '../store/index.ts';
import { checkLabel, checkPage, type PageRequest, strip } from './core.ts';
import { ParserService } from './parsers.ts';
import { hashSecret, newSecret } from './secrets.ts';

/** A new stream: the API bodies' fields (schema/streams.ts), the label required, no rotation. */
export type NewStreamInput = Omit<StreamInput, 'label' | 'rotateKey'> & { label: string };
/** A change to a stream (its type is fixed at creation); absent fields stay as they are. */
export type StreamPatch = Omit<StreamInput, 'type'>;

export class StreamService extends ParserService {
  // -------------------------------------------------------------------------------------------
  // Streams

  async listStreams(caller: Caller, uid: number, rid: number, page?: PageRequest): Promise<Stream[]> {
    await this.resource(caller, uid, rid, 'read');
    const w = checkPage(page);
    await this.total(page, 'streams', rid);
    return (await this.store.listStreams(rid, w)).map(strip);
  }

  async createStream(
    caller: Caller,
    uid: number,
    rid: number,
    input: NewStreamInput,
  ): Promise<{ stream: Stream; key: string }> {
    await this.resource(caller, uid, rid, 'owner');
    checkLabel(input.label);
    checkRetention(input.retentionMaxPoints, input.retentionMaxAgeMs);
    const key = newSecret('sss');
    const s = await this.store.createStream({
      resourceId: rid,
      label: input.label,
      unit: input.unit ?? null,
      type: input.type ?? 'numeric',
      public: input.public ?? false,
      retentionMaxPoints: input.retentionMaxPoints ?? null,
      retentionMaxAgeMs: input.retentionMaxAgeMs ?? null,
      keyHash: hashSecret(key),
      createdAt: this.now(),
    });
    return { stream: strip(s), key };
  }

  async getStream(caller: Caller, uid: number, rid: number, sid: number): Promise<Stream> {
    return strip(await this.stream(caller, uid, rid, sid, 'read'));
  }

  async updateStream(
    caller: Caller,
    uid: number,
    rid: number,
    sid: number,
    patch: StreamPatch,
  ): Promise<{ stream: Stream; key?: string }> {
    await this.stream(caller, uid, rid, sid, 'owner');
    if (patch.label !== undefined) checkLabel(patch.label);
    checkRetention(patch.retentionMaxPoints, patch.retentionMaxAgeMs);
    const { rotateKey, ...rest } = patch;
    let key: string | undefined;
    const set: Parameters<Store['updateStream']>[1] = { ...rest };
    if (rotateKey) {
      key = newSecret('sss');
      set.keyHash = hashSecret(key);
    }
    const s = await this.store.updateStream(sid, set);
    if (!s) throw new NotFound(`no stream ${sid}`);
    return key ? { stream: strip(s), key } : { stream: strip(s) };
  }

  async deleteStream(caller: Caller, uid: number, rid: number, sid: number): Promise<void> {
    await this.stream(caller, uid, rid, sid, 'owner');
    await this.store.deleteStream(sid);
  }
}

function checkRetention(points: number | null | undefined, ageMs: number | null | undefined): void {
  if (points !== undefined && points !== null && (!Number.isInteger(points) || points < 1)) {
    throw new Invalid('retention_max_points must be a positive integer');
  }
  if (ageMs !== undefined && ageMs !== null && (!Number.isInteger(ageMs) || ageMs < 1)) {
    throw new Invalid('retention_max_age_ms must be a positive integer');
  }
}

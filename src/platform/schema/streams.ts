/** Streams: the wire shape and the bodies that create and change one. */
import { type Static, Type } from '@sinclair/typebox';
import type { Stream } from '../model.ts';
import { Id, Label, Millis, Nullable, Strict } from './common.ts';

export const StreamType = Type.Union([Type.Literal('numeric'), Type.Literal('text')]);

export const StreamView = Type.Object({
  id: Id,
  resource_id: Id,
  label: Type.String(),
  unit: Nullable(Type.String()),
  type: StreamType,
  public: Type.Boolean(),
  retention_max_points: Nullable(Type.Integer()),
  retention_max_age_ms: Nullable(Type.Integer()),
  created_at: Millis,
  last_time: Nullable(Type.Integer()),
});
export type StreamView = Static<typeof StreamView>;

export const streamView = (s: Stream): StreamView => ({
  id: s.id,
  resource_id: s.resourceId,
  label: s.label,
  unit: s.unit,
  type: s.type,
  public: s.public,
  retention_max_points: s.retentionMaxPoints,
  retention_max_age_ms: s.retentionMaxAgeMs,
  created_at: s.createdAt,
  last_time: s.lastTime,
});

const fields = {
  unit: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  public: Type.Optional(Type.Boolean()),
  retention_max_points: Type.Optional(Nullable(Type.Integer({ minimum: 1 }))),
  retention_max_age_ms: Type.Optional(Nullable(Type.Integer({ minimum: 1 }))),
};

export const StreamCreate = Type.Object({ label: Label, type: Type.Optional(StreamType), ...fields }, Strict);
export type StreamCreate = Static<typeof StreamCreate>;

/** A stream's type is fixed at creation: its points were read by it. */
export const StreamPatch = Type.Object(
  { label: Type.Optional(Label), ...fields, rotate_key: Type.Optional(Type.Boolean()) },
  Strict,
);
export type StreamPatch = Static<typeof StreamPatch>;

/** What the service takes from either body (absent fields stay absent: unchanged on a patch). */
export interface StreamInput {
  label?: string;
  unit?: string | null;
  type?: StreamCreate['type'];
  public?: boolean;
  retentionMaxPoints?: number | null;
  retentionMaxAgeMs?: number | null;
  rotateKey?: boolean;
}

/** The service's input from a body; a create body's label stays required. */
export function streamInput(b: StreamCreate): StreamInput & { label: string };
export function streamInput(b: StreamPatch): StreamInput;
export function streamInput(b: StreamPatch & { type?: StreamCreate['type'] }): StreamInput {
  return {
    label: b.label,
    unit: b.unit,
    type: b.type,
    public: b.public,
    retentionMaxPoints: b.retention_max_points,
    retentionMaxAgeMs: b.retention_max_age_ms,
    rotateKey: b.rotate_key,
  };
}

export const StreamWithKey = Type.Object({
  ...StreamView.properties,
  key: Type.Optional(Type.String({ description: 'the secret key: shown only now' })),
});

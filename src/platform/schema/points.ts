/** Data points: what a client posts to a stream and what a read returns. */
import { type Static, Type } from '@sinclair/typebox';
import { LIMITS } from '../model.ts';
import { Id, Nullable, Strict, TimeInput } from './common.ts';

/**
 * One point as posted. The value is a number or a string; which one a stream takes is its type's
 * business (a numeric stream also reads a decimal string such as "21.5", never "0x10"). No
 * boolean and no null: a point is never invented from them.
 */
export const PointInput = Type.Object(
  {
    time: Type.Optional(TimeInput),
    value: Type.Union([Type.Number(), Type.String({ maxLength: LIMITS.textValueLength })]),
  },
  Strict,
);
export type PointInput = Static<typeof PointInput>;

/** At most LIMITS.pointsPerBatch: the service refuses more with 413, on either protocol. */
const Batch = Type.Array(PointInput, {
  minItems: 1,
  description: `at most ${LIMITS.pointsPerBatch} points (413 beyond)`,
});

/** One point, an array of points, or `{ points: [...] }`. */
export const PointsBody = Type.Union([PointInput, Batch, Type.Object({ points: Batch }, Strict)]);
export type PointsBody = Static<typeof PointsBody>;

/** The points of any of the body's three forms. */
export const pointsOf = (b: PointsBody): PointInput[] => (Array.isArray(b) ? b : 'points' in b ? b.points : [b]);

export const PointView = Type.Object({ time: Type.Integer(), value: Type.Union([Type.Number(), Type.String()]) });

export const PointsView = Type.Object({
  stream_id: Id,
  label: Type.String(),
  unit: Nullable(Type.String()),
  points: Type.Array(PointView),
});

export const IngestCount = Type.Object({
  stored: Type.Optional(Type.Integer({ description: 'points written' })),
  deleted: Type.Optional(Type.Integer({ description: 'points deleted' })),
});

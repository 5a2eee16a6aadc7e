/**
 * Building blocks of the entity schemas (TypeBox: each is a JSON Schema and a TypeScript type at
 * once). Every schema here is strict: no coercion happens anywhere, so a field is exactly the JSON
 * type it declares — `null`, `true` or `"42"` never become a number, `42` never a label.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { LIMITS } from '../model.ts';

/** A row id: a positive 32-bit integer (both engines' INTEGER primary keys). */
export const Id = Type.Integer({ minimum: 1, maximum: 2_147_483_647 });

/** `T` or JSON null (a field that can be cleared). */
export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** A user-given name: 1–200 characters. */
export const Label = Type.String({ minLength: 1, maxLength: LIMITS.labelLength });

/** ms since the Unix epoch, as every time inside the platform. */
export const Millis = Type.Integer();

/** A time given by a client: ms since the epoch, or an ISO 8601 string (read by `parseTime`). */
export const TimeInput = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ maxLength: 40 })], {
  description: 'ms since the epoch, or ISO 8601',
});

/** The body of every 4xx/5xx answer over HTTP (CoAP carries the message as diagnostic payload). */
export const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() }, { $id: 'Error' });
export type ErrorBody = Static<typeof ErrorBody>;

/** A strict object: unknown fields are refused by name. */
export const Strict = { additionalProperties: false } as const;

/**
 * Query strings (HTTP `?…`, CoAP Uri-Query): text by nature, so a field declared integer is read
 * from decimal digits (`compileText` in validate.ts); `key` is the SicsthSense-style secret.
 */
import { Type } from '@sinclair/typebox';
import { parseTime } from '../point-values.ts';

const key = Type.Optional(Type.String({ maxLength: 256, description: 'user token, resource key or stream key' }));

export const AuthQuery = Type.Object({ key });

/** Paging of list routes: the body stays an array; `X-Total-Count` and `Link: rel="next"` tell the rest. */
const offset = Type.Optional(
  Type.Integer({ minimum: 0, default: 0, description: 'skip this many items first (id order)' }),
);
export const PageQuery = Type.Object({
  key,
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 1000, description: 'at most this many items (default: all)' }),
  ),
  offset,
});

const bound = (what: string) => Type.Optional(Type.String({ maxLength: 40, description: what }));
const from = bound('inclusive; ms since the epoch or ISO 8601');
const until = bound('inclusive; ms since the epoch or ISO 8601');

export const DataQuery = Type.Object({
  key,
  from,
  until,
  limit: Type.Optional(Type.Integer({ minimum: 1, description: 'the newest N points of the range (default 1000)' })),
  format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' })),
});

export const RangeQuery = Type.Object({ key, from, until });

export const PollLogQuery = Type.Object({
  key,
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  offset,
});

/** A `from`/`until` query value: digits are ms since the epoch, anything else ISO 8601. */
export function queryTime(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  return parseTime(v, /^\d+$/.test(v) ? 'unix-ms' : 'iso8601', name);
}

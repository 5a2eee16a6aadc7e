/** Parsers: how a resource's raw payloads become points of its streams. */
import { type Static, Type } from '@sinclair/typebox';
import { LIMITS, type Parser } from '../model.ts';
import { Id, Millis, Strict } from './common.ts';

export const ParserKind = Type.Union([Type.Literal('json-path'), Type.Literal('regex'), Type.Literal('senml')]);
export const TimeFormat = Type.Union([Type.Literal('unix-s'), Type.Literal('unix-ms'), Type.Literal('iso8601')]);

export const ParserView = Type.Object({
  id: Id,
  resource_id: Id,
  stream_id: Id,
  kind: ParserKind,
  expression: Type.String(),
  time_format: TimeFormat,
  created_at: Millis,
});
export type ParserView = Static<typeof ParserView>;

export const parserView = (p: Parser): ParserView => ({
  id: p.id,
  resource_id: p.resourceId,
  stream_id: p.streamId,
  kind: p.kind,
  expression: p.expression,
  time_format: p.timeFormat,
  created_at: p.createdAt,
});

const fields = {
  stream_id: Id,
  kind: ParserKind,
  expression: Type.String({ maxLength: LIMITS.expressionLength }),
  time_format: Type.Optional(TimeFormat),
};

export const ParserCreate = Type.Object(fields, Strict);
export type ParserCreate = Static<typeof ParserCreate>;

export const ParserPatch = Type.Partial(Type.Object(fields, Strict));
export type ParserPatch = Static<typeof ParserPatch>;

/** What the service takes from either body. */
export interface ParserInput {
  streamId?: number;
  kind?: ParserCreate['kind'];
  expression?: string;
  timeFormat?: ParserCreate['time_format'];
}

/** The service's input from a body; a create body's required fields stay required. */
export function parserInput(
  b: ParserCreate,
): Required<Omit<ParserInput, 'timeFormat'>> & Pick<ParserInput, 'timeFormat'>;
export function parserInput(b: ParserPatch): ParserInput;
export function parserInput(b: ParserPatch): ParserInput {
  return { streamId: b.stream_id, kind: b.kind, expression: b.expression, timeFormat: b.time_format };
}

/**
 * The one validator of client input, used by the HTTP API (as Fastify's validator compiler) and by
 * the CoAP API alike, so both answer the same input with the same refusal.
 *
 * Strict: a value is accepted only as the JSON type its schema declares. The one conversion is of
 * query strings and path parameters, which are text by nature: a field declared numeric there is
 * read from plain decimal digits (no hex, no exponent, no blanks). Refusals are short and name the
 * field: `value must be a number or a string`, `label must be at most 200 characters`,
 * `unknown field colour`, `stream_id is required`.
 */
import { Kind, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { InvalidInput } from '../errors.ts';

export type Check<T> = (value: unknown) => T;

/** `/points/0/value` → `points[0].value`, `/1/value` → `body[1].value`; the root is `body` (or `root`). */
export function fieldName(path: string, root = 'body'): string {
  if (path === '') return root;
  let out = /^\/\d+(\/|$)/.test(path) ? root : '';
  for (const raw of path.slice(1).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`;
  }
  return out;
}

const TYPE_NAMES: Record<string, string> = {
  Integer: 'an integer',
  Number: 'a number',
  String: 'a string',
  Boolean: 'a boolean',
  Null: 'null',
  Object: 'a JSON object',
  Array: 'an array',
};

/** What a schema accepts, in words: `an integer or null`, `one of "numeric", "text"`. */
export function describe(schema: TSchema): string {
  if (schema[Kind] === 'Literal') return JSON.stringify(schema.const);
  if (schema[Kind] === 'Union') {
    const members = schema.anyOf as TSchema[];
    if (members.every((m) => m[Kind] === 'Literal')) return `one of ${members.map(describe).join(', ')}`;
    return members.map(describe).join(' or ');
  }
  return TYPE_NAMES[schema[Kind] as string] ?? 'valid';
}

/** Whether `value` has the JSON type of `schema` (ignoring its bounds). */
function sameType(schema: TSchema, value: unknown): boolean {
  switch (schema[Kind]) {
    case 'Integer':
      return Number.isInteger(value);
    case 'Number':
      return typeof value === 'number';
    case 'String':
      return typeof value === 'string';
    case 'Boolean':
      return typeof value === 'boolean';
    case 'Null':
      return value === null;
    case 'Array':
      return Array.isArray(value);
    case 'Object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    case 'Literal':
      return value === schema.const;
    default:
      return false;
  }
}

/**
 * The member of a union that `value` was meant for: the one of its JSON type; among objects the
 * one whose required fields it has (so `{points: …}` is read as a batch, `{value: …}` as a point).
 */
function memberFor(schema: TSchema, value: unknown): TSchema | undefined {
  const members = (schema.anyOf as TSchema[]).filter((m) => sameType(m, value));
  if (members.length <= 1) return members[0];
  const keys = new Set(Object.keys(value as object));
  return members.find((m) => ((m.required as string[] | undefined) ?? []).every((k) => keys.has(k))) ?? members[0];
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** One refusal, in words, for the first thing wrong with `value`. */
function explain(e: ValueError, root: string): InvalidInput {
  const field = fieldName(e.path, root);
  const s = e.schema;
  const say = (text: string) => new InvalidInput(field, `${field} ${text}`);
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return say('is required');
    case ValueErrorType.ObjectAdditionalProperties:
      return new InvalidInput(field, `unknown field ${field}`);
    case ValueErrorType.Union: {
      const member = memberFor(s, e.value);
      const inner = member && Value.Errors(member, e.value).First();
      if (inner) return explain({ ...inner, path: e.path + inner.path }, root);
      return say(`must be ${describe(s)}`);
    }
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return say(`must be ≥ ${s.minimum}`);
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return say(`must be ≤ ${s.maximum}`);
    case ValueErrorType.StringMinLength:
      return say(s.minLength === 1 ? 'must not be empty' : `must be at least ${plural(s.minLength, 'character')}`);
    case ValueErrorType.StringMaxLength:
      return say(`must be at most ${plural(s.maxLength, 'character')}`);
    case ValueErrorType.ArrayMinItems:
      return say(s.minItems === 1 ? 'must not be empty' : `must have at least ${plural(s.minItems, 'item')}`);
    case ValueErrorType.ArrayMaxItems:
      return say(`must have at most ${plural(s.maxItems, 'item')}`);
    default:
      return say(`must be ${describe(s)}`);
  }
}

/** A checker of `schema`: returns the value, typed, or throws {@link InvalidInput} naming the field. */
export function compile<T extends TSchema>(schema: T, root = 'body'): Check<Static<T>> {
  const checker = TypeCompiler.Compile(schema);
  return (value) => {
    if (checker.Check(value)) return value;
    // Fastify hands a missing body over as null.
    if (value === undefined || value === null) throw new InvalidInput(root, `a JSON ${root} is required`);
    const first = checker.Errors(value).First();
    throw first ? explain(first, root) : new InvalidInput(root, `${root} is not valid`);
  };
}

const checks = new WeakMap<TSchema, Check<unknown>>();

/** {@link compile}, once per schema object. */
export function check<T extends TSchema>(schema: T, value: unknown, root = 'body'): Static<T> {
  let c = checks.get(schema);
  if (!c) {
    c = compile(schema, root);
    checks.set(schema, c);
  }
  return c(value) as Static<T>;
}

const DECIMAL = /^-?\d{1,15}$/;

/**
 * A query string or path parameters against their (flat object) schema: a field declared integer
 * or number is read from plain decimal digits; defaults are filled in. Everything else is as sent.
 */
export function compileText<T extends TSchema>(schema: T, root: string): Check<Static<T>> {
  const strict = compile(schema, root);
  const props = (schema.properties ?? {}) as Record<string, TSchema>;
  const numeric = Object.keys(props).filter((k) => props[k][Kind] === 'Integer' || props[k][Kind] === 'Number');
  return (value) => {
    const v: Record<string, unknown> = { ...(value as Record<string, unknown> | null) };
    for (const k of numeric) {
      const raw = v[k];
      if (typeof raw === 'string' && DECIMAL.test(raw)) v[k] = Number(raw);
    }
    return strict(Value.Default(schema, v));
  };
}

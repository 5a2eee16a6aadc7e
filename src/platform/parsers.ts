/**
 * Parsers: pure functions from a raw payload (bytes + content type) to points per stream.
 *
 * - json-path: `/room1/sensors/temp` (RFC 6901 JSON Pointer syntax) resolving to a value, to a
 *   `{ value, time }` object, or to an array of such objects.
 * - regex: a JavaScript regular expression applied (flags `gm`) to the payload as UTF-8 text; every
 *   match gives a point from the named groups `value` and `time`, or else groups 1 and 2. User
 *   regexes run in a `node:vm` context with a time limit, so a catastrophic pattern costs at most
 *   {@link REGEX_TIMEOUT_MS} per payload instead of hanging the server.
 * - senml: SenML (RFC 8428) in JSON or CBOR; records are resolved (§4.6) and taken by their
 *   resolved name.
 *
 * Nothing here touches the store: the service runs these and stores the whole batch in one
 * transaction, so a bad payload stores nothing. Reading SenML packs is `senml.ts`; fitting a value
 * and a time to a point is `point-values.ts`.
 */
import vm from 'node:vm';
import { CborError, type CborValue, decode as decodeCbor } from '../util/cbor.ts';
import { Internal, Invalid, TooLarge, Unprocessable } from './errors.ts';
import {
  LIMITS,
  type Parser,
  type ParserKind,
  type Stream,
  type StreamPoint,
  type StreamType,
  type TimeFormat,
} from './model.ts';
import { parseTime, toValue } from './point-values.ts';
import { type ResolvedSenml, resolveSenml, type SenmlRecord, senmlFromCbor, senmlFromJson } from './senml.ts';

export { parseTime, toValue } from './point-values.ts';
export { type ResolvedSenml, resolveSenml, type SenmlRecord, senmlFromCbor, senmlFromJson } from './senml.ts';

export const REGEX_TIMEOUT_MS = 100;

export interface Payload {
  body: Buffer;
  /** The request's Content-Type (parameters allowed), or null. */
  contentType: string | null;
  /** Receive time in ms: the time of points that carry none, and SenML's "now" (RFC 8428 §4.5.3). */
  now: number;
}

const bad = (msg: string) => new Invalid(msg);

// ---------------------------------------------------------------------------------------------
// Payload decoding

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function mediaType(ct: string | null): string {
  return (ct ?? '').split(';')[0].trim().toLowerCase();
}

function isSenmlType(ct: string | null): boolean {
  const m = mediaType(ct);
  return m === 'application/senml+json' || m === 'application/senml+cbor';
}

function isCborType(ct: string | null): boolean {
  const m = mediaType(ct);
  return m === 'application/cbor' || m === 'application/senml+cbor';
}

/** Lazily decoded views of one payload, so that several parsers share one JSON.parse. */
class Decoded {
  private json?: { ok: true; value: Json } | { ok: false; error: string };
  private text?: string;
  constructor(readonly payload: Payload) {}

  asJson(): Json {
    if (!this.json) {
      try {
        this.json = { ok: true, value: JSON.parse(this.asText()) as Json };
      } catch (err) {
        this.json = { ok: false, error: (err as Error).message };
      }
    }
    if (!this.json.ok) throw bad(`payload is not valid JSON: ${this.json.error}`);
    return this.json.value;
  }

  asText(): string {
    if (this.text === undefined) {
      try {
        this.text = new TextDecoder('utf-8', { fatal: true }).decode(this.payload.body);
      } catch {
        throw bad('payload is not valid UTF-8 text');
      }
    }
    return this.text;
  }

  /** The SenML pack, from CBOR when the content type says so or the first byte is a CBOR array. */
  asSenml(): SenmlRecord[] {
    const body = this.payload.body;
    const first = body.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
    const cbor = isCborType(this.payload.contentType) || (first !== undefined && first >= 0x80 && first <= 0x9f);
    if (cbor) {
      let v: CborValue;
      try {
        v = decodeCbor(body, { maxDepth: 4 });
      } catch (err) {
        if (err instanceof CborError) throw bad(`payload is not valid CBOR: ${err.message}`);
        throw err;
      }
      return senmlFromCbor(v);
    }
    return senmlFromJson(this.asJson());
  }
}

// ---------------------------------------------------------------------------------------------
// JSON path

/** Splits `/a/b~1c/0` into ["a", "b/c", "0"] (RFC 6901 §3–4). "" is the whole document. */
export function splitJsonPath(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw bad(`JSON path ${JSON.stringify(path)} must start with "/"`);
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function escapeToken(t: string): string {
  return t.replace(/~/g, '~0').replace(/\//g, '~1');
}

function resolvePath(doc: Json, tokens: string[]): Json | undefined {
  let cur: Json | undefined = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(t)) return undefined;
      cur = cur[Number(t)];
    } else if (cur !== null && typeof cur === 'object') {
      cur = Object.hasOwn(cur, t) ? cur[t] : undefined;
    } else return undefined;
    if (cur === undefined) return undefined;
  }
  return cur;
}

function isValueObject(v: Json): v is { [k: string]: Json } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, 'value');
}

/** JSON paths split once per expression (a parser's path is fixed), not once per payload. */
const compiledPaths = new Map<string, string[]>();
const MAX_COMPILED_PATHS = 10_000;

function compiledPath(expression: string): string[] {
  let tokens = compiledPaths.get(expression);
  if (!tokens) {
    tokens = splitJsonPath(expression);
    // A bounded cache: beyond the bound the oldest entry goes (and is split again when seen).
    if (compiledPaths.size >= MAX_COMPILED_PATHS) compiledPaths.delete(compiledPaths.keys().next().value as string);
    compiledPaths.set(expression, tokens);
  }
  return tokens;
}

function jsonPathPoints(doc: Json, p: Parser, stream: ParserTarget, now: number): StreamPoint[] {
  const found = resolvePath(doc, compiledPath(p.expression));
  // A path the payload does not carry gives no point: a resource's payloads may vary.
  if (found === undefined || found === null) return [];
  const where = `parser ${p.id} (${p.expression})`;
  const one = (v: Json): StreamPoint => {
    if (isValueObject(v)) {
      const t = v.time;
      return {
        streamId: stream.id,
        value: toValue(v.value, stream.type, where),
        time: t === undefined || t === null ? now : parseTime(t, p.timeFormat, `${where} time`),
      };
    }
    return { streamId: stream.id, value: toValue(v, stream.type, where), time: now };
  };
  if (Array.isArray(found)) {
    if (!found.every(isValueObject)) throw bad(`${where}: an array must hold {value, time} objects`);
    if (found.length > LIMITS.pointsPerBatch)
      throw new TooLarge(`more than ${LIMITS.pointsPerBatch} points in one payload`);
    return found.map(one);
  }
  return [one(found)];
}

// ---------------------------------------------------------------------------------------------
// Regular expressions, in a vm context with a timeout

const regexContext = vm.createContext({ src: '', text: '', limit: 0, out: [] as Array<[unknown, unknown]> });
const regexScript = new vm.Script(`
  out = [];
  for (const m of text.matchAll(new RegExp(src, 'gm'))) {
    const g = m.groups || {};
    out.push([g.value !== undefined ? g.value : m[1], g.time !== undefined ? g.time : m[2]]);
    if (out.length > limit) break;
    if (m[0] === '') break;
  }
  out;
`);

/** Checks a regex parser's expression: it must compile and have a value group. */
export function checkRegex(expression: string): void {
  let re: RegExp;
  try {
    re = new RegExp(expression, 'gm');
  } catch (err) {
    throw bad(`invalid regular expression: ${(err as Error).message}`);
  }
  // Count capture groups by matching against the empty alternative: `new RegExp(src + '|')` always matches "".
  const groups = (new RegExp(`${re.source}|`).exec('') ?? []).length - 1;
  if (groups < 1)
    throw bad('the regular expression needs a capture group for the value (named "value" or the first group)');
}

function regexPoints(text: string, p: Parser, stream: ParserTarget, now: number): StreamPoint[] {
  const where = `parser ${p.id} (regex)`;
  let matches: Array<[unknown, unknown]>;
  try {
    Object.assign(regexContext, { src: p.expression, text, limit: LIMITS.pointsPerBatch });
    matches = regexScript.runInContext(regexContext, { timeout: REGEX_TIMEOUT_MS }) as Array<[unknown, unknown]>;
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    if (/timed out/i.test(msg)) throw new Unprocessable(`${where}: the regular expression took too long`);
    throw bad(`${where}: ${msg}`);
  } finally {
    regexContext.text = '';
  }
  return matches
    .filter(([v]) => v !== undefined)
    .map(([v, t]) => ({
      streamId: stream.id,
      value: toValue(v, stream.type, where),
      time: t === undefined ? now : parseTime(t, p.timeFormat, `${where} time`),
    }));
}

// ---------------------------------------------------------------------------------------------
// Running a resource's parsers

/**
 * Runs every parser of a resource over one payload. Throws Invalid for a payload the
 * parsers cannot read or a value that does not fit its stream; the caller stores nothing then.
 */
/** What a parser needs of the stream it feeds: where the points go and what type they take. */
export type ParserTarget = Pick<Stream, 'id' | 'type'>;

export function runParsers(parsers: Parser[], streams: Map<number, ParserTarget>, payload: Payload): StreamPoint[] {
  const d = new Decoded(payload);
  const out: StreamPoint[] = [];
  let senml: ResolvedSenml[] | undefined;
  for (const p of parsers) {
    const stream = streams.get(p.streamId);
    if (!stream) throw new Internal(`parser ${p.id} targets missing stream ${p.streamId}`);
    switch (p.kind) {
      case 'json-path':
        for (const pt of jsonPathPoints(d.asJson(), p, stream, payload.now)) out.push(pt);
        break;
      case 'regex':
        for (const pt of regexPoints(d.asText(), p, stream, payload.now)) out.push(pt);
        break;
      case 'senml': {
        senml ??= resolveSenml(d.asSenml(), payload.now);
        for (const r of senml) {
          if (r.name !== p.expression) continue;
          out.push({ streamId: stream.id, value: toValue(r.value, stream.type, `SenML "${r.name}"`), time: r.time });
        }
        break;
      }
    }
    if (out.length > LIMITS.pointsPerBatch)
      throw new TooLarge(`more than ${LIMITS.pointsPerBatch} points in one payload`);
  }
  return out;
}

/** A stream and parser to create for a resource that has none (SicsthSense's first-payload rule). */
export interface AutoStream {
  label: string;
  unit: string | null;
  type: StreamType;
  parser: { kind: ParserKind; expression: string; timeFormat: TimeFormat };
}

/** Deepest JSON leaf that becomes a stream (bounds the recursion over a hostile payload). */
const MAX_AUTO_DEPTH = 32;

function guessTimeFormat(t: Json | undefined): TimeFormat {
  if (typeof t === 'string' && !/^\d+(\.\d+)?$/.test(t)) return 'iso8601';
  const n = Number(t);
  return Number.isFinite(n) && n > 1e11 ? 'unix-ms' : 'unix-s';
}

/**
 * Proposes one stream and parser per leaf of the first payload: a JSON leaf (number, boolean, text
 * or `{value, time}`) by its path, or a SenML name. Returns an empty list when there is nothing
 * to take; throws 400 for a payload that is neither JSON nor SenML.
 */
export function proposeStreams(payload: Payload): AutoStream[] {
  const d = new Decoded(payload);
  const out: AutoStream[] = [];
  const push = (s: AutoStream) => {
    if (out.length >= LIMITS.autoStreams) {
      throw new TooLarge(`the first payload has more than ${LIMITS.autoStreams} values; add parsers explicitly`);
    }
    out.push(s);
  };
  const first = payload.body.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
  const looksCbor = first !== undefined && first >= 0x80 && first <= 0x9f;
  if (isSenmlType(payload.contentType) || (isCborType(payload.contentType) && looksCbor)) {
    const seen = new Set<string>();
    for (const r of resolveSenml(d.asSenml(), payload.now)) {
      if (seen.has(r.name)) continue;
      seen.add(r.name);
      push({
        label: r.name,
        unit: r.unit,
        type: typeof r.value === 'number' ? 'numeric' : 'text',
        parser: { kind: 'senml', expression: r.name, timeFormat: 'unix-s' },
      });
    }
    return out;
  }
  let doc: Json;
  try {
    doc = d.asJson();
  } catch {
    throw bad('the resource has no parsers and the payload is not JSON or SenML: add a parser first');
  }
  const walk = (v: Json, tokens: string[]) => {
    if (v === null) return;
    if (tokens.length > MAX_AUTO_DEPTH) throw bad(`the first payload nests deeper than ${MAX_AUTO_DEPTH} levels`);
    const path = tokens.length === 0 ? '' : `/${tokens.map(escapeToken).join('/')}`;
    const label = tokens.length === 0 ? 'value' : tokens.join('/');
    if (isValueObject(v)) {
      const inner = v.value;
      push({
        label,
        unit: typeof v.unit === 'string' ? v.unit : null,
        type: typeof inner === 'number' || typeof inner === 'boolean' ? 'numeric' : 'text',
        parser: { kind: 'json-path', expression: path, timeFormat: guessTimeFormat(v.time) },
      });
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) walk(v[i], [...tokens, String(i)]);
    } else if (typeof v === 'object') {
      for (const [k, x] of Object.entries(v as { [k: string]: Json })) walk(x, [...tokens, k]);
    } else {
      push({
        label,
        unit: null,
        type: typeof v === 'number' || typeof v === 'boolean' ? 'numeric' : 'text',
        parser: { kind: 'json-path', expression: path, timeFormat: 'unix-ms' },
      });
    }
  };
  walk(doc, []);
  return out;
}

/** Validates a parser definition before it is stored. */
export function checkParser(kind: ParserKind, expression: string): void {
  if (expression.length > LIMITS.expressionLength) throw bad(`expression longer than ${LIMITS.expressionLength}`);
  if (kind === 'json-path') splitJsonPath(expression);
  else if (kind === 'regex') checkRegex(expression);
  else if (kind === 'senml' && expression === '') throw bad('a senml parser needs the resolved record name');
}

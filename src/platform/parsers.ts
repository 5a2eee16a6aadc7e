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
 * transaction, so a bad payload stores nothing.
 */
import vm from 'node:vm';
import { CborError, type CborValue, decode as decodeCbor } from '../util/cbor.ts';
import {
  LIMITS,
  type Parser,
  type ParserKind,
  PlatformError,
  type PointValue,
  type Stream,
  type StreamPoint,
  type StreamType,
  type TimeFormat,
} from './model.ts';

export const REGEX_TIMEOUT_MS = 100;

/** The newest time a point may carry (the ECMAScript Date range, ms). */
const MAX_TIME = 8.64e15;

export interface Payload {
  body: Buffer;
  /** The request's Content-Type (parameters allowed), or null. */
  contentType: string | null;
  /** Receive time in ms: the time of points that carry none, and SenML's "now" (RFC 8428 §4.5.3). */
  now: number;
}

const bad = (msg: string) => new PlatformError(400, msg);

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
// Values and times

/** How deep {@link show} looks into a value before it writes "…". */
const SHOW_DEPTH = 3;

/**
 * A value for an error message, cut short: a payload may be large, and deep. JSON.parse builds a
 * value nested 100 000 levels without complaint, but JSON.stringify (and String(), which joins
 * arrays recursively) then overflows the stack: the client would get a 500 instead of the 400
 * naming its bad field. So only the first few levels and characters are rendered, by hand.
 */
function show(v: unknown): string {
  const s = preview(v, SHOW_DEPTH, 64);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function preview(v: unknown, depth: number, budget: number): string {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'string') return JSON.stringify(v.length > budget ? v.slice(0, budget) : v);
    return String(v);
  }
  if (depth === 0) return Array.isArray(v) ? '[…]' : '{…}';
  const parts: string[] = [];
  let used = 0;
  const entries: Array<[string | undefined, unknown]> = Array.isArray(v)
    ? v.map((x) => [undefined, x])
    : Object.keys(v).map((k) => [k, (v as Record<string, unknown>)[k]]);
  for (const [k, x] of entries) {
    if (used > budget) {
      parts.push('…');
      break;
    }
    const item = `${k === undefined ? '' : `${JSON.stringify(k)}:`}${preview(x, depth - 1, budget - used)}`;
    parts.push(item);
    used += item.length + 1;
  }
  return Array.isArray(v) ? `[${parts.join(',')}]` : `{${parts.join(',')}}`;
}

/**
 * A number written in decimal (`21.5`, `-3`, `1e3`, blanks around allowed), as a payload's text
 * carries it. Not what `Number()` also reads: `0x1f`, `0b1`, `Infinity`, the empty string.
 */
const DECIMAL = /^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?\s*$/;

/**
 * Reads a raw value as the stream's type: numbers (and decimal text; a parsed payload's booleans
 * as 1/0 — the points API refuses booleans before this) or text.
 */
export function toValue(raw: unknown, type: StreamType, where: string): PointValue {
  if (type === 'numeric') {
    let n: number;
    if (typeof raw === 'number') n = raw;
    else if (typeof raw === 'boolean') n = raw ? 1 : 0;
    else if (typeof raw === 'string' && DECIMAL.test(raw)) n = Number(raw);
    else throw bad(`${where}: ${show(raw)} is not a number (the stream is numeric)`);
    if (!Number.isFinite(n)) throw bad(`${where}: value is not finite`);
    return n;
  }
  let s: string;
  if (typeof raw === 'string') s = raw;
  else if (typeof raw === 'number' || typeof raw === 'boolean') s = String(raw);
  else throw bad(`${where}: ${show(raw)} is not a text value`);
  if (s.length > LIMITS.textValueLength) throw bad(`${where}: text value longer than ${LIMITS.textValueLength}`);
  return s;
}

const ISO8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/** Reads a time in the parser's format into ms since the epoch. */
export function parseTime(raw: unknown, format: TimeFormat, where = 'time'): number {
  let ms: number;
  if (format === 'iso8601') {
    if (typeof raw !== 'string' || !ISO8601.test(raw.trim())) throw bad(`${where}: ${show(raw)} is not ISO 8601`);
    ms = Date.parse(raw.trim());
  } else {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && DECIMAL.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isFinite(n)) throw bad(`${where}: ${show(raw)} is not a ${format} time`);
    ms = format === 'unix-s' ? n * 1000 : n;
  }
  ms = Math.round(ms);
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIME) throw bad(`${where}: ${show(raw)} is out of range`);
  return ms;
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
      throw new PlatformError(413, `more than ${LIMITS.pointsPerBatch} points in one payload`);
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
    if (/timed out/i.test(msg)) throw new PlatformError(422, `${where}: the regular expression took too long`);
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
// SenML (RFC 8428)

export interface SenmlRecord {
  bn?: string;
  bt?: number;
  bu?: string;
  bv?: number;
  bver?: number;
  n?: string;
  u?: string;
  v?: number;
  vs?: string;
  vb?: boolean;
  vd?: string;
  s?: number;
  t?: number;
}

/** SenML CBOR labels (RFC 8428 §6, Table 6). */
const CBOR_LABELS: Record<number, keyof SenmlRecord> = {
  [-1]: 'bver',
  [-2]: 'bn',
  [-3]: 'bt',
  [-4]: 'bu',
  [-5]: 'bv',
  [-6]: 'bs' as keyof SenmlRecord,
  0: 'n',
  1: 'u',
  2: 'v',
  3: 'vs',
  4: 'vb',
  5: 's',
  6: 't',
  7: 'ut' as keyof SenmlRecord,
  8: 'vd',
};

const FIELD_TYPES: Record<string, 'string' | 'number' | 'boolean'> = {
  bn: 'string',
  bt: 'number',
  bu: 'string',
  bv: 'number',
  bs: 'number',
  bver: 'number',
  n: 'string',
  u: 'string',
  v: 'number',
  vs: 'string',
  vb: 'boolean',
  vd: 'string',
  s: 'number',
  t: 'number',
  ut: 'number',
};

function checkRecord(rec: Record<string, unknown>, i: number): SenmlRecord {
  for (const [k, v] of Object.entries(rec)) {
    const type = FIELD_TYPES[k];
    if (!type) {
      // §4.4: a label ending in "_" must be understood, or the whole pack is rejected.
      if (k.endsWith('_')) throw bad(`SenML record ${i}: unsupported must-understand field "${k}"`);
      continue;
    }
    if (typeof v !== type) throw bad(`SenML record ${i}: field "${k}" must be a ${type}`);
  }
  return rec as SenmlRecord;
}

export function senmlFromJson(doc: unknown): SenmlRecord[] {
  if (!Array.isArray(doc)) throw bad('a SenML pack must be a JSON array of records (RFC 8428 §4)');
  return doc.map((r, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw bad(`SenML record ${i} is not an object`);
    return checkRecord(r, i);
  });
}

export function senmlFromCbor(v: CborValue): SenmlRecord[] {
  if (!Array.isArray(v)) throw bad('a SenML-CBOR pack must be an array of maps (RFC 8428 §6)');
  return v.map((r, i) => {
    if (!(r instanceof Map)) throw bad(`SenML-CBOR record ${i} is not a map`);
    const rec: Record<string, unknown> = {};
    for (const [k, x] of r) {
      // §6: labels are integers; text labels are allowed for fields without a number.
      const name = typeof k === 'number' ? CBOR_LABELS[k] : typeof k === 'string' ? k : undefined;
      if (name === undefined) {
        if (typeof k === 'number' && k < -256) continue; // private-use labels are ignored
        throw bad(`SenML-CBOR record ${i}: unknown label ${String(k)}`);
      }
      // vd is a byte string in CBOR (§6); we keep it as base64url text like the JSON form.
      rec[name] = name === 'vd' && Buffer.isBuffer(x) ? x.toString('base64url') : typeof x === 'bigint' ? Number(x) : x;
    }
    return checkRecord(rec, i);
  });
}

export interface ResolvedSenml {
  name: string;
  unit: string | null;
  value: number | string | boolean;
  time: number;
}

/** Resolves a pack (RFC 8428 §4.6): base fields carry forward; relative times count from `now`. */
export function resolveSenml(records: SenmlRecord[], now: number): ResolvedSenml[] {
  let bn = '';
  let bt = 0;
  let bu: string | undefined;
  let bv = 0;
  const out: ResolvedSenml[] = [];
  records.forEach((r, i) => {
    if (r.bver !== undefined && r.bver > 10) throw bad(`SenML record ${i}: version ${r.bver} is not supported`);
    if (r.bn !== undefined) bn = r.bn;
    if (r.bt !== undefined) bt = r.bt;
    if (r.bu !== undefined) bu = r.bu;
    if (r.bv !== undefined) bv = r.bv;
    let value: number | string | boolean;
    if (r.v !== undefined) value = bv + r.v;
    else if (r.vs !== undefined) value = r.vs;
    else if (r.vb !== undefined) value = r.vb;
    else if (r.vd !== undefined) value = r.vd;
    else if (r.bv !== undefined && r.n !== undefined) value = bv;
    else return; // a record with only base fields or a sum carries no value for a stream
    const name = bn + (r.n ?? '');
    // §4.5.1: the name must be non-empty and use only these characters.
    if (name === '' || !/^[A-Za-z0-9][A-Za-z0-9\-:./_]*$/.test(name)) {
      throw bad(`SenML record ${i}: invalid name ${JSON.stringify(name)}`);
    }
    const t = bt + (r.t ?? 0);
    // §4.5.3: values below 2^28 are relative to now (seconds); others are absolute seconds.
    const ms = Math.round(t < 2 ** 28 ? now + t * 1000 : t * 1000);
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIME) throw bad(`SenML record ${i}: time out of range`);
    out.push({ name, unit: r.u ?? bu ?? null, value, time: ms });
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running a resource's parsers

/**
 * Runs every parser of a resource over one payload. Throws PlatformError(400) for a payload the
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
    if (!stream) throw new PlatformError(500, `parser ${p.id} targets missing stream ${p.streamId}`);
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
      throw new PlatformError(413, `more than ${LIMITS.pointsPerBatch} points in one payload`);
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
      throw new PlatformError(
        413,
        `the first payload has more than ${LIMITS.autoStreams} values; add parsers explicitly`,
      );
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

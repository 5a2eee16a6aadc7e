/**
 * A parsed value and time as a point takes them: a value fitted to its stream's type (numbers from
 * decimal text; text bounded), a time read in the parser's format (ms since the epoch, within the
 * ECMAScript Date range). Refusals are Invalid and quote a short preview of the offending value.
 */
import { Invalid } from './errors.ts';
import { LIMITS, type PointValue, type StreamType, type TimeFormat } from './model.ts';

/** The newest time a point may carry (the ECMAScript Date range, ms). */
export const MAX_TIME = 8.64e15;

const bad = (msg: string) => new Invalid(msg);

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

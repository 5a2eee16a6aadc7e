/**
 * The CoAP server's router: method + path patterns (`/a/b`, `/users/:uid`, `/files/*`), matched in
 * the order they were added. A path without `:name` or `*` segments is found by one Map lookup; the
 * patterns are tried one by one, without building params until one matches.
 */
import type { Method } from './options.ts';

/** What the router needs of a route. */
export interface RouteShape {
  readonly method: Method;
  /** The pattern's segments: `/users/:uid` → ["users", ":uid"]. */
  readonly segments: string[];
  /** Order of addition: the first matching route wins. */
  readonly index: number;
  /** Has `:name` or `*` segments, so it cannot be found by exact path. */
  readonly dynamic: boolean;
}

/** Splits a pattern into segments and says whether it has `:name` or `*` ones. */
export function parsePattern(pattern: string): { segments: string[]; dynamic: boolean } {
  const segments = pattern === '/' ? [] : pattern.replace(/^\//, '').split('/');
  return { segments, dynamic: segments.some((seg) => seg.startsWith(':') || seg === '*') };
}

export class Router<R extends RouteShape> {
  /** Every route, in order of addition. */
  readonly routes: R[] = [];
  /** Routes without `:name` or `*`, by their path ("/a/b"). */
  private readonly exact = new Map<string, R[]>();
  private readonly patterns: R[] = [];

  add(r: R): void {
    this.routes.push(r);
    if (r.dynamic) this.patterns.push(r);
    else {
      const key = `/${r.segments.join('/')}`;
      const list = this.exact.get(key);
      if (list) list.push(r);
      else this.exact.set(key, [r]);
    }
  }

  /**
   * The route for a method and path, in the order the routes were added: a path without `:name`
   * or `*` segments is one Map lookup; the patterns are tried one by one.
   */
  match(
    method: Method,
    segs: string[],
    path: string,
  ): { route: R; params: Record<string, string> } | 'method' | undefined {
    let pathMatched = false;
    let found: R | undefined;
    const statics = this.exact.get(path);
    // The joined path names the segments exactly when their number agrees (pattern segments hold no '/').
    if (statics !== undefined) {
      for (const r of statics) {
        if (r.segments.length !== segs.length) continue;
        if (r.method === method) {
          found = r;
          break;
        }
        pathMatched = true;
      }
    }
    // A pattern added before the exact route still wins, as it always has.
    const before = found ? found.index : Number.POSITIVE_INFINITY;
    for (const r of this.patterns) {
      if (r.index > before) break;
      if (!patternMatches(r.segments, segs)) continue;
      if (r.method === method) return { route: r, params: matchPattern(r.segments, segs) ?? {} };
      pathMatched = true;
    }
    if (found) return { route: found, params: {} };
    return pathMatched ? 'method' : undefined;
  }
}

/** Whether path segments match a pattern's, without building the params. */
function patternMatches(pattern: string[], segs: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '*' && i === pattern.length - 1) return true;
    if (i >= segs.length) return false;
    if (p.charCodeAt(0) === 58 /* ':' */) {
      if (segs[i] === '') return false;
    } else if (p !== segs[i]) return false;
  }
  return pattern.length === segs.length;
}

/** Matches path segments against a pattern's; returns the params or undefined. */
export function matchPattern(pattern: string[], segs: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '*' && i === pattern.length - 1) {
      params['*'] = segs.slice(i).join('/');
      return params;
    }
    if (i >= segs.length) return undefined;
    if (p.startsWith(':')) {
      if (segs[i] === '') return undefined;
      params[p.slice(1)] = segs[i];
    } else if (p !== segs[i]) return undefined;
  }
  return pattern.length === segs.length ? params : undefined;
}

/** What the logs may show of a request URL or query: the values of secret parameters redacted. */

/** Query parameters whose values are secrets: never logged. */
const SECRET_PARAMS = new Set(['key', 'token', 'password', 'access_token']);

/** A query string with the values of secret parameters replaced (`?key=…` → `?key=[redacted]`). */
export function redactQuery(query: string): string {
  if (query === '') return '';
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = decodeURIComponentSafe(eq < 0 ? pair : pair.slice(0, eq)).toLowerCase();
      return SECRET_PARAMS.has(name) ? `${pair.slice(0, eq < 0 ? pair.length : eq)}=[redacted]` : pair;
    })
    .join('&');
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A URL as the access log shows it: the path and a query without secret values. */
export function loggablePath(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const rest = redactQuery(url.slice(q + 1));
  return rest === '' ? url.slice(0, q) : `${url.slice(0, q)}?${rest}`;
}

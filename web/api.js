/**
 * The platform's HTTP API as the page calls it: JSON in and out, the signed-in token as
 * `Authorization: Bearer …` unless another (or none: `token: null`) is given, and every non-2xx
 * answer thrown as an {@link ApiError} with the server's message.
 */

/** A non-2xx answer of the API, with its status and the server's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let tokenSource = () => undefined;

/** Where api() takes the token from when a call does not name one. */
export function useToken(fn) {
  tokenSource = fn;
}

export async function api(path, { method = 'GET', body, token = tokenSource() } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'the server cannot be reached');
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data.message ?? res.statusText ?? `HTTP ${res.status}`);
  return data;
}

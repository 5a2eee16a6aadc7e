/**
 * The address of what is on screen: `#/users/UID/resources/RID/streams/SID` a stream,
 * `#/users/UID/resources/RID` a resource's page, `#/tokens` the API tokens, nothing the overview.
 */
export function route() {
  if (location.hash === '#/tokens') return { kind: 'tokens', path: '/tokens' };
  const m = /^#\/users\/(\d+)\/resources\/(\d+)\/streams\/(\d+)$/.exec(location.hash);
  if (m) return { kind: 'stream', uid: Number(m[1]), rid: Number(m[2]), sid: Number(m[3]), path: m[0].slice(1) };
  const r = /^#\/users\/(\d+)\/resources\/(\d+)$/.exec(location.hash);
  if (r) return { kind: 'resource', uid: Number(r[1]), rid: Number(r[2]), path: r[0].slice(1) };
  return null;
}

/**
 * The live feed: one Server-Sent Events stream per signed-in tab (`GET /users/UID/events`), its
 * `points` and `device` events handed to whoever listens. EventSource reconnects by itself; an
 * EventSource cannot send headers, so the token goes as `?key=` (the same token as every call).
 */
let source = null;
const listeners = new Set();

/** Opens the feed for `auth` ({ uid, token }), closing any other. */
export function openLive(auth) {
  closeLive();
  source = new EventSource(`/users/${auth.uid}/events?key=${encodeURIComponent(auth.token)}`);
  for (const kind of ['points', 'device']) {
    source.addEventListener(kind, (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return;
      }
      for (const l of listeners) l(kind, data);
    });
  }
  source.addEventListener('open', () => document.body.setAttribute('data-live', 'open'));
  source.addEventListener('error', () => document.body.setAttribute('data-live', 'reconnecting'));
}

export function closeLive() {
  source?.close();
  source = null;
  document.body.removeAttribute('data-live');
}

/** Calls `fn(kind, data)` for every event; returns the unsubscribe. */
export function onLive(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

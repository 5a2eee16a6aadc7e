/**
 * The overview after sign-in: counts at the top (devices online, points/min, handshakes/min,
 * errors), then one row per resource with its devices' modes and identities, online or offline,
 * the last handshake (full or resumed), points in the last hour and the poller's state.
 * Built from `GET /users/UID/overview`; text only through textContent (labels are user data).
 */
const MODE = { psk: 'PSK', rpk: 'RPK', x509: 'X.509' };

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function ago(t, now) {
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

const short = (id) => (/^[0-9a-f]{64}$/.test(id) ? `${id.slice(0, 12)}…` : id);

/** Renders `o` (the overview) into `root` (a section element). */
export function renderOverview(root, o, uid) {
  const now = o.time;
  const c = o.counts;
  const counts = el('dl', null, 'counts');
  for (const [name, value, id] of [
    ['devices online', `${c.devices_online} / ${c.resources}`, 'c-online'],
    ['points / min', c.points_per_min, 'c-points'],
    ['handshakes / min', c.handshakes_per_min, 'c-handshakes'],
    ['errors', c.errors, 'c-errors'],
  ]) {
    const box = el('div', null, name === 'errors' && c.errors > 0 ? 'count bad' : 'count');
    const dd = el('dd', String(value));
    dd.id = id;
    box.append(el('dt', name), dd);
    counts.append(box);
  }
  const table = el('table');
  table.id = 'fleet';
  const head = el('tr');
  for (const h of ['resource', 'state', 'devices', 'last handshake', 'points, last hour', 'poller'])
    head.append(Object.assign(el('th', h), { scope: 'col' }));
  table.append(el('thead'), el('tbody'));
  table.tHead.append(head);
  for (const r of o.resources) {
    const tr = el('tr');
    tr.dataset.rid = String(r.id);
    const name = el('td');
    const a = el('a', r.label);
    a.href = `#/users/${uid}/resources/${r.id}`;
    name.append(a);
    const state = el('td', r.online ? 'online' : 'offline', r.online ? 'online' : 'offline');
    if (r.last_seen !== null) state.title = `last heard ${ago(r.last_seen, now)}`;
    const devices = el('td');
    if (r.devices.length === 0) devices.append(el('span', r.poller ? 'polled' : 'none', 'hint'));
    for (const d of r.devices) {
      const chip = el('span', null, 'device');
      chip.append(el('span', MODE[d.mode] ?? d.mode, `mode mode-${d.mode}`), ' ', el('code', short(d.identity)));
      chip.title = d.identity;
      devices.append(chip);
    }
    const hs = el('td');
    if (r.last_handshake) {
      const h = r.last_handshake;
      hs.append(`${ago(h.time, now)} · `, el('span', h.resumed ? 'resumed' : 'full', h.resumed ? 'resumed' : 'full'));
    } else hs.append(el('span', '—', 'hint'));
    const pts = el('td', String(r.points_last_hour), 'num');
    const poller = el('td');
    if (r.poller) {
      poller.append(el('span', r.poller.state, `poll-${r.poller.state}`));
      if (r.poller.last_error) poller.append(el('div', r.poller.last_error, 'hint'));
    } else poller.append(el('span', '—', 'hint'));
    tr.append(name, state, devices, hs, pts, poller);
    table.tBodies[0].append(tr);
  }
  const wrap = el('div', null, 'scroll');
  wrap.append(table);
  const parts = [el('h2', 'Overview'), counts];
  if (o.resources.length === 0) parts.push(el('p', 'No resources yet: create one on the left.', 'empty'));
  else parts.push(wrap);
  parts.push(
    el(
      'p',
      `Online: heard from within ${Math.round(o.online_window_ms / 60000)} min (a datagram, a point or a successful poll). ` +
        'Updated live as points and handshakes arrive.',
      'hint',
    ),
  );
  root.replaceChildren(...parts);
}

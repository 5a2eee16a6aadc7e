// The SecureSense dashboard: a user's resources and streams, and a chart of a stream's newest
// points, refreshed every 5 s. It uses only the public HTTP API (docs/platform.md) and loads
// nothing from elsewhere: the page is served with `default-src 'self'`, so no inline script or
// style, no CDN. Public streams open without signing in by their address:
//   /#/users/1/resources/2/streams/3
// User data (labels, units, text values) only ever goes into the page through textContent.

const REFRESH_MS = 5000;
/** Points fetched for the chart; the table shows the newest TABLE_ROWS of them. */
const CHART_POINTS = 200;
const TABLE_ROWS = 20;
const STORAGE_KEY = 'securesense';
const SVG_NS = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);

/** A non-2xx answer of the API, with its status and the server's message. */
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** { uid, token, username } while signed in. Kept for the browser tab only (sessionStorage). */
let auth = null;
try {
  const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null');
  if (saved && Number.isInteger(saved.uid) && typeof saved.token === 'string') auth = saved;
} catch {
  auth = null;
}

async function api(path, { method = 'GET', body, token = auth?.token } = {}) {
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

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const pad2 = (n) => String(n).padStart(2, '0');
function clock(t) {
  const d = new Date(t);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
function day(t) {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
}
const stamp = (t) => `${day(t)} ${clock(t)}`;
function ago(t) {
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
/** Numbers as the API gave them, but without float noise such as 0.30000000000000004. */
const show = (v) => (typeof v === 'number' ? String(Number(v.toPrecision(12))) : String(v));

// --- the route: #/users/UID/resources/RID/streams/SID names the open stream

function route() {
  const m = /^#\/users\/(\d+)\/resources\/(\d+)\/streams\/(\d+)$/.exec(location.hash);
  return m ? { uid: Number(m[1]), rid: Number(m[2]), sid: Number(m[3]), path: m[0].slice(1) } : null;
}

// --- signing in and out

function saveAuth(a) {
  auth = a;
  if (a) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(a));
  else sessionStorage.removeItem(STORAGE_KEY);
}

function loginError(message) {
  const p = $('login-error');
  p.textContent = message ?? '';
  p.hidden = !message;
}

function renderAccount() {
  $('signin').hidden = auth !== null;
  $('tree').hidden = auth === null;
  $('who').hidden = auth === null;
  $('logout').hidden = auth === null;
  $('who').textContent = auth ? `${auth.username ?? 'user'} (id ${auth.uid})` : '';
  if (!auth) $('tree').replaceChildren();
}

$('login-password').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  loginError(null);
  const username = $('username').value.trim();
  const password = $('password').value;
  try {
    const u = await api('/login', { method: 'POST', body: { username, password }, token: null });
    $('password').value = '';
    saveAuth({ uid: u.id, token: u.token, username: u.username });
    await signedIn();
  } catch (err) {
    loginError(err.status === 401 ? 'Wrong username or password.' : `Cannot sign in: ${err.message}`);
  }
});

$('login-token').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  loginError(null);
  const token = $('token').value.trim();
  try {
    // Checked before it is kept: GET /users/me names the token's user, or refuses the token.
    const u = await api('/users/me', { token });
    $('token').value = '';
    saveAuth({ uid: u.id, token, username: u.username });
    await signedIn();
  } catch (err) {
    if (err.status === 401) loginError(`This token was not accepted (${err.message}).`);
    else if (err.status === 403) loginError(`This is not a user's API token (${err.message}).`);
    else loginError(`Cannot sign in: ${err.message}`);
  }
});

$('logout').addEventListener('click', () => logout(null));

function logout(message) {
  saveAuth(null);
  renderAccount();
  loginError(message);
  // A private stream stays on screen no longer than its owner does.
  if (route()) location.hash = '';
  showStream();
}

async function signedIn() {
  loginError(null);
  renderAccount();
  await loadTree();
  await showStream();
}

// --- the resources and streams of the signed-in user

async function loadTree() {
  if (!auth) return;
  const tree = $('tree');
  const { uid } = auth;
  let resources;
  let streams;
  try {
    resources = await api(`/users/${uid}/resources`);
    streams = await Promise.all(resources.map((r) => api(`/users/${uid}/resources/${r.id}/streams`)));
  } catch (err) {
    // A token rotated elsewhere (a password sign-in, PUT /users/:uid) ends this session.
    if (err.status === 401) return logout(`Signed out: your token is no longer valid (${err.message}).`);
    tree.replaceChildren(el('p', `Cannot list your resources: ${err.message}`, 'error'));
    return;
  }
  if (!auth || auth.uid !== uid) return; // signed out meanwhile
  const heading = el('h2', 'Resources');
  if (resources.length === 0) {
    const p = el('p', 'No resources yet. Create one with ', 'empty');
    p.append(el('code', `POST /users/${uid}/resources`), ' (see the API reference); its streams appear here.');
    tree.replaceChildren(heading, p);
    return;
  }
  const current = route();
  const top = el('ul');
  resources.forEach((r, i) => {
    const li = el('li');
    li.append(el('div', r.label, 'resource'));
    const sub = el('ul');
    if (streams[i].length === 0) sub.append(el('li', 'no streams yet', 'hint'));
    for (const s of streams[i]) {
      const item = el('li');
      const a = el('a', s.label);
      a.href = `#/users/${uid}/resources/${r.id}/streams/${s.id}`;
      if (current && current.rid === r.id && current.sid === s.id) a.setAttribute('aria-current', 'page');
      item.append(a);
      if (s.unit) item.append(' ', el('span', s.unit, 'unit'));
      if (s.public) item.append(el('span', 'public', 'badge'));
      if (s.last_time !== null) item.append(' ', el('span', `· ${ago(s.last_time)}`, 'age'));
      sub.append(item);
    }
    li.append(sub);
    top.append(li);
  });
  tree.replaceChildren(heading, top);
}

function markCurrent() {
  const current = route();
  for (const a of $('tree').querySelectorAll('a')) {
    if (current && a.getAttribute('href') === `#${current.path}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// --- one stream: its last value, a line chart and a table of the newest points

function status(text, isError = false) {
  const p = $('status');
  p.textContent = text;
  p.className = isError ? 'error' : 'hint';
}

/** About `count` round tick values, from one at or below `lo` to one at or above `hi`. */
function ticks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step);
  const last = Math.ceil(hi / step);
  const out = [];
  for (let i = first; i <= last; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

let drawn = null; // the last draw's arguments, to draw again at a new width

function draw(points, unit) {
  drawn = { points, unit };
  const chart = $('chart');
  const nums = points.filter((p) => typeof p.value === 'number' && Number.isFinite(p.value));
  chart.replaceChildren();
  chart.dataset.points = String(nums.length);
  // SVG elements have no `hidden` property: the attribute itself (styled in style.css) hides it.
  chart.toggleAttribute('hidden', nums.length === 0);
  if (nums.length === 0) return;
  // The drawing is as wide as the element, one SVG unit per CSS pixel, so that the axis text keeps
  // its size on a phone as on a wide screen.
  const W = Math.round(Math.min(1600, Math.max(280, chart.getBoundingClientRect().width || 800)));
  const H = W < 500 ? 220 : 280;
  chart.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const L = 64;
  const R = 16;
  const T = 14;
  const B = 30;
  const t0 = nums[0].time;
  const t1 = nums[nums.length - 1].time;
  let lo = Math.min(...nums.map((p) => p.value));
  let hi = Math.max(...nums.map((p) => p.value));
  if (lo === hi) {
    const d = Math.abs(lo) > 1 ? Math.abs(lo) * 0.05 : 1;
    lo -= d;
    hi += d;
  }
  const ys = ticks(lo, hi, 4);
  lo = Math.min(lo, ys[0]);
  hi = Math.max(hi, ys[ys.length - 1]);
  // One point, or all at one time, sit in the middle rather than on the left edge.
  const x = (t) => (t1 === t0 ? (L + W - R) / 2 : L + ((t - t0) / (t1 - t0)) * (W - L - R));
  const y = (v) => H - B - ((v - lo) / (hi - lo)) * (H - T - B);
  for (const v of ys) {
    chart.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    chart.append(svg('text', { class: 'axis', x: L - 8, y: y(v) + 4, 'text-anchor': 'end' }, show(v)));
  }
  if (unit) chart.append(svg('text', { class: 'axis', x: 4, y: T - 2 }, unit));
  const sameDay = day(t0) === day(t1);
  const label = (t) => (sameDay ? clock(t) : `${day(t)} ${clock(t).slice(0, 5)}`);
  chart.append(svg('text', { class: 'axis', x: L, y: H - 8, 'text-anchor': 'start' }, label(t0)));
  if (t1 !== t0) {
    const tm = (t0 + t1) / 2;
    chart.append(svg('text', { class: 'axis', x: x(tm), y: H - 8, 'text-anchor': 'middle' }, label(tm)));
    chart.append(svg('text', { class: 'axis', x: W - R, y: H - 8, 'text-anchor': 'end' }, label(t1)));
  }
  if (nums.length > 1) {
    const pts = nums.map((p) => `${x(p.time).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
    chart.append(svg('polyline', { class: 'line', points: pts }));
  }
  // Dots while they can be told apart; always one on the newest point.
  const dots = nums.length <= 60 ? nums : nums.slice(-1);
  dots.forEach((p, i) => {
    const last = i === dots.length - 1;
    const c = svg('circle', { class: last ? 'dot last' : 'dot', cx: x(p.time), cy: y(p.value), r: last ? 4 : 3 });
    c.append(svg('title', {}, `${show(p.value)}${unit ? ` ${unit}` : ''} at ${stamp(p.time)}`));
    chart.append(c);
  });
  chart.setAttribute('aria-label', `line chart of ${nums.length} points from ${stamp(t0)} to ${stamp(t1)}`);
}

let shown = null; // the path of the stream on screen, to clear it only when another is opened

async function showStream() {
  const r = route();
  markCurrent();
  $('intro').hidden = r !== null;
  if (!r) {
    document.title = 'SecureSense';
    $('stream').hidden = true;
    shown = null;
    status('');
    return;
  }
  // Someone else's stream (a public one) is read without our token: it is not ours to use there.
  const token = auth && auth.uid === r.uid ? auth.token : null;
  let stream;
  let data;
  try {
    [stream, data] = await Promise.all([
      api(r.path, { token }),
      api(`${r.path}/data?limit=${CHART_POINTS}`, { token }),
    ]);
  } catch (err) {
    if (route()?.path !== r.path) return; // the user moved on meanwhile
    $('stream').hidden = true;
    shown = null;
    if (err.status === 401 && !token)
      status(`This stream is private: sign in as its owner to see it (${err.message}).`, true);
    else if (err.status === 401) return logout(`Signed out: your token is no longer valid (${err.message}).`);
    else if (err.status === 403) status(`This stream is not yours and not public (${err.message}).`, true);
    else if (err.status === 404) status(`There is no such stream (${err.message}).`, true);
    else status(`Cannot read this stream: ${err.message}`, true);
    return;
  }
  if (route()?.path !== r.path) return;
  shown = r.path;
  const unit = data.unit ?? '';
  $('title').textContent = data.label;
  document.title = `${data.label} · SecureSense`;
  $('meta').textContent = [
    `stream ${stream.id} of resource ${r.rid}`,
    stream.type === 'text' ? 'text values' : 'numeric',
    stream.public ? 'public' : 'private',
  ].join(' · ');
  const points = data.points;
  const newest = points[points.length - 1];
  $('last').hidden = !newest;
  if (newest) {
    $('last-value').textContent = show(newest.value);
    $('last-unit').textContent = unit;
    $('last-time').textContent = `at ${stamp(newest.time)} (${ago(newest.time)})`;
  }
  $('stream').hidden = false; // before drawing, which measures the chart's width
  draw(points, unit);
  const empty = $('empty');
  empty.hidden = points.length > 0;
  empty.textContent =
    points.length > 0 ? '' : 'No points yet. New points appear here as devices post them (refreshed every 5 s).';
  const rows = points
    .slice(-TABLE_ROWS)
    .reverse()
    .map((p) => {
      const tr = el('tr');
      tr.append(el('td', stamp(p.time)), el('td', unit ? `${show(p.value)} ${unit}` : show(p.value)));
      return tr;
    });
  $('points').hidden = rows.length === 0;
  document.querySelector('#points tbody').replaceChildren(...rows);
  status(
    `${points.length} newest point${points.length === 1 ? '' : 's'} · updated ${clock(Date.now())} · refreshes every ${REFRESH_MS / 1000} s`,
  );
}

// --- refresh: the open stream and the tree, never two refreshes at once

let busy = false;
async function refresh() {
  if (busy || document.hidden) return;
  busy = true;
  try {
    await loadTree();
    await showStream();
  } finally {
    busy = false;
  }
}

window.addEventListener('hashchange', () => showStream());
let resizing = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => drawn && draw(drawn.points, drawn.unit), 100);
});
// A background tab skips its refreshes; coming back shows the newest points at once.
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) refresh();
});
setInterval(refresh, REFRESH_MS);
renderAccount();
refresh();

// The SecureSense dashboard (its pages and wiring; api.js, router.js, chart.js, devices.js, dom.js,
// format.js, live.js, overview.js and tokens.js are the modules it is built from): an overview of the user's fleet after sign-in (overview.js), a user's
// resources and streams, and a chart of a stream over a time range (its newest points, or the last
// hour/day/week downsampled by the server), updated as points arrive over the live feed (live.js,
// Server-Sent Events); and the management of what the user owns: creating and deleting
// resources, binding and removing device credentials (PSK, RPK, X.509), a resource's poll log and
// the command line that runs a device for it. It uses only the public HTTP API (docs/platform.md) and loads
// nothing from elsewhere: the page is served with `default-src 'self'`, so no inline script or
// style, no CDN. Public streams open without signing in by their address:
//   /#/users/1/resources/2/streams/3
// A resource's page (signed in as its owner) is /#/users/1/resources/2.
// User data (labels, units, text values) only ever goes into the page through textContent.
// Nothing is kept in the browser but the session (sessionStorage); a key the platform shows once
// (a resource key, a generated PSK) lives in the page until the user leaves the resource's page.
//
// Why this module is still ~1 000 lines: what is left is page wiring around state the pages share
// (the signed-in `auth`, the stream and resource on screen, a secret shown once, the chart's time
// range, the refresh and live-feed guards). Everything without that state has moved to its own
// module; splitting the rest means handing that state between modules explicitly (one page object
// per route), a change of its own with the browser tests as its net.

const REFRESH_MS = 5000;
/** Points fetched for the chart; the table shows the newest TABLE_ROWS of them. */
const CHART_POINTS = 200;
const TABLE_ROWS = 20;
const STORAGE_KEY = 'securesense';
/** The poll log entries shown on a resource's page (the API keeps the newest 1000). */
const LOG_ROWS = 50;

import { api, useToken } from './api.js';
import { draw, lastDrawn, redraw } from './chart.js';
import { $, el } from './dom.js';
import { ago, clock, show, stamp } from './format.js';
import {
  deviceBody,
  deviceCommand,
  deviceMode,
  deviceName,
  humanize,
  libcoapCommand,
} from './devices.js';
import { closeLive, onLive, openLive } from './live.js';
import { renderOverview } from './overview.js';
import { route } from './router.js';
import { showTokens } from './tokens.js';

/**
 * { uid, token, username } while signed in. Kept for the browser tab only (sessionStorage). The
 * token is a session (`ssn_…`, from a password sign-in: it expires, and Log out ends it) or an
 * API token the user pasted (`sst_…`: Log out only forgets it here).
 */
let auth = null;
try {
  const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null');
  if (saved && Number.isInteger(saved.uid) && typeof saved.token === 'string') auth = saved;
} catch {
  auth = null;
}
useToken(() => auth?.token);

// --- the route: #/users/UID/resources/RID/streams/SID names the open stream,
// #/users/UID/resources/RID a resource's page

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
  $('create').hidden = auth === null;
  $('tokens-link').hidden = auth === null;
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
    // A refused field (a password too short to be anyone's) says no more than a wrong one would.
    loginError(
      err.status === 400 || err.status === 401
        ? 'Wrong username or password.'
        : err.status === 429
          ? 'Too many sign-in attempts: wait a minute, then try again.'
          : `Cannot sign in: ${err.message}`,
    );
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

$('logout').addEventListener('click', async () => {
  // A session is ended on the server (POST /logout); a pasted API token is only forgotten here:
  // scripts and devices may be using it.
  const token = auth?.token;
  if (token?.startsWith('ssn_')) await api('/logout', { method: 'POST', token }).catch(() => {});
  logout(null);
});

/** What to say when the API refuses our token: an expired session is not an error of the user's. */
function signedOutText(err) {
  if (err.message === 'session expired') return 'Signed out: your session expired. Sign in again.';
  return `Signed out: your token is no longer valid (${err.message}).`;
}

function logout(message) {
  closeLive();
  saveAuth(null);
  renderAccount();
  loginError(message);
  // A private stream stays on screen no longer than its owner does.
  if (route()) location.hash = '';
  showRoute();
}

async function signedIn() {
  loginError(null);
  renderAccount();
  openLive(auth);
  await loadTree();
  await showRoute();
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
    // An expired or ended session, or an API token revoked or rotated elsewhere, signs this tab out.
    if (err.status === 401) return logout(signedOutText(err));
    tree.replaceChildren(el('p', `Cannot list your resources: ${err.message}`, 'error'));
    return;
  }
  if (!auth || auth.uid !== uid) return; // signed out meanwhile
  allStreams = resources.flatMap((r, i) =>
    streams[i]
      .filter((s) => s.type !== 'text')
      .map((s) => ({ path: `/users/${uid}/resources/${r.id}/streams/${s.id}`, label: `${r.label} / ${s.label}`, unit: s.unit })),
  );
  const heading = el('h2', 'Resources');
  if (resources.length === 0) {
    const p = el('p', 'No resources yet: create one below (or with ', 'empty');
    p.append(el('code', `POST /users/${uid}/resources`), '); its streams appear here.');
    tree.replaceChildren(heading, p);
    return;
  }
  const current = route();
  const top = el('ul');
  resources.forEach((r, i) => {
    const li = el('li');
    const head = el('a', r.label, 'resource');
    head.href = `#/users/${uid}/resources/${r.id}`;
    head.title = 'devices, poll log and settings of this resource';
    if (current && current.kind === 'resource' && current.rid === r.id) head.setAttribute('aria-current', 'page');
    li.append(head);
    const sub = el('ul');
    if (streams[i].length === 0) sub.append(el('li', 'no streams yet', 'hint'));
    for (const s of streams[i]) {
      const item = el('li');
      const a = el('a', s.label);
      a.href = `#/users/${uid}/resources/${r.id}/streams/${s.id}`;
      if (current?.kind === 'stream' && current.rid === r.id && current.sid === s.id)
        a.setAttribute('aria-current', 'page');
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

let shown = null; // the path of the stream on screen, to clear it only when another is opened

/** Shows what the address names: a stream, a resource's page, or the introduction. */
let routePath = null; // the address last shown: a message on screen stays until it changes

let tokensShown = null; // the tokens page is drawn once per visit: a refresh would hide a new secret

async function showRoute() {
  const r = route();
  if ((r?.path ?? '') !== routePath) {
    routePath = r?.path ?? '';
    status('');
  }
  markCurrent();
  $('intro').hidden = r !== null || auth !== null;
  $('overview').hidden = r !== null || auth === null;
  if (r === null && auth) showOverview();
  if (r?.path !== secret?.path) hideSecret();
  if (r?.kind !== 'resource') {
    $('resource').hidden = true;
    shownResource = null;
  }
  $('tokens').hidden = r?.kind !== 'tokens' || auth === null;
  if (r?.kind === 'tokens') {
    $('stream').hidden = true;
    shown = null;
    if (!auth) return status('Sign in to manage your API tokens.', true);
    document.title = 'API tokens · SecureSense';
    if (r.path !== tokensShown) {
      tokensShown = r.path;
      return showTokens($('tokens'), { api, uid: auth.uid, onSignedOut: (err) => logout(signedOutText(err)) });
    }
    return;
  }
  tokensShown = null;
  if (r?.kind === 'resource') {
    $('stream').hidden = true;
    shown = null;
    return showResource(r);
  }
  return showStream(r);
}

async function showStream(r) {
  if (!r) {
    document.title = 'SecureSense';
    $('stream').hidden = true;
    shown = null;
    return;
  }
  // Someone else's stream (a public one) is read without our token: it is not ours to use there.
  const token = auth && auth.uid === r.uid ? auth.token : null;
  let stream;
  let data;
  let series = null;
  const span = rangeBounds();
  try {
    [stream, data, series] = await Promise.all([
      api(r.path, { token }),
      api(
        span
          ? `${r.path}/data?from=${span.from}&until=${span.until}&limit=${TABLE_ROWS}`
          : `${r.path}/data?limit=${CHART_POINTS}`,
        { token },
      ),
      span ? api(`${r.path}/series?from=${span.from}&until=${span.until}&buckets=${BUCKETS}`, { token }) : null,
    ]);
  } catch (err) {
    if (route()?.path !== r.path) return; // the user moved on meanwhile
    $('stream').hidden = true;
    shown = null;
    if (err.status === 401 && !token)
      status(`This stream is private: sign in as its owner to see it (${err.message}).`, true);
    else if (err.status === 401) return logout(signedOutText(err));
    else if (err.status === 403) status(`This stream is not yours and not public (${err.message}).`, true);
    else if (err.status === 404) status(`There is no such stream (${err.message}).`, true);
    else status(`Cannot read this stream: ${err.message}`, true);
    return;
  }
  if (route()?.path !== r.path) return;
  if (shown !== r.path) compare = [];
  shown = r.path;
  const unit = data.unit ?? '';
  const extra = await comparedLines(span, token);
  if (route()?.path !== r.path) return;
  renderCompare(r, data);
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
  if (series) {
    // Each bucket drawn at its middle: its mean as the line, its min–max as the band.
    const half = series.bucket_ms / 2;
    const mid = series.buckets.map((b) => ({ ...b, time: b.time + half }));
    draw(
      mid.map((b) => ({ time: b.time, value: b.mean })),
      unit,
      mid,
      span,
      extra,
    );
    $('range-meta').textContent =
      `${series.buckets.reduce((n, b) => n + b.count, 0)} points from ${stamp(span.from)} to ${stamp(span.until)} ` +
      `in ${series.buckets.length} buckets of ${bucketText(series.bucket_ms)} (line: mean; band: min–max)`;
    shownRange = { path: r.path, token, label: data.label, from: span.from, until: span.until };
  } else {
    draw(points, unit, null, null, extra);
    $('range-meta').textContent = '';
    shownRange =
      points.length > 0
        ? { path: r.path, token, label: data.label, from: points[0].time, until: points[points.length - 1].time }
        : null;
  }
  const empty = $('empty');
  const any = series ? series.buckets.length > 0 || points.length > 0 : points.length > 0;
  empty.hidden = any;
  empty.textContent = any
    ? ''
    : span
      ? 'No points in this range.'
      : 'No points yet. New points appear here as devices post them.';
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
    `${points.length} ${series ? 'newest point' : 'point'}${points.length === 1 ? '' : 's'} in the table · updated ${clock(Date.now())}` +
      (token ? ' · live' : ` · refreshes every ${REFRESH_MS / 1000} s`),
  );
}

// --- a resource's page: its streams, the device command line, device credentials, poll log

/** The secret on screen ({ path, ... }): shown once, kept only while its resource's page is open. */
let secret = null;
/** The path of the resource on screen, and the credential whose removal awaits confirmation. */
let shownResource = null;
let confirmingDevice = null;
/** The first PSK identity of the open resource, for its command line. */
let commandIdentity = null;

function message(id, text) {
  const p = $(id);
  p.textContent = text ?? '';
  p.hidden = !text;
}

function hideSecret() {
  secret = null;
  $('secret').hidden = true;
  // Cleared, not only hidden: a key that was shown once does not linger in the DOM.
  for (const id of ['secret-title', 'secret-value', 'secret-cmd', 'secret-libcoap', 'secret-copied'])
    $(id).textContent = '';
}

function renderSecret() {
  if (!secret) return hideSecret();
  $('secret-title').textContent = secret.title;
  $('secret-value').textContent = secret.value;
  $('secret-cmd-row').hidden = !secret.command;
  $('secret-cmd').textContent = secret.command ?? '';
  $('secret-libcoap-row').hidden = !secret.libcoap;
  $('secret-libcoap').textContent = secret.libcoap ?? '';
  $('secret').hidden = false;
}

function renderCommand() {
  const r = route();
  if (r?.kind !== 'resource') return;
  $('r-command').textContent = deviceCommand(r.uid, r.rid, commandIdentity ?? 'IDENTITY', 'KEY');
  $('r-libcoap').textContent = libcoapCommand(r.uid, r.rid, commandIdentity ?? 'IDENTITY', 'KEY-AS-TEXT');
  if (secret?.identity) secret.command = deviceCommand(r.uid, r.rid, secret.identity, secret.hexKey ?? secret.value);
  if (secret?.identity && secret.textKey) secret.libcoap = libcoapCommand(r.uid, r.rid, secret.identity, secret.textKey);
  if (secret?.command) $('secret-cmd').textContent = secret.command;
  if (secret?.libcoap) $('secret-libcoap').textContent = secret.libcoap;
}

function apiFailure(err, what) {
  if (err.status === 401) {
    logout(signedOutText(err));
    return null;
  }
  if (err.status === 403) return `${what}: this is not yours (${err.message}).`;
  if (err.status === 404) return `${what}: it no longer exists (${err.message}).`;
  if (err.status === 0) return `${what}: the server cannot be reached; try again.`;
  return `${what}: ${humanize(err.message)}`;
}

async function showResource(r) {
  if (!auth || auth.uid !== r.uid) {
    $('resource').hidden = true;
    shownResource = null;
    if (!auth) status("Sign in as this resource's owner to manage it.", true);
    else status(`This resource is not yours: you are signed in as user ${auth.uid}.`, true);
    return;
  }
  let resource;
  let devices;
  let streams;
  let log = [];
  try {
    [resource, devices, streams] = await Promise.all([
      api(r.path),
      api(`${r.path}/devices`),
      api(`${r.path}/streams`),
    ]);
    if (resource.polling_url) log = await api(`${r.path}/log?limit=${LOG_ROWS}`);
  } catch (err) {
    if (route()?.path !== r.path) return;
    $('resource').hidden = true;
    shownResource = null;
    const text = apiFailure(err, 'Cannot open this resource');
    if (text) status(text, true);
    return;
  }
  if (route()?.path !== r.path) return;
  if ($('status').className === 'error') status(''); // a failure of an earlier refresh is over
  if (shownResource !== r.path) {
    // Another resource than before: its forms and messages start empty.
    confirmingDevice = null;
    $('r-delete-confirm').hidden = true;
    $('r-delete').hidden = false;
    message('r-error', null);
    message('device-error', null);
    message('settings-error', null);
    // Filled when the page opens, not at each refresh: that would undo what the user is typing.
    $('s-label').value = resource.label;
    $('s-url').value = resource.polling_url ?? '';
    $('s-period').value = resource.polling_period === null ? '' : String(resource.polling_period);
  }
  shownResource = r.path;
  document.title = `${resource.label} · SecureSense`;
  $('r-title').textContent = resource.label;
  $('r-meta').textContent = [
    `resource ${resource.id}`,
    `created ${stamp(resource.created_at)}`,
    resource.polling_url
      ? `polled every ${resource.polling_period} s from ${resource.polling_url}`
      : 'not polled: devices push to it',
  ].join(' · ');

  const items = streams.map((s) => {
    const li = el('li');
    const a = el('a', s.label);
    a.href = `#${r.path}/streams/${s.id}`;
    li.append(a);
    if (s.unit) li.append(' ', el('span', s.unit, 'unit'));
    li.append(' ', el('span', s.last_time === null ? '· no points yet' : `· ${ago(s.last_time)}`, 'age'));
    return li;
  });
  if (items.length === 0) items.push(el('li', 'No streams yet: the first JSON or SenML payload makes them.', 'hint'));
  $('r-streams').replaceChildren(...items);

  commandIdentity = devices.find((c) => c.mode === 'psk')?.psk_identity ?? null;
  renderCommand();
  renderDevices(r, devices);
  renderLog(resource, log);
  renderSecret();
  $('resource').hidden = false;
}

function renderDevices(r, devices) {
  if (confirmingDevice !== null && !devices.some((c) => c.id === confirmingDevice || `rotate-${c.id}` === confirmingDevice))
    confirmingDevice = null;
  const rows = devices.map((c) => {
    const tr = el('tr');
    tr.dataset.id = String(c.id);
    const cell = el('td');
    if (confirmingDevice === `rotate-${c.id}`) {
      const yes = el('button', 'Rotate the key');
      yes.type = 'button';
      yes.addEventListener('click', () => rotateDevice(r, c));
      const no = el('button', 'Cancel');
      no.type = 'button';
      no.addEventListener('click', () => {
        confirmingDevice = null;
        renderDevices(r, devices);
      });
      cell.append(el('span', 'The device needs the new key for its next full handshake. ', 'confirm'), yes, ' ', no);
    } else if (confirmingDevice === c.id) {
      const yes = el('button', 'Remove', 'danger');
      yes.type = 'button';
      yes.addEventListener('click', () => removeDevice(r, c));
      const no = el('button', 'Cancel');
      no.type = 'button';
      no.addEventListener('click', () => {
        confirmingDevice = null;
        renderDevices(r, devices);
      });
      cell.append(el('span', 'It will no longer connect. ', 'confirm'), yes, ' ', no);
    } else {
      const ask = el('button', 'Remove…');
      ask.type = 'button';
      ask.addEventListener('click', () => {
        confirmingDevice = c.id;
        renderDevices(r, devices);
      });
      cell.append(ask);
      if (c.mode === 'psk') {
        const rotate = el('button', 'Rotate key…');
        rotate.type = 'button';
        rotate.addEventListener('click', () => {
          confirmingDevice = `rotate-${c.id}`;
          renderDevices(r, devices);
        });
        cell.append(' ', rotate);
      }
    }
    tr.append(el('td', c.mode.toUpperCase()), el('td', deviceName(c), 'mono'), el('td', c.label ?? ''));
    tr.append(el('td', stamp(c.created_at)), cell);
    return tr;
  });
  document.querySelector('#devices tbody').replaceChildren(...rows);
  $('devices').hidden = rows.length === 0;
  $('devices-empty').hidden = rows.length > 0;
}

async function removeDevice(r, c) {
  message('device-error', null);
  try {
    await api(`${r.path}/devices/${c.id}`, { method: 'DELETE' });
  } catch (err) {
    const text = apiFailure(err, `Cannot remove ${deviceName(c)}`);
    if (text) message('device-error', text);
    return;
  }
  confirmingDevice = null;
  status(`Removed ${c.mode.toUpperCase()} device ${deviceName(c)}: its next handshake is refused.`);
  await showResource(r);
}

async function rotateDevice(r, c) {
  message('device-error', null);
  let rotated;
  try {
    rotated = await api(`${r.path}/devices/${c.id}/rotate`, { method: 'POST' });
  } catch (err) {
    const text = apiFailure(err, `Cannot rotate the key of ${deviceName(c)}`);
    if (text) message('device-error', text);
    return;
  }
  confirmingDevice = null;
  secret = {
    path: r.path,
    title: `The new key of PSK device "${rotated.psk_identity}"`,
    value: rotated.psk_key,
    identity: rotated.psk_identity,
    command: deviceCommand(r.uid, r.rid, rotated.psk_identity, rotated.psk_key),
  };
  status(`Rotated the key of ${deviceName(rotated)}: the old key is refused at its next full handshake.`);
  await showResource(r);
}

function renderLog(resource, log) {
  $('r-log').hidden = !resource.polling_url;
  if (!resource.polling_url) return;
  $('r-log-meta').textContent = `Every ${resource.polling_period} s from ${resource.polling_url} · newest ${LOG_ROWS} polls, newest first`;
  const rows = log.map((e) => {
    const tr = el('tr', undefined, e.ok ? 'ok' : 'failed');
    const st = el('td', e.ok ? `${e.status} ok` : `${e.status} failed`, e.ok ? 'good' : 'bad');
    const note = [e.message, e.new_session ? 'new DTLS session' : null].filter(Boolean).join(' · ');
    tr.append(el('td', stamp(e.time)), st, el('td', String(e.points)), el('td', String(e.duration_ms)));
    tr.append(el('td', note, 'message'));
    return tr;
  });
  document.querySelector('#poll-log tbody').replaceChildren(...rows);
  $('poll-log').hidden = rows.length === 0;
  $('r-log-empty').hidden = rows.length > 0;
}

// Create a resource.
$('create-resource').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  message('create-error', null);
  if (!auth) return;
  const body = { label: $('new-label').value.trim() };
  const url = $('new-url').value.trim();
  const period = $('new-period').value.trim();
  if (url) body.polling_url = url;
  if (period) body.polling_period = Number(period);
  let created;
  try {
    created = await api(`/users/${auth.uid}/resources`, { method: 'POST', body });
  } catch (err) {
    const text = apiFailure(err, 'Cannot create the resource');
    if (text) message('create-error', text);
    return;
  }
  $('create-resource').reset();
  const path = `/users/${auth.uid}/resources/${created.id}`;
  secret = {
    path,
    title: `The key of resource "${created.label}"`,
    value: created.key,
    command: null,
  };
  await loadTree();
  if (location.hash === `#${path}`) await showRoute();
  else location.hash = path; // hashchange shows it, with the key
});

// Delete a resource, after a confirmation on the page.
$('r-delete').addEventListener('click', () => {
  $('r-delete-question').textContent = `Delete "${$('r-title').textContent}" with its streams, their data and its device credentials? This cannot be undone.`;
  $('r-delete').hidden = true;
  $('r-delete-confirm').hidden = false;
});
$('r-delete-no').addEventListener('click', () => {
  $('r-delete-confirm').hidden = true;
  $('r-delete').hidden = false;
});
$('r-delete-yes').addEventListener('click', async () => {
  const r = route();
  if (r?.kind !== 'resource') return;
  const label = $('r-title').textContent;
  try {
    await api(r.path, { method: 'DELETE' });
  } catch (err) {
    const text = apiFailure(err, 'Cannot delete the resource');
    if (text) message('r-error', text);
    return;
  }
  $('r-delete-confirm').hidden = true;
  $('r-delete').hidden = false;
  location.hash = '';
  await showRoute(); // at once, so that the hashchange that follows has nothing left to clear
  await loadTree();
  status(`Deleted resource "${label}".`);
});

$('d-mode').addEventListener('change', deviceMode);
$('d-x509-how').addEventListener('change', deviceMode);

$('add-device').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  message('device-error', null);
  const r = route();
  if (r?.kind !== 'resource' || !auth) return;
  let added;
  let body;
  try {
    body = deviceBody();
  } catch (err) {
    message('device-error', err.message);
    $(err.field)?.focus();
    return;
  }
  try {
    added = await api(`${r.path}/devices`, { method: 'POST', body });
  } catch (err) {
    const text =
      err.status === 409
        ? 'Cannot add the device: one with this identity already exists (a PSK identity, public key or certificate binds one resource only).'
        : apiFailure(err, 'Cannot add the device');
    if (text) message('device-error', text);
    return;
  }
  const mode = $('d-mode').value;
  const how = $('d-x509-how').value;
  $('add-device').reset();
  $('d-mode').value = mode;
  $('d-x509-how').value = how;
  deviceMode();
  if (added.psk_key) {
    secret = {
      path: r.path,
      title: `The key of PSK device "${added.psk_identity}"`,
      value: added.psk_key,
      identity: added.psk_identity,
      command: deviceCommand(r.uid, r.rid, added.psk_identity, added.psk_key),
    };
  } else if (body.psk_key) {
    // The key was the user's own text: the commands that use it, shown this once like a generated key.
    const textKey = new TextDecoder().decode(new Uint8Array(body.psk_key.match(/../g).map((h) => Number.parseInt(h, 16))));
    secret = {
      path: r.path,
      title: `The commands of PSK device "${added.psk_identity}"`,
      value: textKey,
      textKey,
      hexKey: body.psk_key,
      identity: added.psk_identity,
      command: deviceCommand(r.uid, r.rid, added.psk_identity, body.psk_key),
      libcoap: libcoapCommand(r.uid, r.rid, added.psk_identity, textKey),
    };
  }
  status(`Added ${added.mode.toUpperCase()} device ${deviceName(added)}.`);
  await showResource(r);
});

// Change the label and the polling settings (PUT): an empty URL stops the polls.
$('r-settings').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  message('settings-error', null);
  const r = route();
  if (r?.kind !== 'resource' || !auth) return;
  const url = $('s-url').value.trim();
  const period = $('s-period').value.trim();
  const body = {
    label: $('s-label').value.trim(),
    polling_url: url || null,
    polling_period: url && period ? Number(period) : null,
  };
  let changed;
  try {
    changed = await api(r.path, { method: 'PUT', body });
  } catch (err) {
    const text = apiFailure(err, 'Cannot save the settings');
    if (text) message('settings-error', text);
    return;
  }
  status(`Saved the settings of "${changed.label}".`);
  await loadTree();
  await showResource(r);
});

$('secret-done').addEventListener('click', () => hideSecret());
let portTyped = false;
$('coaps-port').addEventListener('input', () => {
  portTyped = true;
  renderCommand();
});

/**
 * GET /info names the platform's real coaps:// port (the one `npm start` or `serve` bound), so the
 * device command line works as shown; a port the user typed is left alone.
 */
async function loadInfo() {
  let info;
  try {
    info = await api('/info', { token: null });
  } catch {
    return; // an older platform without /info: the default port and the hint stay
  }
  const hint = $('coaps-hint');
  if (info.coaps) {
    if (!portTyped) $('coaps-port').value = String(info.coaps.port);
    hint.textContent =
      `This platform's coaps:// API listens on port ${info.coaps.port} (DTLS modes: ${info.modes.join(', ')}). ` +
      'The host is the one this page was opened from.';
  } else {
    hint.textContent =
      'This platform runs no coaps:// API (GET /info): a device cannot push over DTLS until it is started with one.';
  }
  renderCommand();
}

// Copy buttons copy the text of the element their data-copy names. The clipboard API needs a
// secure context (https or localhost); elsewhere the text is selected for Ctrl-C instead.
document.addEventListener('click', async (ev) => {
  const button = ev.target instanceof Element ? ev.target.closest('button[data-copy]') : null;
  if (!button) return;
  const source = $(button.dataset.copy);
  const text = source.textContent ?? '';
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    const range = document.createRange();
    range.selectNodeContents(source);
    const sel = getSelection();
    sel?.removeAllRanges();
    sel?.addRange(range);
  }
  button.textContent = copied ? 'Copied' : 'Selected: press Ctrl-C';
  setTimeout(() => {
    button.textContent = 'Copy';
  }, 2000);
  if (button.closest('#secret')) $('secret-copied').textContent = copied ? 'Copied to the clipboard.' : '';
});

// --- several streams on one chart: the open one, and up to four more of the user's

const MAX_COMPARED = 4;
/** The user's numeric streams ({ path, label, unit }), from the list on the left. */
let allStreams = [];
/** The streams drawn with the open one ({ path, label, unit }); cleared when another opens. */
let compare = [];

/** Each compared stream's line: bucket means over `span`, or its newest points. */
async function comparedLines(span, token) {
  if (!token) return [];
  const lines = await Promise.all(
    compare.map(async (c) => {
      try {
        if (span) {
          const s = await api(`${c.path}/series?from=${span.from}&until=${span.until}&buckets=${BUCKETS}`, { token });
          return { label: c.label, points: s.buckets.map((b) => ({ time: b.time + s.bucket_ms / 2, value: b.mean })) };
        }
        const d = await api(`${c.path}/data?limit=${CHART_POINTS}`, { token });
        return { label: c.label, points: d.points };
      } catch (err) {
        return { label: `${c.label} (${err.message})`, points: [] };
      }
    }),
  );
  return lines;
}

function renderCompare(r, data) {
  const own = auth && auth.uid === r.uid;
  $('compare').hidden = !own;
  const select = $('compare-stream');
  const taken = new Set([r.path, ...compare.map((c) => c.path)]);
  const options = allStreams.filter((s) => !taken.has(s.path));
  select.replaceChildren(
    ...options.map((s) => {
      const o = el('option', s.unit ? `${s.label} (${s.unit})` : s.label);
      o.value = s.path;
      return o;
    }),
  );
  $('compare').querySelector('button').disabled = options.length === 0 || compare.length >= MAX_COMPARED;
  const legend = $('legend');
  legend.hidden = compare.length === 0;
  const main = el('li');
  main.append(el('span', '', 'swatch'), data.unit ? `${data.label} (${data.unit})` : data.label);
  legend.replaceChildren(
    main,
    ...compare.map((c, i) => {
      const li = el('li');
      const remove = el('button', 'Remove');
      remove.type = 'button';
      remove.setAttribute('aria-label', `Remove ${c.label} from the chart`);
      remove.addEventListener('click', () => {
        compare = compare.filter((x) => x.path !== c.path);
        showRoute();
      });
      li.append(el('span', '', `swatch c${i}`), c.unit ? `${c.label} (${c.unit})` : c.label, remove);
      return li;
    }),
  );
}

$('compare').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const s = allStreams.find((x) => x.path === $('compare-stream').value);
  if (!s) return message('range-error', 'Pick a stream to add to the chart.');
  if (compare.length >= MAX_COMPARED) return message('range-error', `At most ${MAX_COMPARED} more streams on one chart.`);
  compare.push(s);
  message('range-error', null);
  showRoute();
});

// --- the time range of the chart: newest points, the last hour/day/week, or from–to

/** Buckets a range is cut into by the server (about one per 3 CSS pixels of a wide chart). */
const BUCKETS = 300;
const SPAN_MS = { hour: 3_600_000, day: 86_400_000, week: 604_800_000 };
let range = { kind: 'newest' };
/** What the chart shows ({ path, token, label, from, until }), for the downloads. */
let shownRange = null;

/** The range asked for in ms, or null for the newest points. Relative ranges end now. */
function rangeBounds() {
  if (range.kind === 'custom') return { from: range.from, until: range.until };
  const ms = SPAN_MS[range.kind];
  if (!ms) return null;
  const until = Date.now();
  return { from: until - ms, until };
}

function bucketText(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}

function setRange(r) {
  range = r;
  for (const b of $('range').querySelectorAll('button[data-range]'))
    b.setAttribute('aria-pressed', String(b.dataset.range === r.kind));
  message('range-error', null);
  showRoute();
}

$('range').addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-range]');
  if (b) setRange({ kind: b.dataset.range });
});

/** `datetime-local` text (local time, no zone) as ms, or NaN. */
const localMs = (v) => (v ? new Date(v).getTime() : Number.NaN);

$('range-custom').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const from = localMs($('range-from').value);
  const until = localMs($('range-to').value);
  if (!Number.isFinite(from) || !Number.isFinite(until)) {
    message('range-error', 'Give both a start and an end (date and time).');
    ($('range-from').value ? $('range-to') : $('range-from')).focus();
    return;
  }
  if (from >= until) {
    message('range-error', 'The start must be before the end.');
    $('range-from').focus();
    return;
  }
  setRange({ kind: 'custom', from, until });
});

/** Zoom: dragging across the chart shows the range under the drag. */
let dragFrom = null;
$('chart').addEventListener('pointerdown', (ev) => {
  if (!lastDrawn()?.points.length) return;
  dragFrom = ev.offsetX;
});
$('chart').addEventListener('pointerup', (ev) => {
  const start = dragFrom;
  dragFrom = null;
  if (start === null || Math.abs(ev.offsetX - start) < 8 || !shownRange) return;
  const w = $('chart').getBoundingClientRect().width;
  const L = 64;
  const R = 16;
  const t = (px) => shownRange.from + ((px - L) / (w - L - R)) * (shownRange.until - shownRange.from);
  const a = Math.round(t(Math.min(start, ev.offsetX)));
  const b = Math.round(t(Math.max(start, ev.offsetX)));
  if (b > a) setRange({ kind: 'custom', from: a, until: b });
});

async function download(format) {
  message('range-error', null);
  if (!shownRange) {
    message('range-error', 'There is nothing on the chart to download.');
    return;
  }
  const { path, token, label, from, until } = shownRange;
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  let res;
  try {
    res = await fetch(`${path}/data?from=${from}&until=${until}&limit=100000&format=${format}`, { headers });
  } catch {
    message('range-error', 'The server cannot be reached.');
    return;
  }
  if (!res.ok) {
    const body = await res.json().catch(() => ({}));
    message('range-error', `Cannot download: ${body.message ?? res.statusText}`);
    return;
  }
  const blob = await res.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${label.replace(/[^\w.-]+/g, '_')}-${from}-${until}.${format}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
$('download-csv').addEventListener('click', () => download('csv'));
$('download-json').addEventListener('click', () => download('json'));

// --- the overview, and the live feed that keeps the page current

let overviewBusy = false;
async function showOverview() {
  if (!auth || overviewBusy) return;
  overviewBusy = true;
  try {
    const o = await api(`/users/${auth.uid}/overview`);
    if (auth && route() === null) {
      renderOverview($('overview'), o, auth.uid);
      document.title = 'Overview · SecureSense';
    }
  } catch (err) {
    if (err.status === 401) return logout(signedOutText(err));
    $('overview').replaceChildren(el('p', `Cannot read the overview: ${err.message}`, 'error'));
  } finally {
    overviewBusy = false;
  }
}

/** Several events in a burst cause one update of each view. */
let pending = null;
function soon(fn) {
  pending ??= new Set();
  pending.add(fn);
  setTimeout(() => {
    const fns = pending;
    pending = null;
    for (const f of fns ?? []) f();
  }, 50);
}
const redrawStream = () => showStream(route());
onLive((kind, data) => {
  const r = route();
  if (r === null) soon(showOverview);
  if (kind === 'points') {
    soon(loadTree);
    const path = `/users/${auth?.uid}/resources/${data.resource_id}/streams/${data.stream_id}`;
    if (r?.kind === 'stream' && (r.sid === data.stream_id || compare.some((c) => c.path === path)))
      soon(redrawStream);
  }
});

// --- refresh: the open stream and the tree, never two refreshes at once

let busy = false;
let started = false;
async function refresh() {
  if (busy || document.hidden) return;
  // Signed in, the live feed updates the overview, the tree and the chart; only a resource's page
  // (its poll log, which has no events yet) and a public stream seen signed out are refreshed.
  const r = route();
  if (auth && r?.kind !== 'resource' && !(r?.kind === 'stream' && r.uid !== auth.uid) && started) return;
  started = true;
  busy = true;
  try {
    await loadTree();
    await showRoute();
  } finally {
    busy = false;
  }
}

window.addEventListener('hashchange', () => showRoute());
let resizing = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizing);
  resizing = setTimeout(redraw, 100);
});
// A background tab skips its refreshes; coming back shows the newest points at once.
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) refresh();
});
setInterval(refresh, REFRESH_MS);
deviceMode();
renderAccount();
if (auth) openLive(auth);
loadInfo();
refresh();

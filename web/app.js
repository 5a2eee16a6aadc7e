// The SecureSense dashboard: a user's resources and streams, and a chart of a stream's newest
// points, refreshed every 5 s. It uses only the public HTTP API. Public streams open without a
// token by their address: /#/users/1/resources/2/streams/3
const $ = (id) => document.getElementById(id);
let auth = null;
try {
  auth = JSON.parse(sessionStorage.getItem('securesense') ?? 'null');
} catch {
  auth = null;
}

async function api(path) {
  const headers = auth ? { authorization: `Bearer ${auth.token}` } : {};
  const res = await fetch(path, { headers });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.message ?? res.statusText);
  return body;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text; // never innerHTML: labels are user data
  if (cls) e.className = cls;
  return e;
}

function fail(where, err) {
  where.replaceChildren(el('p', String(err.message ?? err), 'error'));
}

async function loadTree() {
  const tree = $('tree');
  if (!auth) return;
  try {
    const resources = await api(`/users/${auth.uid}/resources`);
    const top = el('ul');
    for (const r of resources) {
      const li = el('li', r.label);
      const sub = el('ul');
      for (const s of await api(`/users/${auth.uid}/resources/${r.id}/streams`)) {
        const b = el('button', s.unit ? `${s.label} [${s.unit}]` : s.label, s.public ? 'public' : undefined);
        b.addEventListener('click', () => {
          location.hash = `#/users/${auth.uid}/resources/${r.id}/streams/${s.id}`;
        });
        const item = el('li');
        item.append(b);
        sub.append(item);
      }
      li.append(sub);
      top.append(li);
    }
    tree.replaceChildren(resources.length ? top : el('p', 'No resources yet.', 'hint'));
  } catch (err) {
    fail(tree, err);
  }
}

function draw(points) {
  const c = $('chart');
  const g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  const nums = points.filter((p) => typeof p.value === 'number');
  if (nums.length === 0) return;
  const pad = 40;
  const t0 = nums[0].time;
  const t1 = nums[nums.length - 1].time;
  let lo = Math.min(...nums.map((p) => p.value));
  let hi = Math.max(...nums.map((p) => p.value));
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  const x = (t) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (c.width - 2 * pad);
  const y = (v) => c.height - pad - ((v - lo) / (hi - lo)) * (c.height - 2 * pad);
  g.strokeStyle = '#ccc';
  g.strokeRect(pad, pad, c.width - 2 * pad, c.height - 2 * pad);
  g.fillStyle = '#555';
  g.font = '12px system-ui';
  g.fillText(String(hi), 4, pad);
  g.fillText(String(lo), 4, c.height - pad);
  g.fillText(new Date(t0).toLocaleString(), pad, c.height - 12);
  const last = new Date(t1).toLocaleString();
  g.fillText(last, c.width - pad - g.measureText(last).width, c.height - 12);
  g.strokeStyle = '#1a5fb4';
  g.lineWidth = 2;
  g.beginPath();
  nums.forEach((p, i) => (i === 0 ? g.moveTo(x(p.time), y(p.value)) : g.lineTo(x(p.time), y(p.value))));
  g.stroke();
}

async function showStream() {
  const m = /^#(\/users\/\d+\/resources\/\d+\/streams\/\d+)$/.exec(location.hash);
  if (!m) return;
  try {
    const d = await api(`${m[1]}/data?limit=200`);
    $('title').textContent = d.unit ? `${d.label} [${d.unit}]` : d.label;
    draw(d.points);
    const rows = d.points
      .slice(-20)
      .reverse()
      .map((p) => {
        const tr = el('tr');
        tr.append(el('td', new Date(p.time).toISOString()), el('td', String(p.value)));
        return tr;
      });
    document.querySelector('#points tbody').replaceChildren(...rows);
  } catch (err) {
    $('title').textContent = `Cannot read this stream: ${err.message}`;
  }
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const token = $('token').value.trim();
  const uid = Number($('uid').value);
  if (!token || !Number.isInteger(uid) || uid < 1) return;
  auth = { token, uid };
  sessionStorage.setItem('securesense', JSON.stringify(auth));
  await loadTree();
});

window.addEventListener('hashchange', showStream);
setInterval(showStream, 5000);
loadTree();
showStream();

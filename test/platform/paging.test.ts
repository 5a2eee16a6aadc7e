/** limit/offset on every list route, through real HTTP on both engines: whole walks, totals, Link headers. */
import assert from 'node:assert/strict';
import { bothEngines } from './engines.ts';
import { call, newResource, newStream, newUser, startPlatform } from './helpers.ts';

/** Follows rel="next" from `first` to the end; returns the ids seen and the pages' totals. */
async function walk(base: string, first: string, token: string) {
  const ids: number[] = [];
  const totals = new Set<string | null>();
  let url: string | null = first;
  let pages = 0;
  while (url !== null) {
    const r = await call(base, 'GET', url, { token });
    assert.equal(r.status, 200, r.text);
    assert.ok(Array.isArray(r.json), 'the body stays an array');
    ids.push(...r.json.map((x: { id: number }) => x.id));
    totals.add(r.headers.get('x-total-count'));
    const link = r.headers.get('link');
    const m = link === null ? null : /^<([^>]+)>; rel="next"$/.exec(link);
    if (link !== null) assert.ok(m, `Link ${link}`);
    url = m ? m[1] : null;
    if (++pages > 50) throw new Error('no end to the pages');
  }
  return { ids, totals: [...totals], pages };
}

bothEngines('every list route pages by limit/offset with X-Total-Count and Link rel="next"', async (t, tg) => {
  const p = await startPlatform(t, tg);
  const base = p.base;
  const { uid, token } = await newUser(base, 'pager');
  const rids: number[] = [];
  for (let i = 0; i < 7; i++) rids.push((await newResource(base, uid, token, `r${i}`)).rid);
  const rid = rids[0];
  const R = `/users/${uid}/resources`;

  // Without limit: the whole list as before, with its total and no Link.
  const all = await call(base, 'GET', R, { token });
  assert.deepEqual(
    all.json.map((r: { id: number }) => r.id),
    rids,
  );
  assert.equal(all.headers.get('x-total-count'), '7');
  assert.equal(all.headers.get('link'), null);

  // limit 3: pages 3 + 3 + 1, in id order, no duplicates or gaps.
  const w = await walk(base, `${R}?limit=3`, token);
  assert.deepEqual(w.ids, rids);
  assert.equal(w.pages, 3);
  assert.deepEqual(w.totals, ['7']);
  const last = await call(base, 'GET', `${R}?limit=3&offset=6`, { token });
  assert.equal(last.json.length, 1);
  assert.equal(last.headers.get('link'), null);
  const past = await call(base, 'GET', `${R}?limit=3&offset=50`, { token });
  assert.deepEqual(past.json, []);
  assert.equal(past.headers.get('x-total-count'), '7');
  // An offset alone: the rest of the list.
  const rest = await call(base, 'GET', `${R}?offset=5`, { token });
  assert.deepEqual(
    rest.json.map((r: { id: number }) => r.id),
    rids.slice(5),
  );
  // The ?key= form stays in the next link.
  const keyed = await call(base, 'GET', `${R}?key=${token}&limit=4`);
  assert.equal(keyed.headers.get('link'), `<${R}?key=${token}&limit=4&offset=4>; rel="next"`);

  // Streams, parsers, device credentials, tokens.
  const sids: number[] = [];
  for (let i = 0; i < 5; i++) sids.push((await newStream(base, uid, rid, token, { label: `s${i}` })).sid);
  const ws = await walk(base, `${R}/${rid}/streams?limit=2`, token);
  assert.deepEqual(ws.ids, sids);
  assert.deepEqual(ws.totals, ['5']);

  const pids: number[] = [];
  for (const sid of sids) {
    const r = await call(base, 'POST', `${R}/${rid}/parsers`, {
      token,
      body: { stream_id: sid, kind: 'json-path', expression: `/v${sid}` },
    });
    assert.equal(r.status, 201, r.text);
    pids.push(r.json.id);
  }
  const wp = await walk(base, `${R}/${rid}/parsers?limit=4`, token);
  assert.deepEqual(wp.ids, pids);
  assert.deepEqual(wp.totals, ['5']);

  const cids: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await call(base, 'POST', `${R}/${rid}/devices`, { token, body: { mode: 'psk', psk_identity: `d${i}` } });
    assert.equal(r.status, 201, r.text);
    cids.push(r.json.id);
  }
  const wd = await walk(base, `${R}/${rid}/devices?limit=1`, token);
  assert.deepEqual(wd.ids, cids);
  assert.equal(wd.pages, 3);

  for (let i = 0; i < 3; i++) {
    const r = await call(base, 'POST', `/users/${uid}/tokens`, { token, body: { name: `t${i}` } });
    assert.equal(r.status, 201, r.text);
  }
  const allTokens = (await call(base, 'GET', `/users/${uid}/tokens`, { token })).json.map((x: { id: number }) => x.id);
  assert.equal(allTokens.length, 4);
  const wt = await walk(base, `/users/${uid}/tokens?limit=3`, token);
  assert.deepEqual(wt.ids, allTokens);
  assert.deepEqual(wt.totals, ['4']);

  // The poll log: newest first, paged by the same offset.
  for (let i = 0; i < 5; i++) {
    await p.service.recordPoll({
      resourceId: rid,
      time: 1_000 + i,
      url: 'coap://example/x',
      ok: true,
      status: '2.05',
      message: null,
      points: i,
      newSession: false,
      durationMs: 1,
    });
  }
  const wl = await walk(base, `${R}/${rid}/log?limit=2`, token);
  assert.equal(wl.ids.length, 5);
  assert.deepEqual(
    wl.ids,
    [...wl.ids].sort((a, b) => b - a),
  );
  assert.equal(new Set(wl.ids).size, 5);
  assert.deepEqual(wl.totals, ['5']);

  // Bad limit/offset: 400 with a message that names the parameter.
  for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'offset=-1', 'offset=x', 'limit=2.5']) {
    for (const path of [R, `${R}/${rid}/streams`, `${R}/${rid}/log`, `/users/${uid}/tokens`]) {
      const r = await call(base, 'GET', `${path}?${q}`, { token });
      assert.equal(r.status, 400, `${path}?${q}: ${r.status} ${r.text}`);
      assert.equal(r.json.error, 'Bad Request');
      assert.match(r.json.message, /limit|offset/, r.json.message);
    }
  }
});

bothEngines('the OpenAPI document describes limit and offset on the list routes', async (t, tg) => {
  const p = await startPlatform(t, tg);
  const doc = (await call(p.base, 'GET', '/docs/json')).json;
  for (const path of [
    '/users/{uid}/resources',
    '/users/{uid}/resources/{rid}/streams',
    '/users/{uid}/resources/{rid}/parsers',
    '/users/{uid}/resources/{rid}/devices',
    '/users/{uid}/tokens',
    '/users/{uid}/resources/{rid}/log',
  ]) {
    const names = (doc.paths[path].get.parameters as { name: string; in: string }[])
      .filter((x) => x.in === 'query')
      .map((x) => x.name);
    assert.ok(names.includes('limit') && names.includes('offset'), `${path}: ${names}`);
  }
});

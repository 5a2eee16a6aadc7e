/**
 * The dashboard (web/) in a real browser: headless Chromium driven by playwright-core against the
 * real platform on a temporary SQLite file. It signs in both ways the page offers, lists the
 * resources and streams, charts a stream, sees a point posted through the API arrive over the
 * live feed (Server-Sent Events), opens a public stream by its address without signing in, shows clear errors for a wrong
 * token, a wrong password and a private stream, and logs out — with no console error, page error or
 * CSP violation along the way (the page is served with `default-src 'self'`).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { call, newResource, newStream, newUser, startPlatform } from '../platform/helpers.ts';
import { CHROMIUM_ARGS, openPage, waitText } from '../support/browser.ts';
import { requireBinary } from '../support/peers.ts';

const rows = (page: Page) => page.locator('#points tbody tr').allTextContents();

test('the dashboard in headless Chromium: sign in, list, chart, refresh, public stream, errors, log out', async (t) => {
  if (!requireBinary(t, 'chromium')) return;
  const dir = mkdtempSync(join(tmpdir(), 'ss-web-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = await startPlatform(t, { engine: 'sqlite', db: join(dir, 'web.db') });
  const base = p.base;

  // Alice has a resource "kitchen" whose first JSON payload creates two streams; temperature gets a
  // unit, is made public and has two older points; "door" has no point; "garage" has no stream.
  const { uid, token } = await newUser(base, 'alice');
  const { rid, key: resourceKey } = await newResource(base, uid, token, 'kitchen');
  const first = await call(base, 'POST', `/users/${uid}/resources/${rid}/data`, {
    token,
    body: { temperature: 21.5, humidity: 40 },
  });
  assert.equal(first.status, 200, first.text);
  const sidOf = (label: string): number => first.json.created.find((s: { label: string }) => s.label === label).id;
  const temp = sidOf('temperature');
  const hum = sidOf('humidity');
  const tempPath = `/users/${uid}/resources/${rid}/streams/${temp}`;
  const set = await call(base, 'PUT', tempPath, { token, body: { unit: '°C', public: true } });
  assert.equal(set.status, 200, set.text);
  const now = Date.now();
  const older = await call(base, 'POST', `${tempPath}/data`, {
    token,
    body: [
      { time: now - 120_000, value: 20.25 },
      { time: now - 60_000, value: 20.75 },
    ],
  });
  assert.equal(older.json.stored, 2, older.text);
  const door = await newStream(base, uid, rid, token, { label: 'door' });
  // A label is user data: markup in it must show as text, never run (and the CSP would report it).
  const garage = await newResource(base, uid, token, 'garage <img src=x onerror="window.__xss=1">');
  const state = await newStream(base, uid, garage.rid, token, { label: 'state', type: 'text' });
  const statePath = `/users/${uid}/resources/${garage.rid}/streams/${state.sid}`;
  const texts = await call(base, 'POST', `${statePath}/data`, {
    token,
    body: [
      { time: now - 30_000, value: 'closed' },
      { time: now - 10_000, value: 'open <b>wide</b>' },
    ],
  });
  assert.equal(texts.json?.stored, 2, texts.text);
  await newResource(base, uid, token, 'attic');

  // The favicon the page links is served like the rest of web/: no console error is tolerated.
  const favicon = await call(base, 'GET', '/web/favicon.svg');
  assert.equal(favicon.status, 200);

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  t.after(() => browser.close());

  await t.test('sign in with a token, list, chart, refresh, empty state, log out', async (t) => {
    const { page, problems } = await openPage(browser, t);
    await page.goto(`${base}/`);
    await page.waitForSelector('#login-token');
    assert.equal(await page.isVisible('#tree'), false, 'no tree before signing in');

    await page.fill('#token', token);
    await page.click('#login-token button[type=submit]');
    await waitText(page, '#tree', 'temperature');
    const tree = (await page.textContent('#tree')) ?? '';
    for (const want of ['kitchen', 'temperature', '°C', 'public', 'humidity', 'door', 'attic', 'no streams yet'])
      assert.ok(tree.includes(want), `tree lacks ${want}: ${tree}`);
    assert.ok(tree.includes('garage <img src=x onerror="window.__xss=1">'), 'markup in a label shows as text');
    assert.equal(await page.locator('#tree img').count(), 0);
    assert.equal(await page.textContent('#who'), `alice (id ${uid})`);

    await page.click('#tree a:text-is("temperature")');
    await waitText(page, '#title', 'temperature');
    assert.equal(new URL(page.url()).hash, `#${tempPath}`);
    assert.equal(await page.textContent('#last-value'), '21.5');
    assert.equal(await page.textContent('#last-unit'), '°C');
    assert.deepEqual(
      (await rows(page)).map((r) => r.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/, '')),
      ['21.5 °C', '20.75 °C', '20.25 °C'],
    );
    // The chart: one polyline through the three points, a dot on each.
    assert.equal(await page.getAttribute('#chart', 'data-points'), '3');
    assert.equal(await page.locator('#chart polyline').count(), 1);
    assert.equal(await page.locator('#chart circle').count(), 3);
    assert.equal((await page.getAttribute('#chart polyline', 'points'))?.split(' ').length, 3);
    assert.equal(await page.isVisible('#empty'), false);

    // A point posted through the API (with the resource's key, as a device would) shows up when
    // its event arrives on the page's live feed, without any action in the page.
    const posted = await call(base, 'POST', `${tempPath}/data?key=${resourceKey}`, { body: { value: 23.125 } });
    assert.equal(posted.json?.stored, 1, posted.text);
    await waitText(page, '#last-value', '23.125', 8_000);
    assert.equal((await rows(page)).length, 4);
    assert.equal(await page.getAttribute('#chart', 'data-points'), '4');
    await page.screenshot({ path: join(tmpdir(), 'securesense-dashboard.png'), fullPage: true });

    // A text stream: its values in the table and as the last value, no chart.
    await page.click('#tree a:text-is("state")');
    await waitText(page, '#title', 'state');
    assert.equal(await page.textContent('#last-value'), 'open <b>wide</b>');
    assert.match((await page.textContent('#meta')) ?? '', /text values/);
    assert.equal(await page.isVisible('#chart'), false);
    assert.deepEqual(
      (await rows(page)).map((r) => r.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/, '')),
      ['open <b>wide</b>', 'closed'],
    );
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);

    // A stream without points: an empty state instead of a chart.
    await page.click('#tree a:text-is("door")');
    await waitText(page, '#title', 'door');
    assert.equal(await page.isVisible('#empty'), true);
    assert.match((await page.textContent('#empty')) ?? '', /No points yet/);
    assert.equal(await page.isVisible('#chart'), false);
    assert.equal(await page.isVisible('#points'), false);
    assert.equal(new URL(page.url()).hash, `#/users/${uid}/resources/${rid}/streams/${door.sid}`);

    await page.click('#logout');
    await page.waitForSelector('#login-token', { state: 'visible' });
    assert.equal(await page.isVisible('#tree'), false);
    assert.equal(await page.isVisible('#stream'), false, 'a private stream does not stay on screen');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('securesense')), null);
    assert.equal(await page.evaluate(() => location.hash), '');

    assert.deepEqual(problems.console, []);
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(await problems.csp(), []);
  });

  await t.test('a public stream opens by its address without signing in', async (t) => {
    const { page, problems } = await openPage(browser, t);
    await page.goto(`${base}/#${tempPath}`);
    await waitText(page, '#title', 'temperature');
    assert.equal(await page.textContent('#last-value'), '23.125');
    assert.equal(await page.textContent('#last-unit'), '°C');
    assert.match((await page.textContent('#meta')) ?? '', /public/);
    assert.equal(await page.getAttribute('#chart', 'data-points'), '4');
    assert.equal(await page.isVisible('#login-token'), true, 'still signed out');

    // On a phone-sized screen the stream comes first and the chart is drawn at its real width (one
    // SVG unit per CSS pixel), so its axis text is not shrunk.
    await page.setViewportSize({ width: 390, height: 800 });
    await page.waitForFunction(() => {
      const c = document.getElementById('chart');
      const w = c?.getBoundingClientRect().width ?? 0;
      return w > 0 && Math.abs(Number(c?.getAttribute('viewBox')?.split(' ')[2]) - w) <= 1;
    });
    const view = await page.locator('#view').boundingBox();
    const side = await page.locator('#side').boundingBox();
    assert.ok(view && side && view.y < side.y, 'the open stream is above the sign-in form');
    assert.deepEqual(problems.console, []);
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(await problems.csp(), []);
  });

  await t.test('a wrong token and a private stream give clear errors', async (t) => {
    const { page, problems } = await openPage(browser, t);
    await page.goto(`${base}/`);
    await page.fill('#token', 'sst_this-is-not-the-token');
    await page.click('#login-token button[type=submit]');
    await waitText(page, '#login-error', 'This token was not accepted');
    assert.match((await page.textContent('#login-error')) ?? '', /invalid token or key/);
    assert.equal(await page.isVisible('#tree'), false);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('securesense')), null, 'a bad token is not kept');

    await page.goto(`${base}/#/users/${uid}/resources/${rid}/streams/${hum}`);
    await waitText(page, '#status', 'This stream is private');
    assert.equal(await page.isVisible('#stream'), false);

    // The browser itself logs each 401 answer as a console error; nothing else may appear.
    const other = problems.console.filter((c) => !/status of 401/.test(c.text));
    assert.deepEqual(other, []);
    assert.ok(problems.console.length >= 2, 'the 401s were seen, so the listener works');
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(await problems.csp(), []);
  });

  await t.test('sign in with username and password; the session survives a reload', async (t) => {
    const { page, problems } = await openPage(browser, t);
    await page.goto(`${base}/`);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'not the password');
    await page.click('#login-password button[type=submit]');
    await waitText(page, '#login-error', 'Wrong username or password.');

    assert.match((await page.textContent('#login-password .hint')) ?? '', /API tokens keep working/);
    await page.fill('#password', 'a good password');
    await page.click('#login-password button[type=submit]');
    await waitText(page, '#tree', 'humidity');
    assert.equal(await page.inputValue('#password'), '', 'the password is not left in the form');
    // The page holds a session token; Alice's API token (used by her scripts) still works.
    const session = await page.evaluate(() => JSON.parse(sessionStorage.getItem('securesense') ?? '{}').token);
    assert.match(session, /^ssn_/);
    assert.equal((await call(base, 'GET', `/users/${uid}`, { token })).status, 200);
    await page.reload();
    await waitText(page, '#tree', 'humidity');
    await page.click('#tree a:text-is("humidity")');
    await waitText(page, '#title', 'humidity');
    assert.equal(await page.textContent('#last-value'), '40');
    assert.match((await page.textContent('#meta')) ?? '', /private/);

    // Log out ends the session on the server too (POST /logout, awaited before the form shows);
    // the API token is untouched.
    await page.click('#logout');
    await page.waitForSelector('#login-password', { state: 'visible' });
    assert.equal((await call(base, 'GET', '/users/me', { token: session })).status, 401);
    assert.equal((await call(base, 'GET', `/users/${uid}`, { token })).status, 200);

    const other = problems.console.filter((c) => !/status of 401/.test(c.text));
    assert.deepEqual(other, []);
    assert.deepEqual(problems.pageErrors, []);
    assert.deepEqual(await problems.csp(), []);
  });
});

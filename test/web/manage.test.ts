/**
 * Managing what a user owns from the dashboard (web/), in headless Chromium against the real
 * platform with its CoAP/CoAPs API and poller running: a resource created from the page; a PSK
 * device added from the page, whose one-time key a real device (our CoapClient over coaps://) then
 * uses to post data that the page shows; the device removed from the page, after which its next
 * handshake fails; RPK and X.509 bindings pasted as PEM; the poll log of a resource with an
 * unreachable polling URL; deleting a resource after a confirmation; the API's refusals shown in
 * words — with no console error (beyond the HTTP statuses the test provokes), page error or CSP
 * violation along the way.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { CoapClient, ContentFormat } from '../../src/coap/index.ts';
import { DtlsAlertError } from '../../src/dtls/index.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createPlatform } from '../../src/platform/index.ts';
import { call, newUser } from '../platform/helpers.ts';
import { CHROMIUM_ARGS, openPage } from '../support/browser.ts';
import { spawnCli } from '../support/cli.ts';
import { requireBinary } from '../support/peers.ts';
import { makeTempPki } from '../support/pki.ts';
import { freeTcpPort } from '../support/ports.ts';

const JSON_CF = { contentFormat: ContentFormat['application/json'] };

async function waitText(page: Page, selector: string, want: string | RegExp, timeoutMs = 8_000): Promise<string> {
  const source = typeof want === 'string' ? null : want.source;
  const text = typeof want === 'string' ? want : '';
  try {
    await page.waitForFunction(
      ([s, w, re]) => {
        const got = document.querySelector(s)?.textContent ?? '';
        return re ? new RegExp(re).test(got) : got.includes(w);
      },
      [selector, text, source] as const,
      { timeout: timeoutMs },
    );
  } catch {
    const got = await page
      .locator(selector)
      .textContent()
      .catch(() => null);
    assert.fail(`${selector} never showed ${String(want)}; it shows ${JSON.stringify(got)}`);
  }
  return (await page.textContent(selector)) ?? '';
}

test('managing resources and devices from the page, with a real coaps:// device', async (t) => {
  if (!requireBinary(t, 'chromium')) return;
  const dir = mkdtempSync(join(tmpdir(), 'ss-web-manage-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = loadConfig({
    env: {},
    overrides: {
      db: join(dir, 'web.db'),
      http: { host: '127.0.0.1', port: 0 },
      coap: { host: '127.0.0.1', port: 0, coapsPort: 0 },
      poller: { allow: ['127.0.0.1'] },
    },
  });
  const p = await createPlatform(cfg, { coap: true, poller: true });
  t.after(() => p.close());
  const base = p.http.plain?.url ?? '';
  const coapsPort = p.coap?.coaps?.port;
  assert.ok(base && coapsPort, 'HTTP and CoAPs listen');
  const pki = await makeTempPki(t);

  const { uid, token } = await newUser(base, 'erin');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const { page, problems } = await openPage(browser, t, { width: 1280, height: 900 });
  await page.goto(`${base}/`);
  await page.fill('#token', token);
  await page.click('#login-token button[type=submit]');
  await waitText(page, '#tree', 'No resources yet');
  assert.equal(await page.isVisible('#create-resource'), true);

  // --- a resource, created from the page; its key is shown once
  // A polling URL without a period is refused by the API: the page says why.
  await page.fill('#new-label', 'broken');
  await page.fill('#new-url', 'http://127.0.0.1:9/');
  await page.click('#create-resource button[type=submit]');
  const refused = await waitText(page, '#create-error', 'Cannot create the resource');
  assert.match(refused, /polling_period/, refused);
  await page.fill('#new-label', 'greenhouse <img src=x onerror="window.__xss=1">');
  await page.fill('#new-url', '');
  await page.click('#create-resource button[type=submit]');
  await waitText(page, '#r-title', 'greenhouse <img');
  assert.equal(await page.isVisible('#create-error'), false);
  const list = await call(base, 'GET', `/users/${uid}/resources`, { token });
  assert.equal(list.json.length, 1, list.text);
  const rid: number = list.json[0].id;
  assert.equal(list.json[0].label, 'greenhouse <img src=x onerror="window.__xss=1">');
  assert.equal(new URL(page.url()).hash, `#/users/${uid}/resources/${rid}`);
  await waitText(page, '#secret-title', 'The key of resource');
  assert.match((await page.textContent('#secret .warn')) ?? '', /will not be shown again/);
  const resourceKey = (await page.textContent('#secret-value')) ?? '';
  assert.match(resourceKey, /^ssr_/);
  // The key the page showed is the resource's: it reads the resource.
  assert.equal((await call(base, 'GET', `/users/${uid}/resources/${rid}?key=${resourceKey}`)).status, 200);
  await waitText(page, '#tree', 'greenhouse <img');
  assert.equal(await page.locator('#tree img, #resource img').count(), 0, 'markup in a label shows as text');
  await page.click('#secret-done');
  assert.equal(await page.isVisible('#secret'), false);
  assert.equal(((await page.textContent('body')) ?? '').includes(resourceKey), false, 'the key is gone');
  await waitText(page, '#devices-empty', 'No device');
  assert.equal(await page.isVisible('#r-log'), false, 'no poll log without a polling URL');

  // --- a PSK device from the page: the platform generates the key, the page shows it once
  await page.fill('#d-psk-identity', 'greenhouse-1');
  await page.fill('#d-label', 'north bench');
  await page.click('#add-device button[type=submit]');
  await waitText(page, '#secret-title', 'The key of PSK device "greenhouse-1"');
  const key = (await page.textContent('#secret-value')) ?? '';
  assert.match(key, /^[0-9a-f]{32,128}$/, key);
  // The ready-to-copy command line: the page's host, the platform's real coaps port (GET /info,
  // a free port here, not 5684), the identity and key.
  assert.notEqual(coapsPort, 5684);
  assert.equal(await page.inputValue('#coaps-port'), String(coapsPort));
  assert.match((await page.textContent('#coaps-hint')) ?? '', new RegExp(`listens on port ${coapsPort}`));
  assert.equal(
    await page.textContent('#secret-cmd'),
    `npx securesense device run --push coaps://127.0.0.1:${coapsPort}/users/${uid}/resources/${rid}/data --psk greenhouse-1:${key}`,
  );
  assert.equal(
    await page.textContent('#r-command'),
    `npx securesense device run --push coaps://127.0.0.1:${coapsPort}/users/${uid}/resources/${rid}/data --psk greenhouse-1:KEY`,
  );
  // A port typed in (a NAT in front, say) wins, and both lines follow; then back to the real one.
  await page.fill('#coaps-port', '15684');
  await waitText(page, '#secret-cmd', ':15684/');
  await waitText(page, '#r-command', ':15684/');
  await page.fill('#coaps-port', String(coapsPort));
  const command = await waitText(page, '#secret-cmd', `:${coapsPort}/`);
  await waitText(page, '#r-command', `:${coapsPort}/`);
  const row = await waitText(page, '#devices tbody', 'greenhouse-1');
  assert.match(row, /PSK/);
  assert.match(row, /north bench/);
  assert.equal(row.includes(key), false, 'the list never shows a key');
  // The copy button puts the command on the clipboard (granted to this origin).
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  await page.click('#secret-cmd-copy');
  await waitText(page, '#secret-cmd-copy', 'Copied');
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), command);

  // The same identity again: 409 from the API, said in the page.
  await page.fill('#d-psk-identity', 'greenhouse-1');
  await page.click('#add-device button[type=submit]');
  const dup = await waitText(page, '#device-error', 'Cannot add the device');
  assert.match(dup, /already exists/, dup);
  assert.equal(await page.textContent('#secret-value'), key, 'the shown key stays until the user leaves');

  // --- a real device with what the page showed: the command's URL and --psk ID:KEY
  const m = /--push (coaps:\/\/\S+) --psk ([^:\s]+):([0-9a-f]+)$/.exec(command);
  assert.ok(m, command);
  const [, url, identity, hexKey] = m;
  const device = new CoapClient({
    params: { ackTimeout: 500 },
    security: { psk: { identity, key: Buffer.from(hexKey, 'hex') } },
  });
  t.after(() => device.close());
  const posted = await device.post(url, JSON.stringify({ soil_moisture: 31.25 }), JSON_CF);
  assert.equal(posted.status, '2.04', posted.payload.toString());
  // The page shows the new stream, in the tree (live feed) and on the resource's page (its 5 s refresh).
  await waitText(page, '#r-streams', 'soil_moisture');
  await waitText(page, '#tree', 'soil_moisture');
  await page.click('#r-streams a:text-is("soil_moisture")');
  await waitText(page, '#title', 'soil_moisture');
  assert.equal(await page.textContent('#last-value'), '31.25');
  assert.equal(await page.isVisible('#secret'), false, 'leaving the resource forgets the key');
  assert.equal(((await page.textContent('body')) ?? '').includes(key), false);
  await page.screenshot({ path: join(tmpdir(), 'securesense-manage-stream.png'), fullPage: true });

  // The command line itself, run as the page gives it (without `npx`, from this checkout): our
  // device agent pushes over coaps:// a reading of a command sensor named after the stream, and
  // the open stream shows it when its event arrives on the live feed.
  const words = command.split(' ');
  assert.deepEqual(words.slice(0, 4), ['npx', 'securesense', 'device', 'run']);
  const agent = spawnCli(
    t,
    [...words.slice(2), '--interval', '0.5', '--command', 'echo 42.5', '--command-name', 'soil_moisture'],
    { timeoutMs: 30_000 },
  );
  await agent.waitFor(/"event":"sent".*"code":"2\.04"/, 20_000);
  await agent.kill();
  await waitText(page, '#last-value', '42.5');
  await page.click(`#tree a[href="#/users/${uid}/resources/${rid}"]`);
  await waitText(page, '#r-title', 'greenhouse');

  // --- RPK and X.509 devices, pasted as PEM
  await page.selectOption('#d-mode', 'rpk');
  assert.equal(await page.isVisible('#d-psk-identity'), false);
  await page.fill('#d-rpk-value', pki.rpkClient.spkiPem);
  await page.click('#add-device button[type=submit]');
  await waitText(page, '#devices tbody', pki.rpkClient.fingerprint);
  await page.selectOption('#d-mode', 'x509');
  await page.fill('#d-x509-cert', pki.device.certPem);
  await page.click('#add-device button[type=submit]');
  await waitText(page, '#devices tbody', 'pinned certificate');
  await page.selectOption('#d-x509-how', 'ca');
  await page.fill('#d-x509-name', 'CN=greenhouse-2');
  await page.fill('#d-x509-ca', pki.issuer.certPem);
  await page.click('#add-device button[type=submit]');
  await waitText(page, '#devices tbody', 'CN=greenhouse-2 under a CA');
  // Not PEM, not a fingerprint: the API's 400 in words.
  await page.selectOption('#d-mode', 'rpk');
  await page.fill('#d-rpk-value', 'not a key');
  await page.click('#add-device button[type=submit]');
  assert.match(await waitText(page, '#device-error', 'Cannot add the device'), /rpk_fingerprint/);
  const bound = await call(base, 'GET', `/users/${uid}/resources/${rid}/devices`, { token });
  assert.deepEqual(
    bound.json.map((c: { mode: string }) => c.mode),
    ['psk', 'rpk', 'x509', 'x509'],
  );
  assert.equal(bound.json[1].rpk_fingerprint, pki.rpkClient.fingerprint);
  assert.equal(bound.json[3].x509_name, 'CN=greenhouse-2');

  // --- removing the PSK device, after a confirmation
  const pskRow = page.locator('#devices tbody tr', { hasText: 'greenhouse-1' });
  await pskRow.getByRole('button', { name: 'Remove…' }).click();
  await waitText(page, '#devices tbody', 'It will no longer connect');
  await pskRow.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await call(base, 'GET', `/users/${uid}/resources/${rid}/devices`, { token })).json.length, 4);
  await pskRow.getByRole('button', { name: 'Remove…' }).click();
  await pskRow.getByRole('button', { name: 'Remove', exact: true }).click();
  await page.waitForFunction(
    () => !(document.querySelector('#devices tbody')?.textContent ?? '').includes('greenhouse-1'),
  );
  const left = await call(base, 'GET', `/users/${uid}/resources/${rid}/devices`, { token });
  assert.deepEqual(
    left.json.map((c: { mode: string }) => c.mode),
    ['rpk', 'x509', 'x509'],
  );
  // The device's next handshake is refused: its identity is known nowhere any more…
  const again = new CoapClient({
    params: { ackTimeout: 500 },
    security: { psk: { identity, key: Buffer.from(hexKey, 'hex') }, maxRetransmits: 1, retransmitInitialMs: 200 },
  });
  t.after(() => again.close());
  await assert.rejects(again.post(url, JSON.stringify({ soil_moisture: 1 }), JSON_CF), (err: Error) => {
    assert.ok(err instanceof DtlsAlertError, `${err.name}: ${err.message}`);
    assert.match(err.message, /unknown_psk_identity/);
    return true;
  });
  // …and the session it still holds is refused per request (docs/platform-coap.md).
  const stale = await device.post(url, JSON.stringify({ soil_moisture: 2 }), JSON_CF);
  assert.equal(stale.status, '4.01', stale.payload.toString());

  // --- the poll log of a resource polled from a URL nobody answers
  const closedPort = await freeTcpPort();
  await page.fill('#new-label', 'unreachable');
  await page.fill('#new-url', `http://127.0.0.1:${closedPort}/sensors`);
  await page.fill('#new-period', '1');
  await page.click('#create-resource button[type=submit]');
  await waitText(page, '#r-title', 'unreachable');
  assert.match((await page.textContent('#r-meta')) ?? '', /polled every 1 s from http:\/\/127\.0\.0\.1/);
  assert.equal(await page.isVisible('#r-log'), true);
  // The first polls run within a second; the page's refresh shows them, newest first.
  const log = await waitText(page, '#poll-log tbody', 'failed', 12_000);
  assert.match(log, /network failed/);
  assert.match(log, /ECONNREFUSED/);
  const rid2: number = (await call(base, 'GET', `/users/${uid}/resources`, { token })).json[1].id;
  const api = await call(base, 'GET', `/users/${uid}/resources/${rid2}/log`, { token });
  assert.equal(api.json[0].ok, false);
  const times = await page.locator('#poll-log tbody tr td:first-child').allTextContents();
  assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
  await page.screenshot({ path: join(tmpdir(), 'securesense-manage.png'), fullPage: true });
  // On a phone the resource's page comes first, and nothing is wider than the screen.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.waitForFunction(() => {
    const view = document.getElementById('view')?.getBoundingClientRect();
    const side = document.getElementById('side')?.getBoundingClientRect();
    return view && side && view.y < side.y;
  });
  await page.screenshot({ path: join(tmpdir(), 'securesense-manage-phone.png'), fullPage: true });
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 390, 'no sideways scrolling');
  await page.screenshot({ path: join(tmpdir(), 'securesense-manage-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });

  // --- its settings: a URL without a period is refused in words; an empty URL stops the polls
  assert.equal(await page.inputValue('#s-url'), `http://127.0.0.1:${closedPort}/sensors`);
  await page.fill('#s-period', '');
  await page.click('#r-settings button[type=submit]');
  assert.match(await waitText(page, '#settings-error', 'Cannot save the settings'), /polling_period/);
  await page.fill('#s-url', '');
  await page.click('#r-settings button[type=submit]');
  await waitText(page, '#status', 'Saved the settings of "unreachable"');
  await page.waitForSelector('#r-log', { state: 'hidden' });
  const stopped = await call(base, 'GET', `/users/${uid}/resources/${rid2}`, { token });
  assert.equal(stopped.json.polling_url, null, stopped.text);
  assert.equal(await page.isVisible('#settings-error'), false);

  // --- deleting a resource: cancel first, then confirm
  await page.click('#r-delete');
  assert.match((await page.textContent('#r-delete-question')) ?? '', /Delete "unreachable".*cannot be undone/);
  await page.click('#r-delete-no');
  assert.equal((await call(base, 'GET', `/users/${uid}/resources/${rid2}`, { token })).status, 200);
  await page.click('#r-delete');
  await page.click('#r-delete-yes');
  await waitText(page, '#status', 'Deleted resource "unreachable"');
  assert.equal((await call(base, 'GET', `/users/${uid}/resources/${rid2}`, { token })).status, 404);
  await page.waitForFunction(() => !(document.querySelector('#tree')?.textContent ?? '').includes('unreachable'));
  assert.equal(new URL(page.url()).hash, '');

  // Nothing but the session is kept in the browser.
  assert.deepEqual(await page.evaluate(() => [Object.keys(sessionStorage), Object.keys(localStorage)]), [
    ['securesense'],
    [],
  ]);
  assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
  // The browser logs each refused request (400, 409) as a console error; nothing else may appear.
  const other = problems.console.filter((c) => !/status of (400|409)/.test(c.text));
  assert.deepEqual(other, []);
  assert.ok(problems.console.length >= 3, 'the refusals were seen, so the listener works');
  assert.deepEqual(problems.pageErrors, []);
  assert.deepEqual(await problems.csp(), []);
});

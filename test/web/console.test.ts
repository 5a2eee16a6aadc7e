/**
 * The dashboard as a fleet console, in headless Chromium against the real platform with its
 * coaps:// front end: three devices (PSK, RPK, X.509) handshake and post over DTLS; the page signs
 * in (a too-short password reads "wrong username or password", not schema text), shows the
 * overview with the three devices online in their modes, then a point pushed over coaps:// appears
 * on the open chart within a second without reload (the live feed), the time range switches to the
 * last hour (server-side buckets) with a second stream on the same chart, the CSV download of the range shown holds the points, and an
 * API token is created (shown once), refused under a taken name and revoked. The screenshots go to docs/img/ for docs/dashboard.md when SECURESENSE_SCREENSHOTS=docs, else to a temporary folder.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { CoapClient, ContentFormat } from '../../src/coap/index.ts';
import { DtlsClientTransport } from '../../src/coap/transport-dtls.ts';
import { loadTrustAnchors, ownCertificate, ownRawPublicKey, PinnedKeys } from '../../src/dtls/credentials/index.ts';
import { connect, type DtlsClientOptions, type DtlsConnection } from '../../src/dtls/index.ts';
import { loadConfig } from '../../src/platform/config.ts';
import { createPlatform } from '../../src/platform/index.ts';
import { call, newResource, newUser } from '../platform/helpers.ts';
import { CHROMIUM_ARGS, openPage, waitText } from '../support/browser.ts';
import { requireBinary } from '../support/peers.ts';
import { makeTempPki } from '../support/pki.ts';

const execFileAsync = promisify(execFile);
// docs/img/ only when asked (SECURESENSE_SCREENSHOTS=docs): a test run leaves the checkout as it was.
const SHOTS =
  process.env.SECURESENSE_SCREENSHOTS === 'docs'
    ? new URL('../../docs/img/', import.meta.url)
    : pathToFileURL(`${mkdtempSync(join(tmpdir(), 'ss-console-shots-'))}/`);

async function coapPost(conn: DtlsConnection, port: number, path: string, body: unknown): Promise<string> {
  const client = new CoapClient({ transport: new DtlsClientTransport(conn), params: { ackTimeout: 500 } });
  try {
    const json = { contentFormat: ContentFormat['application/json'] };
    return (await client.post(`coap://127.0.0.1:${port}${path}`, JSON.stringify(body), json)).status;
  } finally {
    await client.close();
  }
}

test('the fleet console in headless Chromium: overview, live point over coaps://, time range, CSV', async (t) => {
  if (!requireBinary(t, 'chromium')) return;
  const dir = mkdtempSync(join(tmpdir(), 'ss-console-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pki = await makeTempPki(t);
  const cfg = loadConfig({
    env: {},
    overrides: {
      db: join(dir, 'console.db'),
      http: { host: '127.0.0.1', port: 0 },
      coap: { host: '127.0.0.1', port: null, coapsPort: 0 },
    },
  });
  const p = await createPlatform(cfg, {
    coap: {
      dtls: {
        rpk: ownRawPublicKey(pki.rpkServer.keyPem),
        certificate: ownCertificate(pki.server.keyPem, pki.server.chainPem),
      },
    },
  });
  t.after(() => p.close());
  const base = p.http.plain?.url ?? '';
  const port = p.coap?.coaps?.port ?? 0;

  const { uid, token } = await newUser(base, 'alice');
  const bind = async (label: string, body: Record<string, unknown>) => {
    const { rid } = await newResource(base, uid, token, label);
    const r = await call(base, 'POST', `/users/${uid}/resources/${rid}/devices`, { token, body });
    assert.equal(r.status, 201, r.text);
    return { rid, json: r.json };
  };
  const psk = await bind('boiler', { mode: 'psk', psk_identity: 'boiler-1' });
  const rpk = await bind('meter', { mode: 'rpk', rpk: pki.rpkClient.spkiPem });
  const x509 = await bind('gate', { mode: 'x509', x509_name: 'CN=device-1', x509_ca: pki.root.certPem });
  await newResource(base, uid, token, 'spare');
  const devices: Array<[number, Omit<DtlsClientOptions, 'host' | 'port'>]> = [
    [psk.rid, { psk: { identity: 'boiler-1', key: Buffer.from(psk.json.psk_key, 'hex') } }],
    [
      rpk.rid,
      { rpk: ownRawPublicKey(pki.rpkClient.keyPem), trust: { pinnedKeys: new PinnedKeys([pki.rpkServer.spkiPem]) } },
    ],
    [
      x509.rid,
      {
        certificate: ownCertificate(pki.device.keyPem, pki.device.chainPem),
        trust: { anchors: loadTrustAnchors(pki.root.certPem) },
      },
    ],
  ];
  const conns: DtlsConnection[] = [];
  t.after(async () => {
    for (const c of conns) await c.close().catch(() => {});
  });
  for (const [rid, creds] of devices) {
    const c = await connect({ host: '127.0.0.1', port, retransmitInitialMs: 300, ...creds });
    conns.push(c);
    assert.equal(await coapPost(c, port, `/users/${uid}/resources/${rid}/data`, { temp: 20 + rid }), '2.04');
  }
  // Older points of the boiler: a minute apart over the last half hour.
  const streams = await call(base, 'GET', `/users/${uid}/resources/${psk.rid}/streams`, { token });
  const sid = streams.json[0].id;
  const streamPath = `/users/${uid}/resources/${psk.rid}/streams/${sid}`;
  const now = Date.now();
  const older = Array.from({ length: 30 }, (_, i) => ({ time: now - (30 - i) * 60_000, value: 40 + (i % 7) }));
  assert.equal((await call(base, 'POST', `${streamPath}/data`, { token, body: older })).status, 200);
  // …and of the meter, every two minutes, to chart beside it.
  const meterStreams = await call(base, 'GET', `/users/${uid}/resources/${rpk.rid}/streams`, { token });
  const meterPath = `/users/${uid}/resources/${rpk.rid}/streams/${meterStreams.json[0].id}`;
  const meterOlder = Array.from({ length: 15 }, (_, i) => ({ time: now - (30 - 2 * i) * 60_000, value: 28 + (i % 5) }));
  assert.equal((await call(base, 'POST', `${meterPath}/data`, { token, body: meterOlder })).status, 200);

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  t.after(() => browser.close());
  const { page, problems } = await openPage(browser, t);
  await page.goto(`${base}/`);

  // A password too short to be anyone's is refused like a wrong one, without schema text.
  await page.fill('#username', 'alice');
  await page.fill('#password', 'short');
  await page.click('#login-password button[type=submit]');
  await waitText(page, '#login-error', 'Wrong username or password.');
  assert.doesNotMatch((await page.textContent('#login-error')) ?? '', /body\/|must NOT/);

  await page.fill('#password', 'a good password');
  await page.click('#login-password button[type=submit]');
  await waitText(page, '#overview', 'Overview');
  await waitText(page, '#c-online', '3 / 4');
  const rowOf = async (rid: number) => (await page.textContent(`#fleet tr[data-rid="${rid}"]`)) ?? '';
  for (const [rid, mode, identity] of [
    [psk.rid, 'PSK', 'boiler-1'],
    [rpk.rid, 'RPK', pki.rpkClient.fingerprint.slice(0, 12)],
    [x509.rid, 'X.509', 'CN=device-1'],
  ] as const) {
    const row = await rowOf(rid);
    assert.match(row, /online/, row);
    assert.ok(row.includes(mode) && row.includes(identity), `row ${rid}: ${row}`);
    assert.match(row, /full/, `the handshake is shown as full: ${row}`);
  }
  assert.match((await page.textContent('#c-handshakes')) ?? '', /^3$/);
  await page.screenshot({ path: new URL('dashboard-overview.png', SHOTS).pathname, fullPage: true });

  // The chart of the boiler's stream, then a point over coaps:// appears without reload.
  await page.click('#tree a:text-is("temp")');
  await waitText(page, '#title', 'temp');
  await page.waitForFunction(() => document.body.getAttribute('data-live') === 'open');
  const before = Number(await page.getAttribute('#chart', 'data-points'));
  const sent = performance.now();
  assert.equal(await coapPost(conns[0], port, `/users/${uid}/resources/${psk.rid}/data`, { temp: 77.25 }), '2.04');
  await waitText(page, '#last-value', '77.25', 1000);
  const ms = performance.now() - sent;
  t.diagnostic(`a point posted over coaps:// was on the open chart ${ms.toFixed(0)} ms later`);
  assert.equal(Number(await page.getAttribute('#chart', 'data-points')), before + 1);

  // The last hour, downsampled by the server: the range text names the points and buckets.
  await page.click('#range button[data-range="hour"]');
  await waitText(page, '#range-meta', 'in ');
  const meta = (await page.textContent('#range-meta')) ?? '';
  assert.match(meta, /^32 points from .* buckets of 12 s/, meta);
  assert.equal(await page.getAttribute('#range button[data-range="hour"]', 'aria-pressed'), 'true');
  assert.equal(await page.locator('#chart polygon.band').count(), 1);
  // A second stream on the same chart: the meter's, with its own line and a legend entry.
  await page.selectOption('#compare-stream', meterPath);
  await page.click('#compare button[type=submit]');
  await waitText(page, '#legend', 'meter / temp');
  await page.waitForFunction(() => document.querySelectorAll('#chart polyline').length === 2);
  assert.equal(await page.locator('#chart polyline.c0').count(), 1);
  await page.screenshot({ path: new URL('dashboard-range.png', SHOTS).pathname, fullPage: true });

  // The CSV of the range shown: a header and every point of the last hour, oldest first.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
  const csv = readFileSync((await download.path()) as string, 'utf8')
    .trimEnd()
    .split('\r\n');
  assert.equal(csv[0], 'time,value');
  assert.equal(csv.length, 1 + 32, csv.join('\n'));
  assert.equal(csv.at(-1)?.split(',')[1], '77.25');
  assert.deepEqual(
    csv.slice(1, 4).map((l) => l.split(',')[1]),
    ['40', '41', '42'],
  );

  // A custom range that ends before the start is refused in words, next to the form.
  await page.fill('#range-from', '2026-01-02T10:00');
  await page.fill('#range-to', '2026-01-01T10:00');
  await page.click('#range-custom button[type=submit]');
  await waitText(page, '#range-error', 'The start must be before the end.');

  // A PSK device with a key given as text, on the spare resource: the page shows the libcoap
  // command line, which, run as shown, posts a reading over coaps:// that is stored.
  await page.click('#tree a:text-is("spare")');
  await waitText(page, '#r-title', 'spare');
  await page.fill('#coaps-port', String(port));
  await page.fill('#d-psk-identity', 'spare-1');
  await page.fill('#d-psk-text', 'too short');
  await page.click('#add-device button[type=submit]');
  await waitText(page, '#device-error', 'The key as text must be 16 to 64 characters.');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'd-psk-text');
  await page.fill('#d-psk-text', "spare's text key 1");
  await page.click('#add-device button[type=submit]');
  await waitText(page, '#secret-libcoap', 'coap-client-gnutls');
  const cmd = (await page.textContent('#secret-libcoap')) ?? '';
  assert.ok(cmd.includes(`coaps://127.0.0.1:${port}/users/${uid}/resources/`), cmd);
  if (requireBinary(t, 'coap-client-gnutls')) {
    const run = await execFileAsync('sh', ['-c', cmd.replace('coap-client-gnutls ', 'coap-client-gnutls -B 10 ')], {
      timeout: 20_000,
    });
    assert.match(run.stdout, /"stored":1/, `${cmd}\n${run.stdout}${run.stderr}`);
  }

  // Rotating that device's key: confirmed, the new key shown once, and it passes a full handshake.
  await page.click('#devices tr:has-text("spare-1") button:text-is("Rotate key…")');
  await page.click('#devices tr:has-text("spare-1") button:text-is("Rotate the key")');
  await waitText(page, '#secret-title', 'The new key of PSK device "spare-1"');
  const newKey = (await page.textContent('#secret-value')) ?? '';
  assert.match(newKey, /^[0-9a-f]{32}$/);
  const rotated = await connect({
    host: '127.0.0.1',
    port,
    retransmitInitialMs: 300,
    psk: { identity: 'spare-1', key: Buffer.from(newKey, 'hex') },
  });
  await rotated.close();

  // API tokens: create one (its secret shown once, and it works), a taken name is refused in
  // words, then revoke it (refused from then on).
  await page.click('#tokens-link');
  await waitText(page, '#tokens', 'API tokens');
  await page.fill('#token-name', 'backup script');
  await page.click('#token-create button[type=submit]');
  await waitText(page, '#token-secret', 'shown only this once');
  const secret = (await page.textContent('#token-value')) ?? '';
  assert.match(secret, /^sst_/);
  assert.equal((await call(base, 'GET', '/users/me', { token: secret })).status, 200);
  assert.match((await page.textContent('#tokens-table')) ?? '', /backup script/);
  await page.screenshot({ path: new URL('dashboard-tokens.png', SHOTS).pathname, fullPage: true });
  await page.fill('#token-name', 'backup script');
  await page.click('#token-create button[type=submit]');
  await waitText(page, '#tokens-error', 'You already have a token named "backup script"');
  await page.click('#tokens-table tr:has-text("backup script") button:text-is("Revoke")');
  await page.click('#tokens-table tr:has-text("backup script") button:has-text("now")');
  await waitText(page, '#tokens-status', 'Revoked "backup script"');
  assert.doesNotMatch((await page.textContent('#tokens-table')) ?? '', /backup script/);
  assert.equal((await call(base, 'GET', '/users/me', { token: secret })).status, 401);

  // A phone: the overview still fits.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click('header h1 a');
  await waitText(page, '#overview', 'Overview');
  await page.screenshot({ path: new URL('dashboard-phone.png', SHOTS).pathname, fullPage: true });

  assert.deepEqual(problems.pageErrors, []);
  assert.deepEqual(await problems.csp(), []);
  // The browser logs the refused sign-in (400) as a console error; nothing else may appear.
  // It logs the refused token name (409) likewise.
  const expected = (c: { url: string; text: string }) =>
    (c.url.endsWith('/login') && /status of 400/.test(c.text)) ||
    (c.url.endsWith(`/users/${uid}/tokens`) && /status of 409/.test(c.text));
  assert.deepEqual(
    problems.console.filter((c) => !expected(c)),
    [],
  );
  assert.equal(problems.console.length, 2, 'the refusals were seen, so the listener works');
});

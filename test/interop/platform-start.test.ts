/**
 * `npm start` end to end: the platform with its demo fleet (PSK, RPK and X.509 devices pushing
 * over coaps://, one device polled over coaps://) reports points from every device, and Ctrl-C
 * (SIGINT) stops it cleanly with exit status 0.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { launchFor } from '../support/peers.ts';

const BIN = new URL('../../bin/securesense.mjs', import.meta.url).pathname;

test('securesense start: every device of the demo fleet delivers points; SIGINT stops cleanly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ss-start-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const args = [
    '--data',
    dir,
    '--http-port',
    '0',
    '--coap-port',
    '0',
    '--coaps-port',
    '0',
    '--interval',
    '0.5',
    '--report',
    '1',
  ];
  const p = launchFor(t, process.execPath, [BIN, 'start', ...args], { timeoutMs: 50_000 });
  await p.waitFor(/token\s+sst_/, 30_000);
  const devices = ['demo-psk', 'demo-rpk', 'demo-x509', 'demo-polled'];
  // Wait until each device has a report line with a positive total.
  const delivered = (name: string) =>
    [...p.stdout().matchAll(new RegExp(`${name}\\s+\\w+\\s+\\+\\d+ points \\(total (\\d+)`, 'g'))].some(
      (m) => Number(m[1]) > 0,
    );
  const end = Date.now() + 20_000;
  while (!devices.every(delivered)) {
    if (Date.now() > end) assert.fail(`not every device delivered:\n${p.stdout()}\n${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.match(p.stdout(), /demo-x509\s+x509\s+\+\d+ points \(total \d+; \d+ pushes, 1 handshake\(s\)\)/);
  p.proc.kill('SIGINT');
  assert.equal(await p.exited, 0, p.stderr());
  assert.match(p.stdout(), /stopped\n$/);
});

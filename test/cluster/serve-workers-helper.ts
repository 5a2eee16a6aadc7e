/** `securesense serve --workers 2` on a fresh SQLite file, loopback, ephemeral ports: what the worker tests start. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { startCli } from '../support/cli.ts';

export async function serveTwoWorkers(t: TestContext, opts: { timeoutMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ss-workers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const srv = await startCli(
    t,
    [
      'serve',
      '--workers',
      '2',
      '--db',
      join(dir, 's.db'),
      '--host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--coap-port',
      '0',
      '--coaps-port',
      '0',
      '--no-poller',
      '--log-level',
      'warn',
    ],
    { ready: /"workers":2/, readyTimeoutMs: 40_000, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) },
  );
  const line = JSON.parse(
    srv
      .stdout()
      .split('\n')
      .find((l) => l.includes('"workers":2')) ?? '{}',
  );
  return {
    srv,
    base: line.http as string,
    coapPort: Number(new URL(line.coap as string).port),
    coapsPort: Number(new URL(line.coaps as string).port),
  };
}

/**
 * `securesense serve` as one of several hosts, without namespaces (no root needed): the config is
 * checked at start, `--workers` with `cidNode` is refused, an address it cannot take hand-overs on
 * stops it, and a running host counts hand-overs with a wrong tag as refused in `/metrics`,
 * labelled with its node. The hand-over between two hosts is test/cluster/hosts.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { encodeHandOver } from '../../src/dtls/cid-forward.ts';
import { CLI_BIN } from '../support/cli.ts';
import { launchFor } from '../support/peers.ts';
import { freeUdpPort, sleep } from '../support/ports.ts';

function hostEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SECURESENSE_')) env[k] = v;
  return { ...env, ...extra };
}

function tmp(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'ss-hosts-serve-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const TOKEN = randomBytes(16).toString('hex');

function serveSync(t: TestContext, args: string[], env: Record<string, string>) {
  return spawnSync(
    process.execPath,
    [CLI_BIN, 'serve', '--db', join(tmp(t), 's.db'), '--http-port', '0', '--coap-port', '0', ...args],
    { encoding: 'utf8', env: hostEnv(env), timeout: 30_000 },
  );
}

test('serve: --workers with coap.cidNode is refused (exit 2), as is a cidNode without a token', (t) => {
  const both = serveSync(t, ['--workers', '2', '--coaps-port', '0'], {
    SECURESENSE_COAPS_CID_NODE: '0',
    SECURESENSE_COAPS_HANDOVER_ADDRESS: '127.0.0.1:5690',
    SECURESENSE_COAPS_HANDOVER_TOKEN: TOKEN,
  });
  assert.equal(both.status, 2, both.stderr);
  assert.match(both.stderr, /--workers and coap\.cidNode .* cannot be used together/);
  const noToken = serveSync(t, ['--coaps-port', '0'], {
    SECURESENSE_COAPS_CID_NODE: '0',
    SECURESENSE_COAPS_HANDOVER_ADDRESS: '127.0.0.1:5690',
  });
  assert.equal(noToken.status, 2, noToken.stderr);
  assert.match(noToken.stderr, /coap\.handOverToken/);
});

test('serve: a hand-over address that is not this host stops it with the reason', (t) => {
  const r = serveSync(t, ['--coaps-port', '0'], {
    SECURESENSE_COAPS_CID_NODE: '0',
    // TEST-NET-1: never an address of this machine.
    SECURESENSE_COAPS_HANDOVER_ADDRESS: '192.0.2.1:5690',
    SECURESENSE_COAPS_HANDOVER_TOKEN: TOKEN,
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /cannot take hand-overs on 192\.0\.2\.1:5690/);
});

test('serve with cidNode 3: a hand-over with another token is refused and counted under node="3"', async (t) => {
  const port = await freeUdpPort();
  const srv = launchFor(
    t,
    process.execPath,
    [
      CLI_BIN,
      'serve',
      '--db',
      join(tmp(t), 's.db'),
      '--host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--coap-port',
      'off',
      '--coaps-port',
      '0',
      '--no-poller',
      '--log-level',
      'warn',
    ],
    {
      env: hostEnv({
        SECURESENSE_COAPS_CID_NODE: '3',
        SECURESENSE_COAPS_HANDOVER_PEERS: `3=127.0.0.1:${port},4=127.0.0.1:1`,
        SECURESENSE_COAPS_HANDOVER_TOKEN: TOKEN,
      }),
    },
  );
  const line = await srv.waitFor(/\{"event":"listening".*\}/, 20_000);
  const where = JSON.parse(line) as { http: string; cidNode?: number };
  assert.equal(where.cidNode, 3);
  const s = createSocket('udp4');
  t.after(() => s.close());
  const record = Buffer.from([25, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 3, 1, 2, 3, 4, 5, 6, 7]);
  const frame = encodeHandOver(randomBytes(16), { address: '198.51.100.7', port: 4000, family: 'IPv4' }, record);
  s.send(frame, port, '127.0.0.1');
  s.send(Buffer.from('not a frame'), port, '127.0.0.1');
  let body = '';
  for (let i = 0; i < 50 && !body.includes('event="refused"} 2'); i++) {
    await sleep(50);
    body = await (await fetch(`${where.http}/metrics`)).text();
  }
  assert.match(body, /securesense_cid_handovers_total\{node="3",event="refused"\} 2/);
  assert.match(body, /securesense_cid_handovers_total\{node="3",event="received"\} 0/);
});

/**
 * Several hosts: two `securesense serve` front ends, each in its own network namespace, over one
 * PostgreSQL, behind a kernel L4 balancer (nftables in a third namespace, direct server return by a
 * hash of the client's address and port; see netns.ts for the topology). A device (its own
 * namespace, driven through hosts-device.ts), in PSK, RPK and X.509 mode in turn, makes a session
 * with a Connection ID, then its source
 * address and port change until the balancer sends it to the other host: the session goes on
 * without a handshake (that host hands the records to the owner named in the CID, which answers),
 * and a resumption is done by the other host (sessions in the shared store). With a hand-over token
 * the hosts do not share, the moved session does not go on and the owner counts the refusal.
 *
 * Needs root, `ip` and `nft` (skipped otherwise, with the reason) and SECURESENSE_TEST_PG_URL.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dropPostgresSchema } from '../../src/platform/store/open.ts';
import { CLI_BIN } from '../support/cli.ts';
import { launch, type Peer } from '../support/peers.ts';
import { makeTempPki } from '../support/pki.ts';
import {
  buildHostsTopology,
  COAPS_PORT,
  HAND_OVER_PORT,
  HOST_ADDRESSES,
  type HostsTopology,
  netnsSkipReason,
  startPgRelay,
  VIP,
} from './netns.ts';

const PG_URL = process.env.SECURESENSE_TEST_PG_URL;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DEVICE = fileURLToPath(new URL('./hosts-device.ts', import.meta.url));
const MAX_MOVES = 16;
const MODES = ['psk', 'rpk', 'x509'] as const;
type Mode = (typeof MODES)[number];
const BASES = HOST_ADDRESSES.map((a) => `http://${a}:8080`);

/** The value of one series in a Prometheus text body (0 when absent). */
function series(body: string, name: string): number {
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

function skipReason(): string | undefined {
  const r = netnsSkipReason();
  if (r) return r;
  if (!PG_URL) {
    if (process.env.CI === 'true' || process.env.CI === '1') {
      throw new Error('SECURESENSE_TEST_PG_URL is not set under CI: the several-hosts test must run');
    }
    return 'SECURESENSE_TEST_PG_URL is not set (the hosts share one PostgreSQL)';
  }
  return undefined;
}

/** A device in the client namespace, driven one request at a time (hosts-device.ts). */
function deviceDriver(peer: Peer) {
  let seq = 0;
  return async function rpc<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = ++seq;
    peer.write(`${JSON.stringify({ id, op, ...args })}\n`);
    const line = await peer.waitFor(new RegExp(`^\\{"id":${id},.*$`, 'm'), 15_000);
    const r = JSON.parse(line) as { result?: T; error?: string };
    if (r.error !== undefined) throw new Error(`device ${op}: ${r.error}`);
    return r.result as T;
  };
}

test('two hosts behind an nftables balancer: a moved device goes on by CID and resumes on the other host (PSK, RPK, X.509); a wrong hand-over token stops it', {
  timeout: 60_000,
}, async (t: TestContext) => {
  const reason = skipReason();
  if (reason) {
    t.skip(reason);
    return;
  }
  const started = Date.now();
  const peers: Peer[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ss-hosts-'));
  const schema = `ss_hosts_${process.pid}_${Date.now().toString(36)}`;
  let topo: HostsTopology | undefined;
  let pgRelay: { close(): Promise<void> } | undefined;
  try {
    const pki = await makeTempPki(t);
    topo = buildHostsTopology();
    const pg = new URL(PG_URL as string);
    pgRelay = await startPgRelay(dir, { host: pg.hostname, port: Number(pg.port || 5432) });
    // The hosts reach PostgreSQL through the relay's Unix socket, in a schema of their own.
    const db = `postgres://${pg.pathname}?${new URLSearchParams({
      host: dir,
      user: decodeURIComponent(pg.username),
      password: decodeURIComponent(pg.password),
      options: `-c search_path=${schema}`,
    })}`;
    const token = randomBytes(16).toString('hex');
    const sessionKey = randomBytes(32).toString('hex');
    const baseEnv: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SECURESENSE_')) baseEnv[k] = v;

    const startHost = async (node: 0 | 1, handOverToken: string): Promise<Peer> => {
      const ns = (topo as HostsTopology).hosts[node];
      const p = launch(
        'ip',
        [
          'netns',
          'exec',
          ns,
          process.execPath,
          CLI_BIN,
          'serve',
          '--db',
          db,
          '--http-port',
          '8080',
          '--coap-port',
          'off',
          '--coaps-port',
          String(COAPS_PORT),
          '--no-poller',
          '--log-level',
          'warn',
          '--dtls-cert',
          pki.server.chain,
          '--dtls-key',
          pki.server.key,
          '--rpk-key',
          pki.rpkServer.key,
        ],
        {
          timeoutMs: 60_000,
          env: {
            ...baseEnv,
            SECURESENSE_HTTP_HOST: '0.0.0.0',
            // coaps:// on the VIP, so that answers leave from the address the balancer announces.
            SECURESENSE_COAP_HOST: VIP,
            SECURESENSE_SESSION_KEY: sessionKey,
            SECURESENSE_COAPS_CID_NODE: String(node),
            SECURESENSE_COAPS_HANDOVER_PEERS: HOST_ADDRESSES.map((a, i) => `${i}=${a}:${HAND_OVER_PORT}`).join(','),
            SECURESENSE_COAPS_HANDOVER_TOKEN: handOverToken,
          },
        },
      );
      peers.push(p);
      await p.waitFor('"event":"listening"', 20_000);
      return p;
    };
    // The device loads while the hosts start.
    const devicePeer = launch('ip', ['netns', 'exec', topo.client, process.execPath, '--import', 'tsx', DEVICE], {
      cwd: ROOT,
      timeoutMs: 60_000,
    });
    peers.push(devicePeer);
    // One after the other: the first one migrates the schema. The devices are bound through host 0
    // before host 1 starts, as host 1 reads the X.509 anchors (bound CAs) at its start and then only
    // every 30 s (docs/deployment.md, Limits).
    await startHost(0, token);
    await devicePeer.waitFor('"event":"ready"', 15_000);
    const rpc = deviceDriver(devicePeer);
    const metrics = (host: number) => rpc<string>('metrics', { base: BASES[host] });
    const handOvers = async (host: number, event: string) =>
      series(await metrics(host), `securesense_cid_handovers_total{node="${host}",event="${event}"}`);
    const handshakes = async (mode: Mode, result: 'full' | 'resumed') =>
      series(await metrics(0), `securesense_dtls_handshakes_total{mode="${mode}",result="${result}"}`) +
      series(await metrics(1), `securesense_dtls_handshakes_total{mode="${mode}",result="${result}"}`);
    await rpc('setup', {
      base: BASES[0],
      pki: {
        rpkClientKey: pki.rpkClient.key,
        rpkClientSpki: pki.rpkClient.spki,
        rpkServerSpki: pki.rpkServer.spki,
        deviceKey: pki.device.key,
        deviceChain: pki.device.chain,
        rootCert: pki.root.cert,
      },
    });
    const host1 = await startHost(1, token);
    const timings: string[] = [`ready ${Date.now() - started} ms`];
    let mark = Date.now();
    const lap = (what: string) => {
      timings.push(`${what} ${Date.now() - mark} ms`);
      mark = Date.now();
    };

    const moves: string[] = [];
    for (const mode of MODES) {
      // 1. A session with a CID naming its host; moves until the balancer sends the device elsewhere.
      const first = await rpc<{ node: number }>('connect', { mode });
      const owner = first.node;
      assert.ok(owner === 0 || owner === 1, `${mode}: the CID's first byte names a host: ${owner}`);
      const other = 1 - owner;
      assert.equal(await rpc('ping'), 69, `${mode}: 2.05 Content`);
      const sentBefore = await handOvers(other, 'sent');
      const receivedBefore = await handOvers(owner, 'received');
      const updatesBefore = await handOvers(owner, 'address_updates');
      let n = 0;
      while ((await handOvers(other, 'sent')) === sentBefore && n < MAX_MOVES) {
        n++;
        await rpc('move');
        assert.equal(await rpc('ping'), 69, `${mode}: an answer after move ${n}`);
      }
      moves.push(`${mode} ${n}`);
      assert.ok(
        (await handOvers(other, 'sent')) > sentBefore,
        `${mode}: the balancer never sent the device to the other host in ${MAX_MOVES} moves\n${topo.ruleset()}`,
      );
      assert.equal(await rpc('ping'), 69, `${mode}: the session goes on from the other host`);
      assert.ok(
        (await handOvers(owner, 'received')) > receivedBefore,
        `${mode}: the owner took the records handed over`,
      );
      assert.ok(
        (await handOvers(owner, 'address_updates')) > updatesBefore,
        `${mode}: the owner moved the session to the new address`,
      );
      assert.equal(await handshakes(mode, 'full'), 1, `${mode}: no second handshake on either host`);

      // 2. New flows resuming the session until the other host does it (through the shared store).
      let resumedOn = owner;
      for (let i = 0; i < MAX_MOVES && resumedOn === owner; i++) {
        const r = await rpc<{ resumed: boolean; node: number; code: number | null }>('resume');
        assert.ok(r.resumed, `${mode}: an abbreviated handshake`);
        assert.equal(r.code, 69, `${mode}: a CoAP answer on the resumed session`);
        resumedOn = r.node;
      }
      assert.equal(resumedOn, other, `${mode}: no resumption landed on the other host in ${MAX_MOVES} tries`);
      assert.equal(await handshakes(mode, 'full'), 1, `${mode}: resumptions only`);
      lap(mode);
    }

    // 3. Host 1 again, with a hand-over token of its own: a moved session no longer goes on.
    await host1.kill();
    await startHost(1, randomBytes(16).toString('hex'));
    lap('restart');
    const second = await rpc<{ node: number }>('connect', { mode: 'psk' });
    assert.equal(await rpc('ping'), 69);
    const notOwner = 1 - second.node;
    const sentBefore = await handOvers(notOwner, 'sent');
    const refusedBefore = await handOvers(second.node, 'refused');
    let lost = false;
    let movesAfter = 0;
    for (let i = 0; i < MAX_MOVES && !lost; i++) {
      movesAfter++;
      await rpc('move');
      const code = await rpc<number | null>('ping', { attempts: 4 });
      lost = (await handOvers(notOwner, 'sent')) > sentBefore;
      assert.equal(code, lost ? null : 69, lost ? 'no answer once handed over with a wrong tag' : 'still on its host');
    }
    assert.ok(lost, `the balancer never sent the device to the other host in ${MAX_MOVES} moves`);
    assert.ok((await handOvers(second.node, 'refused')) > refusedBefore, 'the owner counted the refused hand-overs');
    lap('wrong token');
    t.diagnostic(
      `moves to change host: ${moves.join(', ')}, then psk ${movesAfter} with a wrong token; ${timings.join(', ')}; whole test ${Date.now() - started} ms`,
    );
  } finally {
    await Promise.all(peers.map((p) => p.kill()));
    await pgRelay?.close();
    topo?.destroy();
    rmSync(dir, { recursive: true, force: true });
    if (PG_URL) await dropPostgresSchema(PG_URL, schema).catch(() => {});
  }
});

/**
 * Several hosts on one machine, for test/cluster/hosts.test.ts: Linux network namespaces joined by
 * veth pairs, and a kernel L4 balancer (nftables) in front, set up and torn down per test run.
 * Nothing is changed in the root namespace: every link, address, route, rule and nft table is made
 * inside a namespace of this run (names unique per run) and goes away when the namespace is deleted.
 *
 *   client (10.77.0.2 and .3) ── lb (10.77.0.1 | 10.77.1.1 | 10.77.2.1) ─┬─ host0 (10.77.1.2)
 *                                                                         └─ host1 (10.77.2.2)
 *
 * The service address (VIP) 10.77.9.1 is on both hosts' loopback. The balancer is direct server
 * return, as IPVS's "DR" mode: in lb, an nft rule marks each datagram to VIP:5684 with
 * `jhash ip saddr . udp sport mod 2` (1 or 2), and one routing table per mark sends it on to host0
 * or host1 unchanged; a host answers from the VIP straight to the client (lb only routes the reply).
 * No connection tracking decides anything, so a host can answer a client whose datagrams the
 * balancer sends to the other (which is what a CID hand-over needs). The hosts reach each other
 * (hand-overs, 5690/udp) through lb, and the client reaches their HTTP ports the same way.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { hasBinary } from '../support/peers.ts';

export const VIP = '10.77.9.1';
export const CLIENT_ADDRESSES = ['10.77.0.2', '10.77.0.3'] as const;
export const HOST_ADDRESSES = ['10.77.1.2', '10.77.2.2'] as const;
export const COAPS_PORT = 5684;
export const HAND_OVER_PORT = 5690;

export interface HostsTopology {
  client: string;
  balancer: string;
  hosts: [string, string];
  /** The nft ruleset of the balancer's namespace (for a failure message). */
  ruleset(): string;
  /** Deletes every namespace of this run (their links, routes and rules go with them). */
  destroy(): void;
}

/** Why the topology cannot be built here, or undefined when it can. */
export function netnsSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const bin of ['ip', 'nft'])
    if (!hasBinary(bin)) return `${bin} is not installed (apt-get install iproute2 nftables)`;
  const probe = `ssprobe${process.pid}`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `cannot create a network namespace: ${r.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function inNs(ns: string, cmd: string, args: string[], input?: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], {
    encoding: 'utf8',
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** The balancer's nft table: DSR by a hash of the client's address and port. */
export function balancerRuleset(): string {
  return `table ip securesense_lb {
  chain prerouting {
    type filter hook prerouting priority mangle; policy accept;
    ip daddr ${VIP} udp dport ${COAPS_PORT} meta mark set jhash ip saddr . udp sport mod 2 seed 0x5eed offset 1
  }
}
`;
}

/** Builds the topology above; on any failure what was made is deleted before the error is thrown. */
export function buildHostsTopology(): HostsTopology {
  const run = `ss${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  const client = `${run}-client`;
  const balancer = `${run}-lb`;
  const hosts: [string, string] = [`${run}-host0`, `${run}-host1`];
  const made: string[] = [];
  const destroy = () => {
    for (const ns of made.splice(0)) spawnSync('ip', ['netns', 'del', ns]);
  };
  try {
    for (const ns of [client, balancer, ...hosts]) {
      ip('netns', 'add', ns);
      made.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    // The links are made inside lb with their peer end created in the other namespace: the root
    // namespace never holds one, even for a moment.
    ip('-n', balancer, 'link', 'add', 'client', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client);
    ip('-n', client, 'link', 'set', 'eth0', 'up');
    for (const a of CLIENT_ADDRESSES) ip('-n', client, 'addr', 'add', `${a}/24`, 'dev', 'eth0');
    ip('-n', client, 'route', 'add', 'default', 'via', '10.77.0.1');
    ip('-n', balancer, 'addr', 'add', '10.77.0.1/24', 'dev', 'client');
    ip('-n', balancer, 'link', 'set', 'client', 'up');
    const sysctl = ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'];
    hosts.forEach((ns, i) => {
      const dev = `host${i}`;
      ip('-n', balancer, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('-n', balancer, 'addr', 'add', `10.77.${i + 1}.1/24`, 'dev', dev);
      ip('-n', balancer, 'link', 'set', dev, 'up');
      ip('-n', ns, 'addr', 'add', `${HOST_ADDRESSES[i]}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      ip('-n', ns, 'route', 'add', 'default', 'via', `10.77.${i + 1}.1`);
      ip('-n', ns, 'addr', 'add', `${VIP}/32`, 'dev', 'lo');
      // Mark i+1 → host i.
      ip('-n', balancer, 'rule', 'add', 'fwmark', String(i + 1), 'table', String(101 + i));
      ip('-n', balancer, 'route', 'add', 'default', 'via', HOST_ADDRESSES[i], 'table', String(101 + i));
      sysctl.push(`net.ipv4.conf.${dev}.rp_filter=0`);
    });
    // lb routes; replies from the VIP come from a host, which strict reverse-path filtering would drop.
    inNs(balancer, 'sysctl', ['-qw', ...sysctl]);
    inNs(balancer, 'nft', ['-f', '-'], balancerRuleset());
  } catch (err) {
    destroy();
    throw err;
  }
  return {
    client,
    balancer,
    hosts,
    ruleset: () => inNs(balancer, 'nft', ['list', 'ruleset']),
    destroy,
  };
}

/**
 * A Unix socket `DIR/.s.PGSQL.5432` that relays to PostgreSQL's TCP port: a path in the file system
 * is reachable from every network namespace, so the hosts use `postgres:///DB?host=DIR` whatever
 * the server's own Unix socket accepts (often peer authentication only).
 */
export async function startPgRelay(
  dir: string,
  target: { host: string; port: number },
): Promise<{ close(): Promise<void> }> {
  const path = join(dir, '.s.PGSQL.5432');
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = createConnection(target);
    sockets.add(inbound);
    sockets.add(outbound);
    const end = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', end).on('close', end);
    outbound.on('error', end).on('close', end);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          rmSync(path, { force: true });
          resolve();
        });
      }),
  };
}

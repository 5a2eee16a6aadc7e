/**
 * The Connection ID hand-overs of a host among several (`coap.cidNode`, docs/deployment.md "Several
 * hosts"), labelled with its node number so that the series of all hosts, scraped apart and put
 * side by side, stay apart. Worker processes of one host have their own series (metrics.ts
 * `watchWorker`); this is the same counts for hosts.
 */
import { Counter, type Registry } from 'prom-client';
import type { HandOverStats } from '../dtls/cid-forward.ts';
import type { DtlsServer } from '../dtls/index.ts';

/** Registers `securesense_cid_handovers_total{node,event}` on `registry`, read from `stats` at each scrape. */
export function watchHandOvers(registry: Registry, node: number, stats: HandOverStats, server?: DtlsServer): void {
  const label = String(node);
  new Counter({
    name: 'securesense_cid_handovers_total',
    help: "Connection ID records between hosts, by this host's node number and event: sent (handed to the host owning the CID), received (taken from another host), refused (a hand-over with a wrong tag, i.e. another token, or malformed), no_route (a CID of a node with no known address), address_updates (a session moved to a new client address)",
    labelNames: ['node', 'event'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ node: label, event: 'sent' }, stats.forwarded);
      this.inc({ node: label, event: 'received' }, stats.received);
      this.inc({ node: label, event: 'refused' }, stats.refused);
      this.inc({ node: label, event: 'no_route' }, stats.noRoute);
      if (server) this.inc({ node: label, event: 'address_updates' }, server.stats.connectionIds.addressUpdates);
    },
  });
}

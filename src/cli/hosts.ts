/**
 * `securesense serve` as one of several hosts behind an L4 balancer (docs/deployment.md "Several
 * hosts"): its CIDs start with `coap.cidNode`, and a CID record that the balancer sent here after a
 * device's address changed is handed, over the hosts' internal network, to the host that owns it
 * (cid-forward.ts); records handed here by the others are processed as if received here.
 */
import { CidForwarder } from '../dtls/cid-forward.ts';
import type { SecureSenseConfig } from '../platform/config.ts';
import { watchHandOvers } from '../platform/handover-metrics.ts';
import type { Platform } from '../platform/index.ts';

/** This host's hand-over socket with its peers' routes, or undefined for a single host (no `cidNode`). */
export async function openHostForwarder(coap: SecureSenseConfig['coap']): Promise<CidForwarder | undefined> {
  const node = coap.cidNode;
  if (node === null || coap.handOverToken === null) return undefined;
  // loadConfig made sure one of the two is set.
  const own = coap.handOverAddress ?? coap.handOverPeers[node];
  let fwd: CidForwarder;
  try {
    fwd = await CidForwarder.open({
      node,
      token: Buffer.from(coap.handOverToken, 'hex'),
      host: own.address,
      port: own.port,
    });
  } catch (err) {
    throw new Error(`cannot take hand-overs on ${own.address}:${own.port}: ${(err as Error).message}`);
  }
  fwd.setRoutes(Object.entries(coap.handOverPeers).map(([n, a]) => [Number(n), a]));
  return fwd;
}

/** Feeds the records other hosts hand over to the coaps:// server, and counts them in `/metrics`. */
export function connectHostForwarder(platform: Platform, fwd: CidForwarder): void {
  const coaps = platform.coap?.coaps?.transport.server;
  if (!coaps) return;
  fwd.receive((d, from) => coaps.receiveHandedOver(d, from));
  watchHandOvers(platform.metrics.registry, fwd.node, fwd.stats, coaps);
}

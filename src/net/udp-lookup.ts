/**
 * A `lookup` for node:dgram sockets. dgram resolves every destination through `dns.lookup`, which
 * even for an IP literal costs a regular expression and a `process.nextTick` per datagram (the
 * send itself then happens in that tick). A server answers the literal address a datagram came
 * from, so literals are returned at once (as `dns.lookup` would return them, only without the
 * tick) and names still go to the resolver.
 */
import type { SocketOptions } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';

export const literalFirstLookup: SocketOptions['lookup'] = (hostname, options, callback) => {
  const family = isIP(hostname);
  if (family !== 0) callback(null, hostname, family);
  else dnsLookup(hostname, options, callback);
};

import type { DtlsServer } from '../dtls/index.ts';

/** Stats entries that are levels, not counts: the sessions and handshakes gauges read them from `counts()`. */
const DTLS_LEVELS = new Set(['sessions', 'handshakes']);

/**
 * The DTLS endpoint's counters — evictions, refusals and drops by reason, HelloVerifyRequests —
 * when the server offers them as a `stats` object, flattened to dotted names
 * (`evictions.sessionCapacity`, `drops.malformed`, `helloVerifyRequests`); undefined when it does
 * not. Read by shape, not by type, so that it follows the DTLS engine's counters as they grow.
 */
export function dtlsStats(server: DtlsServer): Record<string, number> | undefined {
  const s = (server as unknown as { stats?: unknown }).stats;
  if (typeof s !== 'object' || s === null) return undefined;
  const out: Record<string, number> = {};
  const walk = (o: object, prefix: string, depth: number) => {
    for (const [k, v] of Object.entries(o)) {
      const name = prefix ? `${prefix}.${k}` : k;
      if (typeof v === 'number' && Number.isFinite(v) && v >= 0) {
        if (!(prefix === '' && DTLS_LEVELS.has(k))) out[name] = v;
      } else if (typeof v === 'object' && v !== null && depth < 2) walk(v, name, depth + 1);
    }
  };
  walk(s, '', 0);
  return out;
}

/**
 * The store as the metrics see it: every method timed, points counted once their transaction
 * commits (a transaction's store is wrapped too; its points count when the outermost one commits),
 * poll outcomes counted. A Proxy, so the service, the poller and the DTLS session cache are
 * measured without knowing it.
 */
import type { PollErrorKind } from './poller/errors.ts';
import type { Store } from './store/index.ts';

/** Where the wrapped store reports to (PlatformMetrics' histograms and counters). */
export interface StoreMeter {
  timed<T>(op: string, fn: () => Promise<T>): Promise<T>;
  pointsStored(n: number): void;
  polled(result: string): void;
}

export function meteredStore(store: Store, meter: StoreMeter): Store {
  return wrap(store, meter, undefined);
}

function wrap(store: Store, m: StoreMeter, tx: { points: number } | undefined): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      if (prop === 'transaction') {
        return async <T>(fn: (t: Store) => Promise<T>): Promise<T> => {
          if (tx) return target.transaction((t) => fn(wrap(t, m, tx)));
          const mine = { points: 0 };
          const out = await m.timed('transaction', () => target.transaction((t) => fn(wrap(t, m, mine))));
          if (mine.points > 0) m.pointsStored(mine.points);
          return out;
        };
      }
      return (...args: unknown[]) => {
        const r: unknown = v.apply(target, args);
        if (!(r instanceof Promise)) return r;
        return m
          .timed(prop, () => r)
          .then((out: unknown) => {
            if (prop === 'insertPoints') {
              const n = (args[0] as unknown[]).length;
              if (tx) tx.points += n;
              else m.pointsStored(n);
            } else if (prop === 'addPollLog') {
              const e = args[0] as { ok: boolean; status: string };
              m.polled(e.ok ? 'ok' : pollResult(e.status));
            }
            return out;
          });
      };
    },
  });
}

/** The failure kinds a poll log entry names (model.ts `PollLogEntry.status`); anything else is "other". */
const POLL_FAILURES = new Set<string>([
  'timeout',
  'network',
  'handshake',
  'http',
  'coap',
  'too-large',
  'credentials',
  'scheme',
  'forbidden',
  'parse',
] satisfies Array<PollErrorKind | 'parse'>);

function pollResult(status: string): string {
  return POLL_FAILURES.has(status) ? status : 'other';
}

/**
 * Counts, inside a benchmark's server process, the operations that cost a DTLS handshake more than
 * its arithmetic: native crypto objects created, UDP sends (one syscall each), promises, timers and
 * `nextTick` callbacks. `node:crypto` and `dgram` are wrapped in place and the ES module bindings
 * synchronised (`syncBuiltinESMExports`), so that code which imported the functions by name is
 * counted too. For benchmarks only: the wrappers and the async hook slow the process down.
 */
import { createHook } from 'node:async_hooks';
import { createRequire, syncBuiltinESMExports } from 'node:module';

const require = createRequire(import.meta.url);

/** The `node:crypto` functions that create a native object or run a public-key operation. */
const CRYPTO = [
  'createHmac',
  'createHash',
  'createCipheriv',
  'createDecipheriv',
  'createSecretKey',
  'createPublicKey',
  'createPrivateKey',
  'createECDH',
  'generateKeyPairSync',
  'diffieHellman',
  'sign',
  'verify',
  'randomBytes',
  'randomFillSync',
] as const;

/** async_hooks resource types worth counting, under the names the report uses. */
const ASYNC: Record<string, string> = {
  PROMISE: 'promise',
  Timeout: 'timer',
  TickObject: 'nextTick',
  Immediate: 'setImmediate',
};

export type OpCounts = Record<string, number>;

/** Installs the counters; returns a function that reads and resets them. */
export function installOpCounters(): () => OpCounts {
  let counts: OpCounts = {};
  const bump = (name: string) => {
    counts[name] = (counts[name] ?? 0) + 1;
  };
  const crypto = require('node:crypto') as Record<string, unknown>;
  for (const name of CRYPTO) {
    const f = crypto[name] as (...args: unknown[]) => unknown;
    crypto[name] = function counted(this: unknown, ...args: unknown[]) {
      bump(name);
      return f.apply(this, args);
    };
  }
  const dgram = require('node:dgram') as { Socket: { prototype: { send: (...args: unknown[]) => unknown } } };
  const send = dgram.Socket.prototype.send;
  dgram.Socket.prototype.send = function counted(this: unknown, ...args: unknown[]) {
    bump('socket.send');
    return send.apply(this, args);
  };
  syncBuiltinESMExports();
  createHook({
    init(_id, type) {
      const name = ASYNC[type];
      if (name) bump(name);
    },
  }).enable();
  return () => {
    const out = counts;
    counts = {};
    return out;
  };
}

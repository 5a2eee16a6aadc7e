/**
 * Counts, inside a benchmark's server process, the operations that cost a DTLS handshake more than
 * its arithmetic: native crypto objects created, UDP sends (one syscall each), promises, timers and
 * `nextTick` callbacks, and Buffers made through `Buffer`'s own functions (`buffer.new`: alloc,
 * allocUnsafe, allocUnsafeSlow, from, concat; `buffer.view`: subarray, slice) — Buffers that Node's
 * C++ makes (a datagram received, a cipher's output) are not among them. With `sites` each Buffer
 * is also counted under the first frame of our code that asked for it (`buffer.new@file:line`). `node:crypto` and `dgram` are wrapped in place and the ES module bindings
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

const BUFFER_NEW = ['alloc', 'allocUnsafe', 'allocUnsafeSlow', 'from', 'concat'] as const;
const BUFFER_VIEW = ['subarray', 'slice'] as const;

/** `file:line` of the first stack frame outside node's internals and this file. */
function site(): string {
  const holder: { stack?: string } = {};
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 8;
  Error.captureStackTrace(holder, site);
  Error.stackTraceLimit = limit;
  for (const line of (holder.stack ?? '').split('\n').slice(1)) {
    if (line.includes('node:') || line.includes('op-counts')) continue;
    const m = /([^/\s(]+\/[^/\s(]+):(\d+):\d+\)?$/.exec(line);
    if (m) return `${m[1]}:${m[2]}`;
  }
  return '?';
}

/** Installs the counters (`sites`: Buffers also by call site); returns a function that reads and resets them. */
export function installOpCounters(sites = false): () => OpCounts {
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
  const countBuffer = (kind: string) => {
    bump(kind);
    if (sites) bump(`${kind}@${site()}`);
  };
  const B = Buffer as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of BUFFER_NEW) {
    const f = B[name];
    B[name] = function counted(this: unknown, ...args: unknown[]) {
      countBuffer('buffer.new');
      return f.apply(this, args);
    };
  }
  const proto = Buffer.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of BUFFER_VIEW) {
    const f = proto[name];
    proto[name] = function counted(this: unknown, ...args: unknown[]) {
      countBuffer('buffer.view');
      return f.apply(this, args);
    };
  }
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

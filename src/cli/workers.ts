/**
 * `--workers N`: one primary process and N worker processes that share the server's ports
 * (SO_REUSEPORT: the kernel spreads the flows among the workers by a hash of the addresses).
 *
 * The primary forks the same command with the same arguments; a worker knows it is one from
 * SECURESENSE_WORKER ("node/count/token": its number, how many there are, the hand-over token).
 * Worker 0 binds first (a requested port 0 becomes a real one), the others bind the ports it
 * reported (SECURESENSE_WORKER_PORTS). Then the primary tells every worker where the others take
 * Connection ID hand-overs (cid-forward.ts). Over the IPC channel the primary also keeps the DTLS
 * sessions for resumption (so that a session is resumable on any worker; the platform uses its
 * store instead) and gathers the workers' metrics for `/metrics`.
 *
 * The primary only starts, supervises, stops and relays: it binds no port. A worker that dies is
 * reported on stderr and restarted with backoff (supervisor.ts; `securesense_worker_restarts_total`);
 * SIGINT/SIGTERM stop them all.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { SessionCache } from '../dtls/cache.ts';
import { HAND_OVER_TOKEN_LENGTH, type NodeAddress } from '../dtls/cid-forward.ts';
import type { SessionState } from '../dtls/handshake/types.ts';
import { decodeSessionState, encodeSessionState } from '../platform/dtls-sessions.ts';
import { WorkerRestartMetrics } from '../platform/worker-metrics.ts';
import { type BackoffOptions, RestartBackoff } from './supervisor.ts';

const WORKER_ENV = 'SECURESENSE_WORKER';
const PORTS_ENV = 'SECURESENSE_WORKER_PORTS';
/** Sessions the primary keeps for resumption; past it the oldest is forgotten. */
export const MAX_SHARED_SESSIONS = 100_000;
/** A worker's cache look-up that the primary does not answer within this is a miss. */
const CACHE_TIMEOUT_MS = 1000;

export interface WorkerInfo {
  node: number;
  count: number;
  token: Buffer;
  /** Ports worker 0 bound, by name (absent in worker 0). */
  ports: Record<string, number> | undefined;
}

/** This process's part when it is a worker, or undefined. */
export function workerInfo(): WorkerInfo | undefined {
  const v = process.env[WORKER_ENV];
  if (!v || !process.send) return undefined;
  const [node, count, token] = v.split('/');
  const ports = process.env[PORTS_ENV];
  return {
    node: Number(node),
    count: Number(count),
    token: Buffer.from(token, 'hex'),
    ports: ports ? (JSON.parse(ports) as Record<string, number>) : undefined,
  };
}

/** Checks `--workers N` (1..64). */
export function checkWorkerCount(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new RangeError(`--workers must be 1..64, got ${n}`);
  return n;
}

// --- messages over the IPC channel --------------------------------------------------------------

type ToPrimary =
  | { t: 'ready'; ports: Record<string, number>; handOver: NodeAddress }
  | { t: 'cache'; id: number; op: 'get' | 'set' | 'delete'; key: string; value?: string }
  | { t: 'metrics-request'; id: number }
  | { t: 'metrics'; id: number; metrics: unknown };

type ToWorker =
  | { t: 'routes'; routes: [number, NodeAddress][] }
  | { t: 'cache'; id: number; value?: string }
  | { t: 'metrics-request'; id: number }
  | { t: 'metrics'; id: number; all: unknown[] };

// --- worker side ---------------------------------------------------------------------------------

let nextId = 1;
const pending = new Map<number, (m: ToWorker) => void>();
let metricsSource: (() => Promise<unknown>) | undefined;
let routesHandler: ((routes: [number, NodeAddress][]) => void) | undefined;
let listening = false;

function listenToPrimary(): void {
  if (listening) return;
  listening = true;
  process.on('message', (m: ToWorker) => {
    if (m.t === 'routes') routesHandler?.(m.routes);
    else if (m.t === 'metrics-request') {
      const reply = (metrics: unknown) => process.send?.({ t: 'metrics', id: m.id, metrics } satisfies ToPrimary);
      if (metricsSource) metricsSource().then(reply, () => reply([]));
      else reply([]);
    } else {
      const done = pending.get(m.id);
      pending.delete(m.id);
      done?.(m);
    }
  });
  // The IPC channel must not keep a worker alive on its own.
  process.channel?.unref();
}

function ask(msg: ToPrimary & { id: number }, timeoutMs: number): Promise<ToWorker | undefined> {
  listenToPrimary();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      pending.delete(msg.id);
      resolve(undefined);
    }, timeoutMs);
    pending.set(msg.id, (m) => {
      clearTimeout(timer);
      resolve(m);
    });
    process.send?.(msg);
  });
}

/** Tells the primary this worker listens (its ports, its hand-over address); `onRoutes` gets the others'. */
export function workerReady(
  ports: Record<string, number>,
  handOver: NodeAddress,
  onRoutes: (routes: [number, NodeAddress][]) => void,
): void {
  routesHandler = onRoutes;
  listenToPrimary();
  // A primary that is gone (killed) takes its workers with it: they stop as on SIGTERM.
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  process.send?.({ t: 'ready', ports, handOver } satisfies ToPrimary);
}

/** The DTLS session cache kept by the primary, shared by all workers. */
export class PrimarySessionCache implements SessionCache {
  async get(id: Buffer): Promise<SessionState | undefined> {
    const m = await ask({ t: 'cache', id: nextId++, op: 'get', key: id.toString('hex') }, CACHE_TIMEOUT_MS);
    if (m?.t !== 'cache' || m.value === undefined) return undefined;
    try {
      return decodeSessionState(id, Buffer.from(m.value, 'base64'));
    } catch {
      return undefined;
    }
  }

  set(s: SessionState): void {
    const value = encodeSessionState(s).toString('base64');
    process.send?.({ t: 'cache', id: 0, op: 'set', key: s.id.toString('hex'), value } satisfies ToPrimary);
  }

  delete(id: Buffer): void {
    process.send?.({ t: 'cache', id: 0, op: 'delete', key: id.toString('hex') } satisfies ToPrimary);
  }
}

/** Makes `source` (a registry's metrics as JSON) what this worker gives the primary for `/metrics`. */
export function shareMetrics(source: () => Promise<unknown>): void {
  metricsSource = source;
  listenToPrimary();
}

/** Every worker's metrics (as {@link shareMetrics} gives them), gathered by the primary; [] on time-out. */
export async function allWorkersMetrics(timeoutMs = 3000): Promise<unknown[]> {
  const m = await ask({ t: 'metrics-request', id: nextId++ }, timeoutMs);
  return m?.t === 'metrics' ? m.all : [];
}

// --- primary side --------------------------------------------------------------------------------

export interface PrimaryOptions {
  count: number;
  /** The command's arguments, passed to every worker as they are. */
  args: string[];
  /** Called once every worker listens, with the ports worker 0 bound. */
  onListening(ports: Record<string, number>): void;
  /** Where the primary says what happens to its workers (stderr). */
  warn(message: string): void;
  /** The delays between a worker's death and its restart (supervisor.ts; tests shorten them). */
  backoff?: BackoffOptions;
  /** Sessions the shared cache keeps (`--session-cache`; default {@link MAX_SHARED_SESSIONS}), oldest dropped first. */
  sharedSessions?: number;
}

/**
 * Runs the workers until SIGINT/SIGTERM, which stop them all; resolves with the exit code. A
 * worker that dies once all listen is started again with the same number on the same ports after
 * a backoff (supervisor.ts), and the others learn its new hand-over address; meanwhile the kernel
 * gives its flows to the workers still bound. A worker that dies before all listen fails the start
 * (a port in use, a bad config: restarting would not help).
 */
export async function runPrimary(opts: PrimaryOptions): Promise<number> {
  const token = randomBytes(HAND_OVER_TOKEN_LENGTH);
  const sessions = new Map<string, string>();
  const children: ChildProcess[] = [];
  const handOvers = new Map<number, NodeAddress>();
  const backoffs = Array.from({ length: opts.count }, () => new RestartBackoff(opts.backoff));
  const restartTimers = new Set<NodeJS.Timeout>();
  const restarts = new WorkerRestartMetrics(opts.count);
  let running = false;
  let stopping = false;
  let ports: Record<string, number> | undefined;
  const metricsWaits = new Map<number, { got: unknown[]; left: number; done: () => void }>();

  const stopSignal = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });

  const sendRoutes = () => {
    const routes = [...handOvers.entries()].sort((a, b) => a[0] - b[0]);
    for (const c of children) if (c?.connected) c.send({ t: 'routes', routes } satisfies ToWorker);
  };

  const onMessage = (child: ChildProcess, m: ToPrimary): void => {
    if (m.t === 'cache') {
      if (m.op === 'set' && m.value !== undefined) {
        sessions.delete(m.key);
        sessions.set(m.key, m.value);
        if (sessions.size > (opts.sharedSessions ?? MAX_SHARED_SESSIONS))
          sessions.delete(sessions.keys().next().value as string);
      } else if (m.op === 'delete') sessions.delete(m.key);
      else child.send({ t: 'cache', id: m.id, value: sessions.get(m.key) } satisfies ToWorker);
    } else if (m.t === 'metrics-request') {
      const live = children.filter((c) => c?.connected);
      const key = m.id * 1000 + children.indexOf(child);
      const wait = { got: [] as unknown[], left: live.length, done: () => {} };
      wait.done = () => {
        metricsWaits.delete(key);
        restarts.json().then(
          (own) =>
            child.connected && child.send({ t: 'metrics', id: m.id, all: [...wait.got, own] } satisfies ToWorker),
          () => child.connected && child.send({ t: 'metrics', id: m.id, all: wait.got } satisfies ToWorker),
        );
      };
      metricsWaits.set(key, wait);
      setTimeout(() => metricsWaits.get(key) === wait && wait.done(), 2000).unref();
      for (const c of live) c.send({ t: 'metrics-request', id: key } satisfies ToWorker);
    } else if (m.t === 'metrics') {
      const wait = metricsWaits.get(m.id);
      if (!wait) return;
      wait.got.push(m.metrics);
      if (--wait.left === 0) wait.done();
    }
  };

  const start = (node: number) =>
    new Promise<{ ports: Record<string, number>; handOver: NodeAddress }>((resolve, reject) => {
      const child = fork(process.argv[1], opts.args, {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        env: {
          ...process.env,
          [WORKER_ENV]: `${node}/${opts.count}/${token.toString('hex')}`,
          ...(ports ? { [PORTS_ENV]: JSON.stringify(ports) } : {}),
        },
      });
      children[node] = child;
      backoffs[node].started(Date.now());
      child.on('message', (m: ToPrimary) => {
        if (m.t === 'ready') {
          handOvers.set(node, m.handOver);
          resolve({ ports: m.ports, handOver: m.handOver });
        } else onMessage(child, m);
      });
      child.once('exit', (code, signal) => {
        const how = signal ?? `code ${code}`;
        reject(new Error(`worker ${node} exited (${how}) before it listened`));
        if (stopping || !running) return;
        const delay = backoffs[node].died(Date.now());
        opts.warn(`worker ${node} (pid ${child.pid}) exited (${how}); restarting it in ${delay} ms`);
        const timer = setTimeout(() => {
          restartTimers.delete(timer);
          if (stopping) return;
          restarts.restarted(node);
          start(node).then(
            () => {
              opts.warn(`worker ${node} restarted (pid ${children[node].pid})`);
              sendRoutes();
            },
            () => {}, // its exit handler schedules the next attempt
          );
        }, delay);
        restartTimers.add(timer);
      });
    });

  let code = 0;
  try {
    const first = await start(0);
    ports = first.ports;
    await Promise.all(Array.from({ length: opts.count - 1 }, (_, i) => start(i + 1)));
    running = true;
    sendRoutes();
    opts.onListening(first.ports);
    await stopSignal;
  } catch (err) {
    opts.warn((err as Error).message);
    code = 1;
  }
  stopping = true;
  for (const timer of restartTimers) clearTimeout(timer);
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  return code;
}

/**
 * Launches third-party peer binaries (openssl, gnutls-cli/serv, libcoap) for interop tests, with a
 * hard timeout and guaranteed cleanup. Under `CI=true` a missing binary fails the test; on a
 * developer machine without it the test is skipped with a message saying so.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/** True when `bin` is on PATH. */
export function hasBinary(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Returns true when `bin` exists. Otherwise, under CI it throws (a missing peer is a failure, never a
 * silent skip); elsewhere it marks the test skipped and returns false.
 */
export function requireBinary(t: TestContext, bin: string): boolean {
  if (hasBinary(bin)) return true;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    throw new Error(`peer binary '${bin}' is missing: .ci/run must install it`);
  }
  t.skip(`peer binary '${bin}' not installed`);
  return false;
}

export interface Peer {
  readonly proc: ChildProcess;
  /** Everything the peer wrote to stdout so far. */
  stdout(): string;
  /** Everything the peer wrote to stderr so far. */
  stderr(): string;
  /** Resolves when stdout+stderr contains `pattern`; rejects on timeout or early exit. */
  waitFor(pattern: string | RegExp, timeoutMs?: number): Promise<string>;
  /** Writes to the peer's stdin. */
  write(data: string | Buffer): void;
  /** Resolves with the exit code (or null when killed by signal). */
  exited: Promise<number | null>;
  kill(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface LaunchOptions {
  /** Hard limit on the peer's life; it is killed after this. Default 30 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Spawns a peer. Always pair with `t.after(() => peer.kill())` or use {@link launchFor}. */
export function launch(cmd: string, args: string[], opts: LaunchOptions = {}): Peer {
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, cwd: opts.cwd });
  live.add(proc);
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };
  proc.stdout?.on('data', (d: Buffer) => {
    out += d.toString('latin1');
    notify();
  });
  proc.stderr?.on('data', (d: Buffer) => {
    err += d.toString('latin1');
    notify();
  });
  proc.stdin?.on('error', () => {});
  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    proc.on('exit', (code) => {
      done = true;
      live.delete(proc);
      clearTimeout(timer);
      notify();
      resolve(code);
    });
    proc.on('error', () => {
      done = true;
      live.delete(proc);
      clearTimeout(timer);
      notify();
      resolve(-1);
    });
  });
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  timer.unref();
  const peer: Peer = {
    proc,
    stdout: () => out,
    stderr: () => err,
    exited,
    write(data) {
      proc.stdin?.write(data);
    },
    waitFor(pattern, timeoutMs = 10_000) {
      const test = () => {
        const all = out + err;
        if (typeof pattern === 'string') return all.includes(pattern) ? pattern : undefined;
        const m = all.match(pattern);
        return m ? m[0] : undefined;
      };
      return new Promise<string>((resolve, reject) => {
        const deadline = setTimeout(() => {
          reject(new Error(`timed out waiting for ${String(pattern)} from ${cmd}\nstdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        const check = () => {
          const hit = test();
          if (hit !== undefined) {
            clearTimeout(deadline);
            resolve(hit);
          } else if (done) {
            clearTimeout(deadline);
            reject(new Error(`${cmd} exited before ${String(pattern)}\nstdout:\n${out}\nstderr:\n${err}`));
          } else waiters.push(check);
        };
        check();
      });
    },
    async kill() {
      if (!done) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(t);
      }
    },
  };
  return peer;
}

/** Spawns a peer that is killed when the test ends, whatever the outcome. */
export function launchFor(t: TestContext, cmd: string, args: string[], opts?: LaunchOptions): Peer {
  const peer = launch(cmd, args, opts);
  t.after(() => peer.kill());
  return peer;
}

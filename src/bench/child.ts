/**
 * The child processes a bench starts (servers under test, peers, load generators): whether a
 * peer's binary is installed, the key and certificate files they read, and stopping them.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Whether `bin` is on the PATH (a peer that is not installed is reported as not run). */
export function hasBinary(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/**
 * A fresh temporary directory (`prefix` + random) and a writer of owner-only files in it, for the
 * keys and certificates the peers load; the caller removes `dir`.
 */
export function secretDir(prefix: string): { dir: string; write: (name: string, text: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const write = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text, { mode: 0o600 });
    return p;
  };
  return { dir, write };
}

/**
 * Asks `proc` to end (SIGTERM), kills it if it is still there after `graceMs`, and resolves once it
 * has exited. A process that has already exited resolves at once.
 */
export async function stopChild(proc: ChildProcess, graceMs: number): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}

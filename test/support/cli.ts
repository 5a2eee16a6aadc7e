/**
 * The `securesense` command as tests run it: as a user would (`node bin/securesense.mjs …`), with
 * the same timeout and cleanup as the third-party peers (test/support/peers.ts).
 *
 *   const srv = await startCli(t, ['dtls', 'server', '--port', '0', '--psk', 'dev:00ff']);
 *   const r = await runCli(['coap', 'get', 'coap://127.0.0.1:5683/x']);   // { code, stdout, stderr }
 *   jsonLines(r.stdout)                                                  // one object per JSON line
 */
import { spawn, spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type LaunchOptions, launchFor, type Peer } from './peers.ts';
import type { TempPki } from './pki.ts';

/** The package's own bin script. */
export const CLI_BIN = fileURLToPath(new URL('../../bin/securesense.mjs', import.meta.url));

/** Spawns `securesense ARGS…`, killed when the test ends. */
export function spawnCli(t: TestContext, args: string[], opts?: LaunchOptions): Peer {
  return launchFor(t, process.execPath, [CLI_BIN, ...args], opts);
}

/**
 * Spawns a long-running `securesense` tool (a server, an agent) and waits for its first line
 * matching `ready` (default: the `listening` event every server tool prints).
 */
export async function startCli(
  t: TestContext,
  args: string[],
  opts: LaunchOptions & { ready?: string | RegExp; readyTimeoutMs?: number } = {},
): Promise<Peer> {
  const { ready = '"event":"listening"', readyTimeoutMs = 20_000, ...launch } = opts;
  const p = spawnCli(t, args, launch);
  await p.waitFor(ready, readyTimeoutMs);
  return p;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `securesense ARGS…` to its end and resolves with its exit code and output. Killed after
 * `timeoutMs` (default 60 s; the code is then null), so a tool that hangs fails its test instead
 * of hanging the run. `node` starts the bin with another Node than the one running the tests.
 */
export function runCli(args: string[], opts: { timeoutMs?: number; node?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(opts.node ?? process.execPath, [CLI_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** {@link runCli} for quick tools (`securesense pki …`): blocks until the tool exits (or is killed after `timeoutMs`, default 30 s). */
export function runCliSync(args: string[], opts: { timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI_BIN, ...args], { encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The events a tool printed: its stdout is one JSON object per line (DESIGN.md "Tools at the
 * command line"), so any other non-empty line throws, failing the test.
 */
export function jsonLines(out: string): Array<Record<string, unknown>> {
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line on stdout: ${l}`);
      }
    });
}

/**
 * The security flags of a temp PKI (test/support/pki.ts) as the tools take them. The server shows
 * its X.509 chain and its raw public key and trusts the root and the client's pinned key.
 */
export const pkiFlags = {
  server: (pki: TempPki, clientAuth: 'none' | 'want' | 'need' = 'need'): string[] => [
    '--cert',
    pki.server.chain,
    '--key',
    pki.server.key,
    '--rpk-key',
    pki.rpkServer.key,
    '--ca',
    pki.root.cert,
    '--trust-rpk',
    pki.rpkClient.spki,
    '--client-auth',
    clientAuth,
  ],
  /** The device's certificate chain and key, trusting the root. */
  x509Client: (pki: TempPki): string[] => ['--cert', pki.device.chain, '--key', pki.device.key, '--ca', pki.root.cert],
  /** The client's raw public key, pinning the server's. */
  rpkClient: (pki: TempPki): string[] => ['--rpk-key', pki.rpkClient.key, '--trust-rpk', pki.rpkServer.spki],
};

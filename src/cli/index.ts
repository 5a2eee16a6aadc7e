/**
 * The `securesense` command: a thin dispatcher. Each command lives in `src/cli/<name>.ts` and
 * exports `run(args: string[]): Promise<number>` (the exit code: 0 done, 1 failed, 2 bad usage).
 * Modules load lazily so that `securesense dtls …` never pulls in the database drivers, and
 * `--version` loads nothing at all.
 */
import { readFileSync } from 'node:fs';
import { portInUseHint } from './errors.ts';

export interface CommandModule {
  run(args: string[]): Promise<number>;
}

interface CommandEntry {
  summary: string;
  load(): Promise<CommandModule>;
}

const COMMANDS: Record<string, CommandEntry> = {
  start: {
    summary: 'the main job: the platform with a demo fleet on the embedded database',
    load: () => import('./start.ts'),
  },
  serve: { summary: 'the platform (HTTP/HTTPS, CoAP/CoAPs APIs, poller)', load: () => import('./serve.ts') },
  dtls: { summary: 'DTLS 1.2 server and client tools (PSK, RPK, X.509)', load: () => import('./dtls.ts') },
  coap: { summary: 'CoAP client (get/post/put/delete) and demo server', load: () => import('./coap.ts') },
  edhoc: { summary: 'EDHOC key exchange over CoAP (server, client)', load: () => import('./edhoc.ts') },
  pki: {
    summary: 'create a CA, issue certificates, export raw public keys, make PSKs',
    load: () => import('./pki.ts'),
  },
  device: { summary: 'the device agent and device credentials', load: () => import('./device.ts') },
  eval: { summary: "the paper's experiments as tables and charts", load: () => import('./eval.ts') },
  plan: { summary: 'handshake time, energy and battery life for a deployment', load: () => import('./plan.ts') },
  bench: { summary: 'benchmarks against third-party peers', load: () => import('./bench.ts') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(8)} ${c.summary}`);
  return (
    `usage: securesense <command> [options]\n       securesense --version\n\ncommands:\n${lines.join('\n')}\n\n` +
    "'securesense <command> --help' lists the options of each.\n"
  );
}

/** The package's version (package.json sits two levels up from both src/cli and dist/cli). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`securesense ${version()} (Node.js ${process.versions.node})\n`);
    return 0;
  }
  if (name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return 0;
  }
  const entry = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!entry) {
    process.stderr.write(
      `securesense: ${name === undefined ? 'a command is required' : `unknown command '${name}'`}\n${usage()}`,
    );
    return 2;
  }
  const mod = await entry.load();
  try {
    return await mod.run(rest);
  } catch (err) {
    const hint = portInUseHint(err);
    process.stderr.write(
      `securesense ${name}: ${err instanceof Error ? err.message : String(err)}\n${hint ? `${hint}\n` : ''}`,
    );
    return 1;
  }
}

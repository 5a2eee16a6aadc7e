/**
 * The `securesense` command: a thin dispatcher. Each sub-command lives in `src/cli/<name>.ts` and
 * exports `run(args: string[]): Promise<number>` (the exit code). Modules load lazily so that
 * `securesense dtls …` never pulls in the database drivers.
 */
export interface CommandModule {
  run(args: string[]): Promise<number>;
  /** One line for `securesense help`. */
  summary?: string;
}

const COMMANDS: Record<string, string> = {
  start: 'the main job: the platform with a demo fleet on the embedded database',
  serve: 'the platform (HTTP/HTTPS, CoAP/CoAPs APIs, poller)',
  dtls: 'DTLS 1.2 server and client tools (PSK, RPK, X.509)',
  coap: 'CoAP client (get/post/put/delete) and demo server',
  pki: 'create a CA, issue certificates, export raw public keys, make PSKs',
  device: 'the device agent and device credentials',
  eval: "the paper's experiments as tables and charts",
  plan: 'handshake time, energy and battery life for a deployment',
  bench: 'benchmarks against third-party peers',
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([n, s]) => `  ${n.padEnd(8)} ${s}`);
  return `usage: securesense <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (!(name in COMMANDS)) {
    process.stderr.write(`securesense: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  let mod: CommandModule;
  try {
    mod = (await import(`./${name}.ts`)) as CommandModule;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String(err).includes(`cli/${name}.ts`)) {
      process.stderr.write(`securesense: '${name}' is not built yet in this version\n`);
      return 2;
    }
    throw err;
  }
  try {
    return await mod.run(rest);
  } catch (err) {
    process.stderr.write(`securesense ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

/**
 * What a command says when its work fails for a reason the user can fix at the command line.
 */

/** The listen/bind error of a socket whose address is taken (Node's `EADDRINUSE`, with its port). */
function addressInUse(err: unknown): { port?: number } | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; port?: unknown };
  if (e.code !== 'EADDRINUSE') return undefined;
  return { port: typeof e.port === 'number' ? e.port : undefined };
}

/**
 * The hint for a port already in use: which flag chooses another port. `flags` maps the ports the
 * command was asked to bind to their flags ({ 8080: '--http-port' }); a port not in it (or an
 * error without a port) gets the generic advice. Undefined when `err` is not EADDRINUSE.
 */
export function portInUseHint(err: unknown, flags: Record<number, string> = {}): string | undefined {
  const inUse = addressInUse(err);
  if (!inUse) return undefined;
  // The platform's own message already names the listener and the option that moves it.
  if (/choose another port/.test((err as Error).message)) return '';
  const flag = inUse.port !== undefined ? flags[inUse.port] : undefined;
  const which = inUse.port !== undefined ? `port ${inUse.port} is already in use` : 'the address is already in use';
  return flag
    ? `${which}: stop the other server, or choose another port with ${flag} (${flag} 0 takes any free port)`
    : `${which}: stop the other server, or choose another port (0 takes any free port)`;
}

/** The ports of the platform's listeners that a platform command sets by flag. */
interface PlatformPorts {
  http: { port: number | null };
  https: { port: number | null };
  coap: { port: number | null; coapsPort: number | null };
}

/**
 * The flags of a platform config's ports, for {@link portInUseHint}: `--http-port`, `--coap-port`,
 * `--coaps-port`, and `--https-port` for the commands that take it. Port 0 (any free port) and
 * disabled listeners cannot collide and are left out.
 */
export function platformPortFlags(config: PlatformPorts, opts: { https: boolean }): Record<number, string> {
  const flags: Record<number, string> = {};
  const add = (port: number | null, flag: string) => {
    if (port) flags[port] = flag;
  };
  add(config.http.port, '--http-port');
  if (opts.https) add(config.https.port, '--https-port');
  add(config.coap.port, '--coap-port');
  add(config.coap.coapsPort, '--coaps-port');
  return flags;
}

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
  const flag = inUse.port !== undefined ? flags[inUse.port] : undefined;
  const which = inUse.port !== undefined ? `port ${inUse.port} is already in use` : 'the address is already in use';
  return flag
    ? `${which}: stop the other server, or choose another port with ${flag} (${flag} 0 takes any free port)`
    : `${which}: stop the other server, or choose another port (0 takes any free port)`;
}

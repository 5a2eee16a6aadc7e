/**
 * `securesense bench NAME` (and `npm run bench -- NAME`): each benchmark is `src/bench/<name>.ts`
 * exporting `run(args): Promise<number>`; it prints a table and measures against third-party peers
 * in the same run.
 */
const BENCHES: Record<string, string> = {
  dtls: 'DTLS handshakes/s (psk, rpk, x509), resumptions/s, heap per idle session',
  'dtls-cpu': 'DTLS PSK handshakes, resumptions and records per server CPU-second, ours vs libcoap',
  coap: 'CoAP confirmable GETs/s: ours vs libcoap vs the coap npm package',
  ingest: 'platform points/s over HTTP and CoAPs, reads/s, SQLite and PostgreSQL',
  load: 'work per server CPU-second under a C load generator: ours vs libcoap and the coap npm server',
  sessions: 'idle PSK sessions one server process holds (RSS, heap per session), ours vs libcoap',
};

export const summary = 'benchmarks against third-party peers';

export async function run(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (!name || !(name in BENCHES)) {
    const list = Object.entries(BENCHES)
      .map(([n, s]) => `  ${n.padEnd(8)} ${s}`)
      .join('\n');
    process.stderr.write(`usage: securesense bench <name>\n\n${list}\n`);
    return 2;
  }
  const mod = (await import(`../bench/${name}.ts`)) as { run(args: string[]): Promise<number> };
  return mod.run(rest);
}

/**
 * Child process of the `memory` experiment: runs our DTLS server alone so that its heap can be
 * measured without the clients'. Protocol on stdio, one JSON line each: first {port} (or {error});
 * then for every line "heap" on stdin, {heap: heapUsed after a full GC}.
 */
import { createInterface } from 'node:readline';

const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const gc = (globalThis as { gc?: () => void }).gc;

async function main(): Promise<void> {
  let port: number;
  try {
    const spec = '../dtls/index.ts';
    const { DtlsServer } = (await import(spec)) as {
      DtlsServer: { listen(o: Record<string, unknown>): Promise<{ address(): { port: number } }> };
    };
    const server = await DtlsServer.listen({
      host: '127.0.0.1',
      port: 0,
      psk: (id: string) => (id === 'securesense-sim' ? KEY : undefined),
    });
    port = server.address().port;
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: (err as Error).message })}\n`);
    process.exit(0);
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim() !== 'heap') continue;
    gc?.();
    gc?.();
    process.stdout.write(`${JSON.stringify({ heap: process.memoryUsage().heapUsed })}\n`);
  }
  process.exit(0);
}

void main();

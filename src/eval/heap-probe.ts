/**
 * Child process of the `memory` experiment: runs our DTLS server alone so that its heap can be
 * measured without the clients'. Protocol on stdio, one JSON line each way: the parent first sends
 * the CredentialMaterial; the child answers {port} (or {error}); then for every line "heap" it answers
 * {heap: heapUsed after a full GC}.
 */
import { createInterface } from 'node:readline';
import { type CredentialMaterial, credentialsFrom } from '../sim/transcript.ts';

const gc = (globalThis as { gc?: () => void }).gc;
const say = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const first = await lines.next();
  let server: { close(): Promise<void> } | undefined;
  try {
    if (first.done) throw new Error('no credential material on stdin');
    const material = JSON.parse(first.value) as CredentialMaterial;
    const creds = await credentialsFrom(material);
    const spec = '../dtls/index.ts';
    const { DtlsServer } = (await import(spec)) as {
      DtlsServer: {
        listen(o: Record<string, unknown>): Promise<{ address(): { port: number }; close(): Promise<void> }>;
      };
    };
    const s = await DtlsServer.listen({ host: '127.0.0.1', port: 0, ...creds.server });
    server = s;
    say({ port: s.address().port });
  } catch (err) {
    say({ error: (err as Error).message });
    process.exit(0);
  }
  for (let l = await lines.next(); !l.done; l = await lines.next()) {
    if (l.value.trim() !== 'heap') continue;
    gc?.();
    gc?.();
    say({ heap: process.memoryUsage().heapUsed });
  }
  await server?.close();
  process.exit(0);
}

void main();

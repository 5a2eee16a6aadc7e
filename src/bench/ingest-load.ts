/**
 * The ingest bench's load generator, run as a child process so that its CPU is not the server's.
 *
 * Protocol with the parent (one JSON line each way): the child reads a {@link LoadJob} from argv[2],
 * sets up (keep-alive sockets; DTLS handshakes and first payloads for CoAPs), prints `{"ready":true}`,
 * waits for a line on stdin (the start signal), drives the load for `seconds`, and prints a
 * {@link LoadResult}. Requests go to loopback only.
 */
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { CoapClient, ContentFormat } from '../coap/index.ts';

export interface CoapsDevice {
  identity: string;
  /** PSK, hex. */
  key: string;
  url: string;
}

export type LoadJob =
  | {
      kind: 'http-post' | 'http-get';
      url: string;
      token: string;
      /** Requests outstanding at once (one keep-alive socket each). */
      concurrency: number;
      seconds: number;
      /** First point time (ms) of this child; every request gets the next one, so no two collide. */
      timeBase: number;
    }
  | { kind: 'coaps-post'; devices: CoapsDevice[]; seconds: number; timeBase: number; outstanding: number };

export interface LoadResult {
  requests: number;
  points: number;
  errors: number;
  firstError?: string;
  elapsedMs: number;
  /** Per-request latency, ms. */
  lat: number[];
  /** This process's CPU (user + system) over the run, ms. */
  cpuMs: number;
}

/** Ten values with one time: the bench's payload (each point a new row). */
function payloadMaker(timeBase: number): () => string {
  let t = timeBase;
  return () => {
    const time = t++;
    let s = '{';
    for (let i = 0; i < 10; i++)
      s += `${i ? ',' : ''}"s${i}":{"value":${Math.round(Math.random() * 10000) / 100},"time":${time}}`;
    return `${s}}`;
  };
}

function storedOf(body: string): number {
  const m = /"stored":(\d+)/.exec(body);
  return m ? Number(m[1]) : 0;
}

async function httpLoad(
  job: Extract<LoadJob, { kind: 'http-post' | 'http-get' }>,
  go: Promise<void>,
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  const url = new URL(job.url);
  const next = payloadMaker(job.timeBase);
  const once = (body: string | undefined): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          agent,
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          method: body === undefined ? 'GET' : 'POST',
          headers: {
            authorization: `Bearer ${job.token}`,
            ...(body === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const r: LoadResult = { requests: 0, points: 0, errors: 0, elapsedMs: 0, lat: [], cpuMs: 0 };
  await go;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + job.seconds * 1000;
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      await sendUntil(r, end, async () => {
        const res = await once(job.kind === 'http-post' ? next() : undefined);
        if (res.status >= 300) throw new Error(`HTTP ${res.status} ${res.text.slice(0, 200)}`);
        return job.kind === 'http-post' ? storedOf(res.text) : 0;
      });
    }),
  );
  stopClock(r, start, cpu0);
  agent.destroy();
  return r;
}

/**
 * One load worker: sends until `end`, recording each answer's latency and stored points in `r`;
 * a failed request is counted (the first one kept) and the worker goes on.
 */
async function sendUntil(r: LoadResult, end: number, send: () => Promise<number>): Promise<void> {
  while (performance.now() < end) {
    const t0 = performance.now();
    try {
      const points = await send();
      r.lat.push(performance.now() - t0);
      r.requests++;
      r.points += points;
    } catch (err) {
      r.errors++;
      r.firstError ??= String(err);
    }
  }
}

/** The run's wall and CPU time since `start` and `cpu0`. */
function stopClock(r: LoadResult, start: number, cpu0: NodeJS.CpuUsage): void {
  r.elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  r.cpuMs = (cpu.user + cpu.system) / 1000;
}

async function coapsLoad(job: Extract<LoadJob, { kind: 'coaps-post' }>, go: Promise<void>): Promise<LoadResult> {
  const next = payloadMaker(job.timeBase);
  const cf = { contentFormat: ContentFormat['application/json'] };
  const clients = job.devices.map((d) => ({
    url: d.url,
    client: new CoapClient({ security: { psk: { identity: d.identity, key: Buffer.from(d.key, 'hex') } } }),
  }));
  const r: LoadResult = { requests: 0, points: 0, errors: 0, elapsedMs: 0, lat: [], cpuMs: 0 };
  try {
    // Handshakes and the first payloads (which create each resource's streams) off the clock,
    // a few at a time so that the handshake limit is not the subject.
    for (let i = 0; i < clients.length; i += 10) {
      await Promise.all(
        clients.slice(i, i + 10).map(async (d) => {
          const res = await d.client.post(d.url, next(), cf);
          if (!res.ok) throw new Error(`coaps first payload: ${res.status} ${res.payload.toString()}`);
        }),
      );
    }
    process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
    await go;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const end = start + job.seconds * 1000;
    await Promise.all(
      clients.flatMap((d) =>
        Array.from({ length: job.outstanding }, () =>
          sendUntil(r, end, async () => {
            const res = await d.client.post(d.url, next(), cf);
            if (!res.ok) throw new Error(`coaps ${res.status} ${res.payload.toString().slice(0, 200)}`);
            return storedOf(res.payload.toString('utf8'));
          }),
        ),
      ),
    );
    stopClock(r, start, cpu0);
  } finally {
    await Promise.all(clients.map((d) => d.client.close()));
  }
  return r;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as LoadJob;
  const lines = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => lines.once('line', () => resolve()));
  let result: LoadResult;
  if (job.kind === 'coaps-post') result = await coapsLoad(job, go);
  else {
    process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
    result = await httpLoad(job, go);
  }
  lines.close();
  // Flushed before main() returns and the process exits: a pipe is written asynchronously, and a
  // fast run's latencies make a line of hundreds of kilobytes that exit() would cut short.
  await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(result)}\n`, () => resolve()));
}

// Only when run as the child (the parent imports the types).
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}

/**
 * `securesense bench ingest [--seconds 3] [--concurrency 16] [--devices 100] [--pg URL] [--json]`
 *
 * Platform throughput over HTTP, per store engine:
 * - ingest: points stored per second through `POST /users/:uid/resources/:rid/data`, each request
 *   a JSON payload of 10 values (10 streams, auto-created by the first payload), each point with
 *   its own time so that no write is an overwrite;
 * - reads: `GET …/streams/:sid/data?limit=1000` (the newest 1 000 points of a stream) per second;
 * - coaps ingest: the same payloads as CoAP POSTs over coaps:// from `--devices` (100)
 *   simulated devices, each with its own PSK identity bound to its own resource and one DTLS
 *   session kept for the whole run (the handshakes happen before the clock starts), one
 *   confirmable request outstanding per device (NSTART = 1, RFC 7252 §4.7).
 *
 * The platform runs in this process on 127.0.0.1 with the load generator (Node's fetch with
 * keep-alive), so both share one event loop: the figures are a floor for a server with its own
 * process. SQLite runs on a temporary file (WAL, synchronous=FULL); PostgreSQL, when a URL is
 * given (`--pg` or SECURESENSE_BENCH_PG_URL or SECURESENSE_TEST_PG_URL), in a throw-away schema.
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoapClient, ContentFormat } from '../coap/index.ts';
import { createPlatform, dropPostgresSchema } from '../platform/index.ts';
import { loadConfig } from '../util/config.ts';

export interface IngestFigures {
  engine: 'sqlite' | 'postgres';
  ingestRequestsPerSec: number;
  ingestPointsPerSec: number;
  ingestP50Ms: number;
  ingestP99Ms: number;
  readsPerSec: number;
  readP50Ms: number;
  pointsInStream: number;
  /** coaps:// (PSK) ingest from `coapsDevices` devices, one DTLS session each. */
  coapsDevices: number;
  coapsRequestsPerSec: number;
  coapsPointsPerSec: number;
  coapsP50Ms: number;
  coapsP99Ms: number;
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function ok(res: Response, what: string): Promise<unknown> {
  const text = await res.text();
  if (!res.ok) throw new Error(`${what}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Runs `worker` on `concurrency` lanes for `ms`; returns per-request latencies (ms). */
async function drive(
  ms: number,
  concurrency: number,
  worker: () => Promise<void>,
): Promise<{ lat: number[]; elapsed: number }> {
  const lat: number[] = [];
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await worker();
        lat.push(performance.now() - t0);
      }
    }),
  );
  return { lat, elapsed: (performance.now() - start) / 1000 };
}

export async function benchEngine(
  engine: 'sqlite' | 'postgres',
  db: string,
  opts: { seconds: number; concurrency: number; devices: number; pgSchema?: string },
): Promise<IngestFigures> {
  const cfg = loadConfig({
    env: {},
    overrides: {
      db,
      http: { host: '127.0.0.1', port: 0 },
      coap: { host: '127.0.0.1', port: null, coapsPort: 0 },
      logLevel: 'silent',
    },
  });
  // One token drives every lane, far above the default per-credential limit (200/s): the bench
  // measures the ingest path, not the limiter, so the limit is off here.
  cfg.api.rateLimit = 0;
  const platform = await createPlatform(cfg, { pgSchema: opts.pgSchema, coap: true });
  try {
    const base = platform.http.plain!.url;
    const json = { 'content-type': 'application/json' };
    const user = (await ok(
      await fetch(`${base}/users`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ username: 'bench', password: 'bench password' }),
      }),
      'create user',
    )) as { id: number; token: string };
    const auth = { authorization: `Bearer ${user.token}` };
    const res = (await ok(
      await fetch(`${base}/users/${user.id}/resources`, {
        method: 'POST',
        headers: { ...json, ...auth },
        body: JSON.stringify({ label: 'bench' }),
      }),
      'create resource',
    )) as { id: number };
    const dataUrl = `${base}/users/${user.id}/resources/${res.id}/data`;
    let coapsFigures: Pick<
      IngestFigures,
      'coapsDevices' | 'coapsRequestsPerSec' | 'coapsPointsPerSec' | 'coapsP50Ms' | 'coapsP99Ms'
    > = { coapsDevices: 0, coapsRequestsPerSec: 0, coapsPointsPerSec: 0, coapsP50Ms: 0, coapsP99Ms: 0 };

    // Every request carries 10 values with a fresh time (ms), so each point is a new row.
    let t = 1_700_000_000_000;
    const payload = () => {
      const time = t++;
      const o: Record<string, { value: number; time: number }> = {};
      for (let i = 0; i < 10; i++) o[`s${i}`] = { value: Math.round(Math.random() * 10000) / 100, time };
      return JSON.stringify(o);
    };
    const first = (await ok(
      await fetch(dataUrl, { method: 'POST', headers: { ...json, ...auth }, body: payload() }),
      'first payload',
    )) as {
      created: Array<{ id: number }>;
    };
    if (first.created.length !== 10) throw new Error(`expected 10 streams, got ${first.created.length}`);
    const sid = first.created[0].id;

    let stored = 0;
    const ingest = await drive(opts.seconds * 1000, opts.concurrency, async () => {
      const r = (await ok(
        await fetch(dataUrl, { method: 'POST', headers: { ...json, ...auth }, body: payload() }),
        'ingest',
      )) as {
        stored: number;
      };
      stored += r.stored;
    });
    ingest.lat.sort((a, b) => a - b);

    // Make sure the stream holds more than 1 000 points (a slow ingest run may not have), older
    // than everything ingested, so that every read returns a full 1 000.
    const streamUrl = `${base}/users/${user.id}/resources/${res.id}/streams/${sid}/data`;
    const older = Array.from({ length: 1000 }, (_, i) => ({ value: i, time: 1_600_000_000_000 + i }));
    await ok(
      await fetch(streamUrl, { method: 'POST', headers: { ...json, ...auth }, body: JSON.stringify(older) }),
      'fill',
    );
    const readUrl = `${streamUrl}?limit=1000`;
    let pointsInStream = 0;
    const reads = await drive(opts.seconds * 1000, Math.max(1, Math.floor(opts.concurrency / 4)), async () => {
      const r = (await ok(await fetch(readUrl, { headers: auth }), 'read')) as { points: unknown[] };
      pointsInStream = r.points.length;
    });
    reads.lat.sort((a, b) => a - b);
    if (pointsInStream !== 1000) throw new Error(`a read returned ${pointsInStream} points, not 1000`);

    // coaps://: each device its own resource, PSK identity and DTLS session.
    const coaps = `coaps://127.0.0.1:${platform.coap!.coaps!.port}`;
    const caller = { kind: 'user' as const, userId: user.id };
    const devices = await Promise.all(
      Array.from({ length: opts.devices }, async (_, i) => {
        const r = await platform.service.createResource(caller, user.id, { label: `device-${i}` });
        const key = randomBytes(16);
        await platform.service.addDeviceCredential(caller, user.id, r.resource.id, {
          mode: 'psk',
          pskIdentity: `bench-${i}`,
          pskKey: key.toString('hex'),
        });
        const client = new CoapClient({ security: { psk: { identity: `bench-${i}`, key } } });
        return { client, url: `${coaps}/users/${user.id}/resources/${r.resource.id}/data` };
      }),
    );
    const cf = { contentFormat: ContentFormat['application/json'] };
    try {
      // Handshakes and the first payloads (which create each resource's 10 streams) off the clock,
      // a few at a time so that the handshake limit is not the subject.
      for (let i = 0; i < devices.length; i += 10) {
        await Promise.all(
          devices.slice(i, i + 10).map(async (d) => {
            const r = await d.client.post(d.url, payload(), cf);
            if (!r.ok) throw new Error(`coaps first payload: ${r.status} ${r.payload.toString()}`);
          }),
        );
      }
      let coapsStored = 0;
      const lat: number[] = [];
      const start = performance.now();
      const end = start + opts.seconds * 1000;
      await Promise.all(
        devices.map(async (d) => {
          while (performance.now() < end) {
            const t0 = performance.now();
            const r = await d.client.post(d.url, payload(), cf);
            if (!r.ok) throw new Error(`coaps ingest: ${r.status} ${r.payload.toString()}`);
            coapsStored += (JSON.parse(r.payload.toString('utf8')) as { stored: number }).stored;
            lat.push(performance.now() - t0);
          }
        }),
      );
      const elapsed = (performance.now() - start) / 1000;
      lat.sort((a, b) => a - b);
      coapsFigures = {
        coapsDevices: devices.length,
        coapsRequestsPerSec: lat.length / elapsed,
        coapsPointsPerSec: coapsStored / elapsed,
        coapsP50Ms: percentile(lat, 0.5),
        coapsP99Ms: percentile(lat, 0.99),
      };
    } finally {
      await Promise.all(devices.map((d) => d.client.close()));
    }

    return {
      engine,
      ingestRequestsPerSec: ingest.lat.length / ingest.elapsed,
      ingestPointsPerSec: stored / ingest.elapsed,
      ingestP50Ms: percentile(ingest.lat, 0.5),
      ingestP99Ms: percentile(ingest.lat, 0.99),
      readsPerSec: reads.lat.length / reads.elapsed,
      readP50Ms: percentile(reads.lat, 0.5),
      pointsInStream,
      ...coapsFigures,
    };
  } finally {
    await platform.close();
  }
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '16' },
      devices: { type: 'string', default: '100' },
      pg: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  const concurrency = Number(values.concurrency);
  const devices = Number(values.devices);
  if (
    !(seconds > 0) ||
    !Number.isInteger(concurrency) ||
    concurrency < 1 ||
    !Number.isInteger(devices) ||
    devices < 1
  ) {
    process.stderr.write(
      'usage: securesense bench ingest [--seconds S] [--concurrency N] [--devices N] [--pg URL] [--json]\n',
    );
    return 2;
  }
  const pg = values.pg ?? process.env.SECURESENSE_BENCH_PG_URL ?? process.env.SECURESENSE_TEST_PG_URL;
  const results: IngestFigures[] = [];

  const dir = mkdtempSync(join(tmpdir(), 'ss-bench-'));
  try {
    results.push(await benchEngine('sqlite', join(dir, 'bench.db'), { seconds, concurrency, devices }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (pg) {
    const schema = `ss_bench_${process.pid}`;
    try {
      results.push(await benchEngine('postgres', pg, { seconds, concurrency, devices, pgSchema: schema }));
    } finally {
      await dropPostgresSchema(pg, schema);
    }
  } else {
    process.stderr.write('PostgreSQL not measured: give --pg URL or set SECURESENSE_BENCH_PG_URL\n');
  }

  if (values.json) {
    process.stdout.write(`${JSON.stringify(results)}\n`);
    return 0;
  }
  const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
  const f1 = (n: number) => n.toFixed(1);
  const rows = [
    ['engine', 'ingest req/s', 'points/s', 'p50 ms', 'p99 ms', 'reads/s (last 1000)', 'read p50 ms'],
    ...results.map((r) => [
      r.engine,
      f0(r.ingestRequestsPerSec),
      f0(r.ingestPointsPerSec),
      f1(r.ingestP50Ms),
      f1(r.ingestP99Ms),
      f0(r.readsPerSec),
      f1(r.readP50Ms),
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  process.stdout.write(
    `HTTP ingest: POST …/resources/:rid/data, JSON with 10 values; ${concurrency} concurrent clients, ${seconds} s per phase\n`,
  );
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i])).join('  ')}\n`);
  const crows = [
    ['engine', 'HTTP points/s', 'coaps points/s', 'coaps req/s', 'p50 ms', 'p99 ms'],
    ...results.map((r) => [
      r.engine,
      f0(r.ingestPointsPerSec),
      f0(r.coapsPointsPerSec),
      f0(r.coapsRequestsPerSec),
      f1(r.coapsP50Ms),
      f1(r.coapsP99Ms),
    ]),
  ];
  const cw = crows[0].map((_, i) => Math.max(...crows.map((r) => r[i].length)));
  process.stdout.write(
    `\ncoaps ingest: CoAP POST …/resources/:rid/data over DTLS (PSK, AES-128-CCM-8), same payloads; ${devices} devices, one session and one request outstanding each, ${seconds} s\n`,
  );
  for (const r of crows) process.stdout.write(`${r.map((c, i) => c.padEnd(cw[i])).join('  ')}\n`);
  return 0;
}

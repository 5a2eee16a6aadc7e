/**
 * `securesense serve --workers 2` supervises its workers: one killed with SIGKILL is restarted (on
 * the same ports, after the first backoff step of 100 ms), the ports answer all along (the kernel
 * gives its flows to the worker still bound), `/metrics` counts the restart and each worker's CoAP
 * requests, and SIGTERM to the primary stops every worker.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { processTree } from '../../src/bench/load-cpu.ts';
import { RestartBackoff } from '../../src/cli/supervisor.ts';
import { decodeMessage, encodeMessage, OptionNumber } from '../../src/coap/index.ts';
import { call } from '../platform/helpers.ts';
import { serveTwoWorkers } from './serve-workers-helper.ts';

/** The worker processes under `root`, by worker number (SECURESENSE_WORKER in their environment). */
function workerPids(root: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of processTree(root)) {
    let env: string;
    try {
      env = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue;
    }
    const m = /(?:^|\0)SECURESENSE_WORKER=(\d+)\//.exec(env);
    if (m) out.set(Number(m[1]), pid);
  }
  return out;
}

/**
 * A CoAP CON GET /.well-known/core from a new socket (a new flow, hashed anew), retransmitted every
 * 500 ms up to 4 times as a CoAP client does: the response code (undefined when none came) and
 * how many sends it took.
 */
async function getWellKnown(port: number): Promise<{ code?: number; sends: number }> {
  const sock = createSocket('udp4');
  try {
    const reply = new Promise<Buffer>((resolve) => sock.on('message', resolve));
    const messageId = Math.floor(Math.random() * 0xffff);
    const request = encodeMessage({
      type: 'CON',
      code: 1,
      messageId,
      token: Buffer.of(1, 2),
      options: [
        { number: OptionNumber.UriPath, value: Buffer.from('.well-known') },
        { number: OptionNumber.UriPath, value: Buffer.from('core') },
      ],
      payload: Buffer.alloc(0),
    });
    for (let sends = 1; sends <= 4; sends++) {
      sock.send(request, port, '127.0.0.1');
      const got = await Promise.race([reply, sleep(500).then(() => undefined)]);
      if (!got) continue;
      const d = decodeMessage(got);
      return { code: d.ok ? d.message.code : undefined, sends };
    }
    return { sends: 4 };
  } finally {
    sock.close();
  }
}

function series(body: string, name: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : undefined;
}

test('serve --workers 2: a worker killed with SIGKILL is restarted, the ports answer meanwhile, /metrics counts it', async (t) => {
  const { srv, base, coapPort } = await serveTwoWorkers(t, { timeoutMs: 90_000 });
  const before = workerPids(srv.proc.pid ?? 0);
  assert.equal(before.size, 2, `two workers under ${srv.proc.pid}`);

  // Requests on both workers first: fresh sockets spread over them.
  for (let i = 0; i < 20; i++) assert.equal((await getWellKnown(coapPort)).code, 69, '2.05 before');

  const victim = before.get(1);
  assert.ok(victim);
  process.kill(victim, 'SIGKILL');
  // The port keeps answering while worker 1 dies, is dead and starts again. A request that reached
  // the dying worker's socket is lost with it; the CoAP retransmission goes to the one still bound.
  let answered = 0;
  let retransmitted = 0;
  for (let i = 0; i < 30; i++) {
    const r = await getWellKnown(coapPort);
    if (r.code === 69) answered++;
    if (r.sends > 1) retransmitted++;
  }
  t.diagnostic(`30 requests from new flows after the SIGKILL: ${retransmitted} needed a retransmission`);
  assert.equal(answered, 30, 'every request from a new flow answered while a worker was down');

  let after = workerPids(srv.proc.pid ?? 0);
  for (let i = 0; i < 200 && !(after.size === 2 && after.get(1) !== victim); i++) {
    await sleep(100);
    after = workerPids(srv.proc.pid ?? 0);
  }
  assert.notEqual(after.get(1), victim, 'worker 1 is a new process');
  assert.equal(after.get(0), before.get(0), 'worker 0 untouched');
  await srv.waitFor(/worker 1 restarted/, 20_000);
  assert.match(srv.stderr(), /worker 1 \(pid \d+\) exited \(SIGKILL\); restarting it in 100 ms/);

  // The restarted worker serves too: requests until both workers have counted some since.
  const body = async () => (await call(base, 'GET', '/metrics')).text;
  let m = await body();
  for (let i = 0; i < 100 && !(series(m, 'securesense_worker_coap_requests_total{worker="1"}') ?? 0); i++) {
    for (let j = 0; j < 5; j++) assert.equal((await getWellKnown(coapPort)).code, 69, '2.05 after');
    m = await body();
  }
  assert.equal(series(m, 'securesense_worker_restarts_total{worker="1"}'), 1, 'the restart counted');
  assert.equal(series(m, 'securesense_worker_restarts_total{worker="0"}'), 0);
  assert.ok((series(m, 'securesense_worker_coap_requests_total{worker="0"}') ?? 0) > 0, 'worker 0 counts requests');
  assert.ok((series(m, 'securesense_worker_coap_requests_total{worker="1"}') ?? 0) > 0, 'the new worker 1 too');

  // SIGTERM to the primary stops every worker.
  const primary = [...workerPids(srv.proc.pid ?? 0).values()];
  srv.proc.kill('SIGTERM');
  for (let i = 0; i < 100 && primary.some(alive); i++) await sleep(100);
  assert.deepEqual(primary.filter(alive), [], 'no worker left');
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('restart backoff: 100 ms doubling to 30 s; a worker that stayed up 30 s starts over at 100 ms', () => {
  const b = new RestartBackoff();
  let now = 0;
  const delays: number[] = [];
  for (let i = 0; i < 11; i++) {
    b.started(now);
    now += 50; // dies at once
    const d = b.died(now);
    delays.push(d);
    now += d;
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000]);
  b.started(now);
  assert.equal(b.died(now + 29_999), 30_000, 'not up long enough');
  b.started(now);
  assert.equal(b.died(now + 30_000), 100, 'up 30 s: well again');
  b.started(now + 30_100);
  assert.equal(b.died(now + 30_150), 200, 'and doubles again from there');
  assert.throws(() => new RestartBackoff({ initialMs: 0 }), RangeError);
});

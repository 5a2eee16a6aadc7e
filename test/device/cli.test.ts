/**
 * `securesense device run` as a process: JSON lines on stdout, a push over coaps:// (PSK) that
 * reaches our server, Ctrl-C closing the session with close_notify, the state file resuming the
 * session in the next run, and clear usage errors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CoapServer } from '../../src/coap/server.ts';
import { DtlsServerTransport } from '../../src/coap/transport-dtls.ts';
import { UdpTransport } from '../../src/coap/transport-udp.ts';
import type { DtlsConnection } from '../../src/dtls/index.ts';
import { jsonLines, runCli, spawnCli } from '../support/cli.ts';
import { freeUdpPort, sleep } from '../support/ports.ts';

const KEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

const cli = (args: string[]) => runCli(['device', 'run', ...args]);
const lines = jsonLines;

test('device run --push coaps:// with --state: Ctrl-C sends close_notify, the next run resumes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'securesense-device-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bodies: string[] = [];
  const server = new CoapServer();
  server.post('/users/1/resources/9/data', (req) => {
    bodies.push(req.payload.toString());
    return {};
  });
  const dtls = await DtlsServerTransport.listen({
    host: '127.0.0.1',
    port: 0,
    psk: (id) => (id === 'cli-device' ? KEY : undefined),
  });
  const conns: Array<{ resumed: boolean; closed: boolean }> = [];
  dtls.server.on('connection', (c: DtlsConnection) => {
    const rec = { resumed: c.resumed, closed: false };
    conns.push(rec);
    c.on('close', () => {
      rec.closed = true;
    });
  });
  server.listen(dtls);
  t.after(() => server.close());
  const state = join(dir, 'device.state');
  const args = [
    'device',
    'run',
    '--push',
    `coaps://127.0.0.1:${dtls.address().port}/users/1/resources/9/data`,
    '--psk',
    `cli-device:${KEY.toString('hex')}`,
    '--interval',
    '0.2',
    '--sensors',
    'temperature,power',
    '--state',
    state,
  ];
  for (const run of [1, 2]) {
    const before = bodies.length;
    const agent = spawnCli(t, args, { timeoutMs: 30_000 });
    await agent.waitFor(/"event":"sent"[\s\S]*"event":"sent"/, 20_000);
    agent.proc.kill('SIGINT');
    assert.equal(await agent.exited, 0, agent.stderr());
    const events = lines(agent.stdout());
    assert.equal(events[0].event, 'started');
    const hs = events.filter((e) => e.event === 'handshake');
    assert.equal(hs.length, 1);
    assert.equal(hs[0].mode, 'psk');
    assert.equal(hs[0].resumed, run === 2, `run ${run}: ${JSON.stringify(hs[0])}`);
    assert.equal(conns.length, run);
    assert.equal(conns[run - 1].resumed, run === 2);
    // Ctrl-C closed the association with close_notify: the server saw it close.
    const end = Date.now() + 3000;
    while (!conns[run - 1].closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.ok(conns[run - 1].closed, 'the server saw the close_notify');
    assert.equal(events.at(-1)?.event, 'stopped');
    // What was sent is what the server got.
    const sent = events.filter((e) => e.event === 'sent').length;
    assert.ok(bodies.length - before >= sent, `${sent} sent, ${bodies.length - before} received`);
    const doc = JSON.parse(bodies[before]) as Record<string, { value: number; unit: string }>;
    assert.deepEqual(Object.keys(doc).sort(), ['power', 'temperature']);
  }
  assert.equal(statSync(state).mode & 0o777, 0o600);
});

test('device run: usage errors exit 2 with a message on stderr', async () => {
  for (const [args, msg] of [
    [[], /--push URI, --serve PORT or --serve-dtls PORT/],
    [['--push', 'coaps://127.0.0.1/x'], /needs --psk/],
    [['--push', 'http://x/y'], /not a coap/],
    [['--serve', '70000'], /UDP port/],
    [['--serve', '0', '--sensors', 'pressure'], /unknown sensor 'pressure'/],
    [['--serve', '0', '--format', 'xml'], /json or senml/],
    [['--serve', '0', '--state', 'f'], /--state goes with --push/],
    [['--serve-dtls', '0'], /--serve-dtls needs --psk/],
    [['--push', 'coaps://127.0.0.1/x', '--psk', 'dev:xyz'], /hex/],
  ] as const) {
    const r = await cli([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.equal(r.stdout, '');
  }
});

test('device run --serve --command: serves the command output and stops after --duration', async () => {
  const r = await cli([
    '--serve',
    '0',
    '--host',
    '127.0.0.1',
    '--command',
    'echo 7.5',
    '--command-name',
    'load',
    '--interval',
    '0.1',
    '--duration',
    '0.5',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const events = lines(r.stdout);
  assert.equal(events[0].event, 'started');
  assert.deepEqual(events[0].sensors, ['load']);
  const readings = events.filter((e) => e.event === 'reading');
  assert.ok(readings.length >= 3);
  assert.deepEqual(readings[0].values, { load: 7.5 });
  assert.equal(events.at(-1)?.event, 'stopped');
});

test('device run: a serve port in use exits 1 and prints no event', async (t) => {
  const { createSocket } = await import('node:dgram');
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.after(() => sock.close());
  const r = await cli(['--serve', String(sock.address().port), '--host', '127.0.0.1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot start: .*EADDRINUSE/);
  assert.equal(r.stdout, '');
});

test('device run: samples queued while the cloud is down survive kill -9 and are sent after the restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'securesense-device-crash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freeUdpPort();
  const state = join(dir, 'device.state');
  const args = [
    'device',
    'run',
    '--push',
    `coap://127.0.0.1:${port}/data`,
    '--interval',
    '0.1',
    '--sensors',
    'temperature',
    '--ack-timeout',
    '0.2',
    '--backoff-max',
    '0.5',
    '--state',
    state,
  ];
  // Nothing listens: every reading stays queued. Then the agent dies without a chance to save.
  const first = spawnCli(t, args);
  // Six readings, wherever they fall: the push errors (at once, the port being closed) come between them.
  await first.waitFor(/("event":"reading"[\s\S]*){6}/, 20_000);
  first.proc.kill('SIGKILL');
  await first.exited;
  const taken = lines(first.stdout().slice(0, first.stdout().lastIndexOf('\n') + 1))
    .filter((e) => e.event === 'reading')
    .map((e) => Date.parse(e.time as string));
  assert.ok(taken.length >= 6, `readings before the kill: ${taken.length}`);

  // The cloud comes back; a new agent with the same state file delivers what the dead one took.
  const received = new Set<number>();
  const server = new CoapServer();
  server.post('/data', (req) => {
    const body = JSON.parse(req.payload.toString()) as { temperature: { time: number } };
    received.add(body.temperature.time);
    return {};
  });
  server.listen(await UdpTransport.bind({ host: '127.0.0.1', port }));
  t.after(() => server.close());
  const second = spawnCli(t, args);
  const deadline = Date.now() + 20_000;
  while (!taken.slice(0, -1).every((time) => received.has(time)) && Date.now() < deadline) await sleep(50);
  await sleep(300);
  await second.kill();
  // The state file is rewritten (fsync + rename) after each reading, so a kill -9 can take at most
  // the newest reading with it — the one whose write was in flight.
  const lost = taken.filter((time) => !received.has(time));
  assert.ok(
    lost.length === 0 || (lost.length === 1 && lost[0] === taken.at(-1)),
    `lost ${lost.length} of ${taken.length} readings taken before kill -9: ${lost.map((x) => taken.indexOf(x))}`,
  );
});

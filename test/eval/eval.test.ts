import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { run as evalCli } from '../../src/cli/eval.ts';
import { niceTicks, renderChart } from '../../src/eval/chart.ts';
import {
  EXPERIMENTS,
  engineContext,
  findExperiment,
  fixedContext,
  NOT_MEASURED,
  runExperiment,
} from '../../src/eval/index.ts';
import { plan } from '../../src/eval/plan.ts';
import { formatTable } from '../../src/eval/table.ts';
import { CC2538_HW, CC2538_SW, CPI_RANGE, MEASURED_ECC } from '../../src/sim/profiles/index.ts';
import { EngineUnavailableError, transcriptFor } from '../../src/sim/transcript.ts';

describe('SVG chart', () => {
  it('draws one bar per value and marks missing values n/a', () => {
    const svg = renderChart({
      title: 'T <&>',
      kind: 'bar',
      categories: ['a', 'b', 'c'],
      series: [
        { name: 's1', values: [1, 2, 3] },
        { name: 's2', values: [4, null, 6] },
      ],
      yLabel: 'ms',
    });
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.ok(svg.trimEnd().endsWith('</svg>'));
    assert.ok(svg.includes('T &lt;&amp;&gt;'));
    // 5 bars + background + 2 legend swatches
    assert.equal((svg.match(/<rect /g) ?? []).length, 8);
    assert.equal((svg.match(/>n\/a</g) ?? []).length, 1);
  });
  it('line and stacked charts, log scale; a series of the wrong length is refused', () => {
    const line = renderChart({
      title: 'L',
      kind: 'line',
      categories: ['1', '2'],
      series: [{ name: 'x', values: [1, 2] }],
      yLabel: 'y',
    });
    assert.equal((line.match(/<circle /g) ?? []).length, 2);
    const log = renderChart({
      title: 'G',
      kind: 'bar',
      logY: true,
      categories: ['1'],
      series: [{ name: 'x', values: [500] }],
      yLabel: 'y',
    });
    assert.ok(log.includes('(log scale)'));
    assert.throws(
      () =>
        renderChart({
          title: 'X',
          kind: 'stacked',
          categories: ['1', '2'],
          series: [{ name: 'x', values: [1] }],
          yLabel: 'y',
        }),
      /1 values for 2 categories/,
    );
  });
  it('round ticks', () => {
    assert.deepEqual(niceTicks(9.3), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(niceTicks(0.42), [0, 0.1, 0.2, 0.3, 0.4, 0.5]);
    assert.deepEqual(formatTable({ columns: ['a', 'b'], rows: [['x', 1.5]] }).split('\n')[2], 'x  1.500');
  });
});

describe('experiments', () => {
  it('ecc: software measured on a Cortex-M3, the PKA an estimate, the paper’s 18× only a reference mark', async () => {
    const r = await findExperiment('ecc')!.run(fixedContext({}));
    assert.equal(r.table.rows.length, 4);
    const verify = r.table.rows.find((x) => x[0] === 'ecdsa_verify')!;
    assert.equal(verify[2], CC2538_HW.crypto.ecdsa_verify * 1000);
    assert.equal(verify[3], Number((CC2538_SW.crypto.ecdsa_verify * 1000).toFixed(3)));
    // Software = measured instructions × CPI 1.75 at 32 MHz, not 18 × the hardware figure.
    assert.equal(
      CC2538_SW.crypto.ecdsa_verify,
      (MEASURED_ECC.instructions.ecdsa_verify.mean * CPI_RANGE.mid) / CC2538_SW.cpuHz,
    );
    for (const row of r.table.rows) assert.notEqual(row[5], 18);
    assert.ok('series' in r.chart && r.chart.refs?.every((x) => x.label.includes('paper')));
    assert.ok('series' in r.chart && r.chart.series.some((s) => s.estimate && s.name.includes('estimate')));
  });

  it('ecc-sweep: the X.509 handshake falls as the PKA speed-up grows and is drawn against the paper’s 4 s', async () => {
    const r = await findExperiment('ecc-sweep')!.run(engineContext());
    const nullrdc = r.table.rows.filter((x) => x[1] === 'nullrdc').map((x) => x[2] as number);
    assert.equal(nullrdc.length, 6);
    for (let i = 1; i < 5; i++) assert.ok(nullrdc[i] < nullrdc[i - 1], nullrdc.join(' > '));
    assert.ok('series' in r.chart && r.chart.refs?.[0].value === 4000);
  });

  it('modes without a transcript print "not yet measured", never a number', async () => {
    for (const name of ['handshake-time', 'energy', 'message-time']) {
      const r = await findExperiment(name)!.run(fixedContext({}));
      assert.ok(r.table.rows.length > 0);
      for (const row of r.table.rows) assert.ok(row.includes(NOT_MEASURED), `${name}: ${row.join(' | ')}`);
      for (const s of 'series' in r.chart ? r.chart.series : [])
        assert.ok(
          s.values.every((v) => v === null),
          `${name} chart`,
        );
    }
  });

  it('handshake-time with our engine: PSK measured under both RDCs, ContikiMAC slower than NullRDC', async () => {
    const r = await findExperiment('handshake-time')!.run(engineContext());
    const psk = r.table.rows.filter((x) => x[0] === 'psk' && x[2] === 0 && x[8] === 'no');
    assert.equal(psk.length, 2);
    const [cm, nr] = psk.map((x) => x[3] as number);
    assert.ok(typeof cm === 'number' && typeof nr === 'number' && cm > nr && nr > 0, `${cm} vs ${nr}`);
    assert.equal(psk[0][4], 0); // no ECC in PSK
    // On a lossy link NullRDC's CSMA gives up on some frames and DTLS retransmits after 1 s.
    const lossy = r.table.rows.filter((x) => x[0] === 'psk' && x[2] === 0.4);
    // ContikiMAC keeps strobing the first frame of each datagram (only burst fragments can fail).
    assert.ok((lossy[1][7] as number) > 3 * (lossy[0][7] as number));
    assert.ok((lossy[1][3] as number) > nr);
  });

  it('rdc-crossover: with the busy receiver at 8 Hz ContikiMAC beats NullRDC for X.509 on a clean link, not at 4 or 16 Hz', async () => {
    const r = await findExperiment('rdc-crossover')!.run(engineContext());
    const row = (mode: string, hz: number) => r.table.rows.find((x) => x[0] === mode && x[1] === hz)!;
    const pair = (cell: unknown) => String(cell).split(' / ').map(Number);
    const [nr8, cm8] = pair(row('x509', 8)[4]);
    assert.ok(cm8 < nr8, `8 Hz: contikimac ${cm8} vs nullrdc ${nr8}`);
    for (const hz of [4, 16]) {
      const [nr, cm] = pair(row('x509', hz)[4]);
      assert.ok(cm > nr, `${hz} Hz: contikimac ${cm} vs nullrdc ${nr}`);
    }
    // Without the busy receiver NullRDC wins on a clean link at every rate.
    for (const hz of [2, 4, 8, 16, 32]) {
      const [nr, cm] = pair(row('x509', hz)[3]);
      assert.ok(nr < cm);
    }
    assert.ok('panels' in r.chart && r.chart.panels.length === 3);
    // With a 2 s initial DTLS timeout (4th point of the third panel) RPK is in the paper's order too.
    const rto = 'panels' in r.chart ? r.chart.panels[2].series : [];
    const at2s = (name: string) => rto.find((x) => x.name === name)!.values[3] as number;
    assert.ok(at2s('rpk, contikimac') < at2s('rpk, nullrdc'), `${at2s('rpk, contikimac')} vs ${at2s('rpk, nullrdc')}`);
  });

  it('whatif: on-paper protocols are labelled and hatched; EDHOC is far smaller than our DTLS 1.2', async () => {
    const r = await findExperiment('whatif')!.run(engineContext());
    const bytes = (label: string) => r.table.rows.find((x) => String(x[0]).startsWith(label))![2] as number;
    for (const row of r.table.rows.filter((x) => !String(x[0]).includes('(ours)')))
      assert.match(String(row[1]), /on paper|measured here|from the issue, not measured here/);
    // The third-party peers beside ours: OpenSSL, GnuTLS and libcoap measured here, tinydtls quoted.
    for (const peer of ['openssl', 'gnutls', 'libcoap']) {
      const row = r.table.rows.find((x) => String(x[0]).endsWith(`(${peer})`));
      assert.ok(row, peer);
      assert.match(String(row[1]), /^measured here \(.+, \d{4}-\d{2}-\d{2}\)$/);
      assert.ok((row[2] as number) > 0);
    }
    assert.equal(bytes('DTLS 1.2, psk (tinydtls)'), 485);
    assert.match(
      String(r.table.rows.find((x) => String(x[0]) === 'DTLS 1.2, psk (tinydtls)')![1]),
      /not measured here/,
    );
    assert.ok(bytes('DTLS 1.2, psk lean') < bytes('DTLS 1.2, psk (openssl)'));
    assert.ok(bytes('EDHOC method 3') * 5 < bytes('DTLS 1.2, rpk'));
    // The lean profile, measured: within tinydtls's 485 B (PSK) and 1 158 B (RPK mutual), below our default.
    assert.ok(bytes('DTLS 1.2, psk lean') <= 485, `${bytes('DTLS 1.2, psk lean')}`);
    assert.ok(bytes('DTLS 1.2, rpk lean') <= 1158, `${bytes('DTLS 1.2, rpk lean')}`);
    assert.ok(bytes('DTLS 1.2, x509 lean') < bytes('DTLS 1.2, x509'));
    assert.match(String(r.table.rows.find((x) => String(x[0]).includes('lean'))![1]), /measured/);
    assert.ok('panels' in r.chart && r.chart.panels.every((p) => p.series.some((s) => s.estimateAt?.includes(true))));
  });

  it('rtt-size cross-checks the record size and AES block count against our engine', async () => {
    const r = await findExperiment('rtt-size')!.run(engineContext());
    assert.ok(
      r.notes.some((n) => n.includes('as a 93-byte record') && n.includes('sealed with 11 AES blocks')),
      r.notes.join('\n'),
    );
  });

  it('rtt-size: DTLS fragments at 64 B where UDP does not', async () => {
    const r = await findExperiment('rtt-size')!.run(fixedContext({}));
    const row64 = r.table.rows.find((x) => x[0] === 64)!;
    assert.deepEqual([row64[1], row64[2]], [1, 2]);
    assert.ok((row64[4] as number) > (row64[3] as number));
  });

  it('rtt-hops: the RTT grows faster per hop with DTLS than with UDP', async () => {
    const r = await findExperiment('rtt-hops')!.run(fixedContext({}));
    const last = r.table.rows[r.table.rows.length - 1];
    assert.ok((last[4] as number) > (last[3] as number));
  });

  it('runExperiment writes the SVG and the Markdown table; the CLI refuses unknown names', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ss-eval-'));
    try {
      await runExperiment(findExperiment('rtt-hops')!, { ctx: fixedContext({}), outDir: dir });
      assert.ok((await readFile(join(dir, 'rtt-hops.svg'), 'utf8')).startsWith('<svg'));
      assert.ok((await readFile(join(dir, 'rtt-hops.md'), 'utf8')).includes('| hops |'));
      assert.equal(await evalCli(['nope', '--out', dir]), 2);
      assert.equal(await evalCli([]), 2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    assert.deepEqual(
      EXPERIMENTS.map((e) => e.name),
      [
        'handshake-time',
        'rdc-crossover',
        'message-time',
        'ecc',
        'ecc-sweep',
        'energy',
        'rtt-size',
        'rtt-hops',
        'memory',
        'distributions',
        'lifetime',
        'whatif',
        'oscore',
      ],
    );
  });
});

describe('plan', () => {
  const base = {
    mode: 'x509' as const,
    role: 'client' as const,
    hops: 1,
    payloadBytes: 64,
    intervalSeconds: 60,
    profile: CC2538_HW,
    batteryMah: 2400,
    rehandshakeHours: 24,
    lossRate: 0,
  };
  it('NullRDC: the always-on radio (24 mA · 3 V = 72 mW) bounds a 2400 mAh battery to ~4.17 days', () => {
    const r = plan({ ...base, rdc: 'nullrdc' }, new EngineUnavailableError('x509', 'test'));
    assert.ok('notMeasured' in r.handshake);
    assert.ok(Math.abs(r.idlePowerMw - 72) < 1e-9);
    // 2.4 Ah · 3600 · 3 V = 25 920 J; / 0.072 W = 360 000 s = 4.1667 days, less the reports.
    assert.ok(r.batteryDays < 25920 / 0.072 / 86400 && r.batteryDays > 4.1, String(r.batteryDays));
  });
  it('ContikiMAC lives far longer; longer intervals live longer; bad input is refused', () => {
    const u = new EngineUnavailableError('x509', 'test');
    const cm = plan({ ...base, rdc: 'contikimac' }, u);
    const sparse = plan({ ...base, rdc: 'contikimac', intervalSeconds: 600 }, u);
    assert.ok(cm.batteryDays > 30 * 4.17);
    assert.ok(sparse.batteryDays > cm.batteryDays);
    assert.equal(cm.report.framesUp, 2);
    assert.throws(() => plan({ ...base, rdc: 'contikimac', intervalSeconds: 0 }, u), /interval/);
  });
  it('PM2 sleep (1.3 µA) outlives the paper’s PM1 (0.6 mA) several times, and then the security mode shows', async () => {
    const full = await transcriptFor('x509');
    const resume = await transcriptFor('x509', { resume: true });
    const hourly = { ...base, rdc: 'contikimac' as const, rehandshakeHours: 1 };
    const pm1 = plan({ ...hourly, sleepMode: 'pm1' }, full);
    const pm2 = plan({ ...hourly, sleepMode: 'pm2' }, full);
    const pm2r = plan({ ...hourly, sleepMode: 'pm2', rehandshakeKind: 'resume' }, full, resume);
    assert.ok(pm2.idlePowerMw < pm1.idlePowerMw / 10);
    assert.ok(pm2.batteryDays > 5 * pm1.batteryDays, `${pm2.batteryDays} vs ${pm1.batteryDays}`);
    // Resuming instead of a full X.509 handshake every hour: no ECC, so more than 10% longer life under PM2.
    assert.ok(pm2r.resumption && !('notMeasured' in pm2r.resumption));
    assert.ok(pm2r.batteryDays > 1.1 * pm2.batteryDays, `${pm2r.batteryDays} vs ${pm2.batteryDays}`);
    assert.ok(pm2r.caveats.some((c) => c.includes('PM2')));
    // Without a resumption transcript the plan says so and counts full handshakes.
    const missing = plan({ ...hourly, sleepMode: 'pm2', rehandshakeKind: 'resume' }, full);
    assert.ok(missing.resumption && 'notMeasured' in missing.resumption);
    assert.equal(missing.batteryDays, pm2.batteryDays);
  });
});

const BIN = fileURLToPath(new URL('../../bin/securesense.mjs', import.meta.url));

/** Runs the real `securesense` command in a child process (the test runner owns this one's stdout). */
function capture(args: string[], cli: 'plan' | 'eval' = 'plan'): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, cli, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}

describe('securesense eval transcript (CLI)', () => {
  it('prints the recorded PSK transcript as JSON; an unknown mode exits 2', async () => {
    const r = await capture(['transcript', 'psk', '--json'], 'eval');
    assert.equal(r.code, 0, r.err);
    const t = JSON.parse(r.out) as { source: string; flights: { messages: { type: string }[] }[] };
    assert.equal(t.source, 'engine');
    assert.deepEqual(
      t.flights[4].messages.map((m) => m.type),
      ['client_key_exchange', 'change_cipher_spec', 'finished'],
    );
    assert.equal((await capture(['transcript', 'tls13'], 'eval')).code, 2);
  });
});

describe('securesense plan (CLI)', () => {
  it('--json prints one object with the PSK handshake measured from our engine', async () => {
    const r = await capture(['--mode', 'psk', '--hops', '2', '--payload', '32', '--rdc', 'nullrdc', '--json']);
    assert.equal(r.code, 0, r.err);
    const o = JSON.parse(r.out) as { handshake: { seconds: number; bytes: number }; report: { framesUp: number } };
    assert.ok(o.handshake.seconds > 0 && o.handshake.bytes > 0);
    assert.equal(o.report.framesUp, 1); // 32 + 29 = 61 B record: 18 + 61 = 79 ≤ 104
  });

  it('phase-lock cuts ContikiMAC energy but not latency; bad flags exit 2 with a clear message', async () => {
    const plain = JSON.parse((await capture(['--json'])).out) as { handshake: { seconds: number; energyMj: number } };
    const locked = JSON.parse((await capture(['--json', '--phase-lock'])).out) as typeof plain;
    assert.ok(locked.handshake.energyMj < plain.handshake.energyMj / 2);
    assert.ok(Math.abs(locked.handshake.seconds - plain.handshake.seconds) < 1e-9);
    const bad = await capture(['--hops', 'x']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /bad value for --hops: x/);
    assert.equal((await capture(['--rdc', 'nullrdc', '--phase-lock'])).code, 2);
    assert.equal((await capture(['--frobnicate'])).code, 2);
    const sleep = await capture(['--sleep', 'pm4']);
    assert.equal(sleep.code, 2);
    assert.match(sleep.err, /bad value for --sleep: pm4/);
    const resumed = JSON.parse((await capture(['--json', '--sleep', 'pm2', '--rehandshake', 'resume'])).out) as {
      resumption: { seconds: number; energyMj: number };
      input: { sleepMode: string };
    };
    assert.equal(resumed.input.sleepMode, 'pm2');
    assert.ok(resumed.resumption.energyMj > 0 && resumed.resumption.seconds > 0);
  });
});

describe('memory', () => {
  it('per-session state by the RFCs: 164 bytes common + what names the peer', async () => {
    const { sessionBytes } = await import('../../src/eval/memory.ts');
    // 48 master secret + 40 keys/salts + 8 write + 16 read/replay + 32 session id + 2 suite + 18 address
    assert.equal(sessionBytes('psk'), 164 + 17);
    assert.equal(sessionBytes('rpk'), 164 + 64);
    assert.equal(sessionBytes('x509'), 164 + 96);
  });
  it('our DTLS server keeps some heap per PSK session (measured in a child process)', async () => {
    const { measureCloudHeap } = await import('../../src/eval/memory.ts');
    const perSession = await measureCloudHeap('psk', 100);
    assert.equal(typeof perSession, 'number', String(perSession));
    assert.ok((perSession as number) > 1000, `${perSession} bytes per session`);
  });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../src/device/backoff.ts';
import { CommandSensor, readAll, SIMULATED, SimulatedSensor, toJson, toSenml } from '../../src/device/sensors.ts';

test('simulated temperature stays near its daily cycle and varies between readings', async () => {
  const s = new SimulatedSensor(SIMULATED.temperature);
  const noon = new Date('2026-06-01T15:00:00Z');
  const values: number[] = [];
  for (let i = 0; i < 200; i++) values.push((await s.read(noon))[0].value);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  // At the peak hour the cycle adds the full amplitude: 21.5 + 2.0.
  assert.ok(Math.abs(mean - 23.5) < 0.5, `mean ${mean}`);
  assert.ok(new Set(values).size > 20, 'readings must not be constant');
});

test('simulated humidity is clamped to 0–100 %', async () => {
  const s = new SimulatedSensor({ ...SIMULATED.humidity, mean: 99, noise: 5 });
  for (let i = 0; i < 100; i++) {
    const v = (await s.read())[0].value;
    assert.ok(v >= 0 && v <= 100, `humidity ${v}`);
  }
});

test('command sensor reads a number, a JSON object, and reports failures', async () => {
  assert.deepEqual(await new CommandSensor('echo 42.5', 'load', '%').read(), [
    { name: 'load', value: 42.5, unit: '%' },
  ]);
  const multi = await new CommandSensor(`echo '{"a":1,"b":2.5,"c":"x"}'`).read();
  assert.deepEqual(
    multi.map((r) => [r.name, r.value]),
    [
      ['a', 1],
      ['b', 2.5],
    ],
  );
  await assert.rejects(new CommandSensor('echo hello').read(), /neither a number/);
  await assert.rejects(new CommandSensor('exit 3').read(), /failed/);
});

test('readAll keeps the good readings when one sensor fails', async () => {
  const { readings, errors } = await readAll([new CommandSensor('echo 1', 'x'), new CommandSensor('exit 1')]);
  assert.equal(readings.length, 1);
  assert.equal(errors.length, 1);
});

test('SenML and JSON renderings', () => {
  const now = new Date(1_700_000_000_000);
  const r = [
    { name: 'temperature', value: 21.5, unit: 'Cel' },
    { name: 'humidity', value: 40, unit: '%RH' },
  ];
  assert.deepEqual(toSenml('urn:dev:1:', r, now), [
    { bn: 'urn:dev:1:', bt: 1_700_000_000, n: 'temperature', u: 'Cel', v: 21.5 },
    { n: 'humidity', u: '%RH', v: 40 },
  ]);
  assert.deepEqual(toJson(r), { temperature: 21.5, humidity: 40 });
});

test('backoff doubles its ceiling up to the maximum and resets on success', () => {
  const b = new Backoff(100, 1000);
  const ceilings: number[] = [];
  for (let i = 0; i < 6; i++) {
    ceilings.push(b.ceilingMs);
    const wait = b.fail();
    assert.ok(wait >= 0 && wait <= ceilings[i], `wait ${wait} within ${ceilings[i]}`);
  }
  assert.deepEqual(ceilings, [100, 200, 400, 800, 1000, 1000]);
  b.succeed();
  assert.equal(b.ceilingMs, 100);
});

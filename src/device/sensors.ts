/**
 * The device agent's sensors. Simulated ones follow a slow daily cycle with a random walk and
 * measurement noise, so that charts of their streams look like a real room rather than white noise;
 * a command sensor runs a program and reads a number (or a JSON object) from its output.
 */
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { SensorError } from './errors.ts';

export interface Reading {
  /** Stream-friendly name, e.g. `temperature`. */
  name: string;
  value: number;
  unit: string;
}

export interface Sensor {
  read(now?: Date): Promise<Reading[]>;
}

/** Uniform in [0, 1) from node:crypto, so that two devices started together do not read the same series. */
function uniform(): number {
  return randomInt(0, 2 ** 48 - 1) / 2 ** 48;
}

/** Standard normal deviate (Box–Muller). */
function gaussian(): number {
  let u = 0;
  while (u === 0) u = uniform();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
}

export interface SimulatedSpec {
  name: string;
  unit: string;
  /** Mean value over a day. */
  mean: number;
  /** Half the peak-to-peak daily swing. */
  amplitude: number;
  /** Hour of the day (0–24) at which the daily cycle peaks. */
  peakHour: number;
  /** Standard deviation of the per-reading measurement noise. */
  noise: number;
  /** Standard deviation of each random-walk step (drift that persists between readings). */
  drift: number;
  min?: number;
  max?: number;
  /** Decimal places the device reports. */
  decimals: number;
}

export const SIMULATED: Record<'temperature' | 'humidity' | 'power', SimulatedSpec> = {
  temperature: {
    name: 'temperature',
    unit: 'Cel',
    mean: 21.5,
    amplitude: 2.0,
    peakHour: 15,
    noise: 0.05,
    drift: 0.02,
    decimals: 2,
  },
  humidity: {
    name: 'humidity',
    unit: '%RH',
    mean: 45,
    amplitude: 8,
    peakHour: 5,
    noise: 0.4,
    drift: 0.1,
    min: 0,
    max: 100,
    decimals: 1,
  },
  power: { name: 'power', unit: 'W', mean: 120, amplitude: 60, peakHour: 19, noise: 4, drift: 1, min: 0, decimals: 1 },
};

/** One simulated quantity: daily sine + bounded random walk + noise. */
export class SimulatedSensor implements Sensor {
  private walk = 0;
  constructor(private readonly spec: SimulatedSpec) {}

  async read(now = new Date()): Promise<Reading[]> {
    const s = this.spec;
    const hour = now.getUTCHours() + now.getUTCMinutes() / 60 + now.getUTCSeconds() / 3600;
    const daily = s.amplitude * Math.cos(((hour - s.peakHour) / 24) * 2 * Math.PI);
    // The walk is pulled back towards zero so that it cannot wander off over a long run.
    this.walk = this.walk * 0.98 + s.drift * gaussian();
    let v = s.mean + daily + this.walk + s.noise * gaussian();
    if (s.min !== undefined) v = Math.max(s.min, v);
    if (s.max !== undefined) v = Math.min(s.max, v);
    const f = 10 ** s.decimals;
    return [{ name: s.name, value: Math.round(v * f) / f, unit: s.unit }];
  }
}

/**
 * Runs `command` through `/bin/sh -c` and reads its standard output: either one number (reported
 * as `name`) or a flat JSON object of numbers (each key a reading). Fails on a non-zero exit, a
 * time-out or output that is neither.
 */
export class CommandSensor implements Sensor {
  constructor(
    private readonly command: string,
    private readonly name = 'value',
    private readonly unit = '',
    private readonly timeoutMs = 5000,
  ) {}

  read(): Promise<Reading[]> {
    return new Promise((resolve, reject) => {
      execFile('/bin/sh', ['-c', this.command], { timeout: this.timeoutMs, maxBuffer: 64 * 1024 }, (err, stdout) => {
        if (err) return reject(new SensorError(`sensor command failed: ${err.message}`));
        const text = stdout.trim();
        const n = Number(text);
        if (text !== '' && Number.isFinite(n)) return resolve([{ name: this.name, value: n, unit: this.unit }]);
        try {
          const obj = JSON.parse(text) as unknown;
          if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
            const out: Reading[] = [];
            for (const [k, v] of Object.entries(obj)) {
              if (typeof v === 'number' && Number.isFinite(v)) out.push({ name: k, value: v, unit: '' });
            }
            if (out.length > 0) return resolve(out);
          }
        } catch {
          // fall through to the error below
        }
        reject(
          new SensorError(`sensor command printed neither a number nor a JSON object of numbers: ${text.slice(0, 80)}`),
        );
      });
    });
  }
}

/** Reads every sensor; one failing sensor does not hide the others' readings. */
export async function readAll(sensors: Sensor[], now = new Date()): Promise<{ readings: Reading[]; errors: Error[] }> {
  const results = await Promise.allSettled(sensors.map((s) => s.read(now)));
  const readings: Reading[] = [];
  const errors: Error[] = [];
  for (const r of results) {
    if (r.status === 'fulfilled') readings.push(...r.value);
    else errors.push(r.reason instanceof Error ? r.reason : new SensorError(String(r.reason)));
  }
  return { readings, errors };
}

/** Readings as a SenML pack (RFC 8428) with a base name and time, the format the platform parses. */
export function toSenml(baseName: string, readings: Reading[], now = new Date()): object[] {
  return readings.map((r, i) => ({
    ...(i === 0 ? { bn: baseName, bt: now.getTime() / 1000 } : {}),
    n: r.name,
    u: r.unit || undefined,
    v: r.value,
  }));
}

/** Readings as the flat JSON object that SicsthSense's auto-parser turns into one stream per key. */
export function toJson(readings: Reading[]): Record<string, number> {
  return Object.fromEntries(readings.map((r) => [r.name, r.value]));
}

/**
 * Readings as a JSON object of `{ value, time, unit }` per key — what the agent pushes as
 * `application/json`. The platform's auto-parser still makes one stream per key (a `{value, time}`
 * leaf is one point, RFC 6901 path `/temperature`), and each point keeps the time it was measured
 * even when it was queued while the cloud was unreachable (a flat `{ temperature: 21.5 }` would be
 * stamped with its arrival time). `time` is in ms since the epoch.
 */
export function toTimedJson(
  readings: Reading[],
  now = new Date(),
): Record<string, { value: number; time: number; unit?: string }> {
  const t = now.getTime();
  return Object.fromEntries(
    readings.map((r) => [r.name, r.unit ? { value: r.value, time: t, unit: r.unit } : { value: r.value, time: t }]),
  );
}

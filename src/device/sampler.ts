/**
 * The agent's sampler: reads every sensor each interval, one read at a time (a slow command sensor
 * must not pile up overlapping reads), numbers the samples and keeps the latest for the server.
 */
import { DeviceConfigError } from './errors.ts';
import type { Sample } from './queue.ts';
import { readAll, type Sensor, SIMULATED, SimulatedSensor } from './sensors.ts';

/** The simulated sensors the agent knows by name. */
export type SimulatedSensorName = keyof typeof SIMULATED;

export const SIMULATED_SENSOR_NAMES = Object.keys(SIMULATED) as SimulatedSensorName[];

/** Sensors from names (simulated ones) or given {@link Sensor}s; refuses an empty list or an unknown name. */
export function sensorsFrom(names: ReadonlyArray<SimulatedSensorName | Sensor>): Sensor[] {
  if (names.length === 0) throw new DeviceConfigError('DeviceAgent: no sensors');
  return names.map((s) => {
    if (typeof s !== 'string') return s;
    const spec = SIMULATED[s];
    if (!spec) throw new DeviceConfigError(`unknown sensor '${s}' (known: ${SIMULATED_SENSOR_NAMES.join(', ')})`);
    return new SimulatedSensor(spec);
  });
}

export class Sampler {
  private timer?: NodeJS.Timeout;
  private sampling = false;
  private stopped = false;
  private seq = 0;
  /** The last sample taken. */
  latest?: Sample;
  /** Samples taken (with at least one reading). */
  count = 0;

  constructor(
    private readonly sensors: Sensor[],
    private readonly intervalMs: number,
    private readonly onSample: (s: Sample) => void,
    private readonly onError: (message: string) => void,
  ) {}

  /** The next sequence number, for samples taken over from the state file. */
  nextSeq(): number {
    return ++this.seq;
  }

  /** Reads every sensor; undefined when none gave a reading (their errors are reported). */
  async read(): Promise<Sample | undefined> {
    const time = new Date();
    const { readings, errors } = await readAll(this.sensors, time);
    for (const e of errors) this.onError(e.message);
    if (readings.length === 0 || this.stopped) return undefined;
    this.count++;
    const s: Sample = { seq: this.nextSeq(), time, readings };
    this.latest = s;
    return s;
  }

  /** Samples every interval from now on. */
  start(): void {
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.sampling || this.stopped) return;
    this.sampling = true;
    try {
      const s = await this.read();
      if (s && !this.stopped) this.onSample(s);
    } finally {
      this.sampling = false;
    }
  }
}

/**
 * SecureSense device agent — the public API. Everything exported here is public; the CLI
 * (`securesense device run`, src/cli/device-run.ts) is a thin wrapper over {@link DeviceAgent}.
 *
 * ```ts
 * import { DeviceAgent } from './src/device/index.ts';
 * const agent = new DeviceAgent({ push: 'coaps://127.0.0.1/users/1/resources/7/data', security: { psk }, intervalMs: 5000 });
 * agent.on('event', (e) => console.log(JSON.stringify(e)));
 * await agent.start();
 * ```
 */

export { type PskCredential, pskLookup } from '../dtls/credentials/psk.ts';
export {
  type AgentEvent,
  type AgentStats,
  DeviceAgent,
  type DeviceAgentOptions,
  type PayloadFormat,
  type ServeDtlsOptions,
  type ServeOptions,
  SIMULATED_SENSOR_NAMES,
  type SimulatedSensorName,
} from './agent.ts';
export { Backoff } from './backoff.ts';
export { DEFAULT_QUEUE_LIMIT, type Sample, SampleQueue } from './queue.ts';
export {
  CommandSensor,
  type Reading,
  readAll,
  type Sensor,
  SIMULATED,
  SimulatedSensor,
  type SimulatedSpec,
  toJson,
  toSenml,
  toTimedJson,
} from './sensors.ts';
export { type AgentState, loadState, type SavedSample, type SavedSession, saveState } from './state.ts';

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
} from './agent.ts';
export { Backoff } from './backoff.ts';
export { DeviceConfigError, DeviceError, PushRejectedError, SensorError, StateFileError } from './errors.ts';
export { type HandshakeReport, PushLink, type PushLinkOptions } from './link.ts';
export { type PayloadFormat, renderSample } from './payload.ts';
export { DEFAULT_QUEUE_LIMIT, type Sample, SampleQueue } from './queue.ts';
export { Sampler, SIMULATED_SENSOR_NAMES, type SimulatedSensorName, sensorsFrom } from './sampler.ts';
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
export { SensorServer, type SensorServerOptions, type ServeDtlsOptions, type ServeOptions } from './server.ts';
export {
  type AgentState,
  loadState,
  type SavedSample,
  type SavedSession,
  StateWriter,
  saveState,
} from './state.ts';

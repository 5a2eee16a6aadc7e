/**
 * `securesense device run …`: the device agent at the command line (src/device/agent.ts).
 *
 *   securesense device run --push coap[s]://HOST[:PORT]/PATH | --serve PORT | --serve-dtls PORT
 *       [--interval SECONDS] [--sensors temperature,humidity,power] [--command 'CMD' [--command-name NAME]]
 *       [--format json|senml] [--con|--non] [--state FILE] [--queue N] [--duration SECONDS]
 *       [--psk ID:HEX …] [--cert F --key F] [--ca F …] [--rpk-key F] [--trust-rpk F …]
 *       [--no-verify-name] [--client-auth none|want|need]
 *
 * One JSON line per event on stdout (DESIGN.md "Tools at the command line"), a human line on
 * stderr for each error. Ctrl-C (SIGINT) or SIGTERM stops the agent, which closes its DTLS session
 * with close_notify, and exits 0. Exit 2 on bad usage, 1 when the agent cannot start.
 */
import { type AgentEvent, DeviceAgent, type DeviceAgentOptions, SIMULATED_SENSOR_NAMES } from '../device/agent.ts';
import { DEFAULT_QUEUE_LIMIT } from '../device/queue.ts';
import { CommandSensor, type Sensor } from '../device/sensors.ts';
import { command, type OptionTable, UsageError, type Values } from './args.ts';
import { parseSecurityFlags } from './device-security.ts';
import { CREDENTIAL_OPTIONS } from './security-flags.ts';

const OPTIONS = {
  push: { type: 'string', arg: 'URI', help: 'POST every sample to URI (coap:// or coaps://)' },
  serve: { type: 'string', arg: 'PORT', help: 'serve /sensors, /sensors/NAME and /.well-known/core over CoAP (UDP)' },
  'serve-dtls': { type: 'string', arg: 'PORT', help: 'the same over CoAP over DTLS (needs --psk)' },
  host: { type: 'string', arg: 'ADDR', help: 'bind address of the servers (default 0.0.0.0)' },
  interval: { type: 'string', arg: 'SECONDS', help: 'sampling interval (default 10; fractions allowed)' },
  sensors: {
    type: 'string',
    arg: 'LIST',
    help: `simulated sensors, comma-separated: ${SIMULATED_SENSOR_NAMES.join(',')} (default all; none with --command)`,
  },
  command: {
    type: 'string',
    arg: 'CMD',
    help: 'a sensor that runs CMD and reads a number or a JSON object of numbers',
  },
  'command-name': {
    type: 'string',
    arg: 'NAME',
    help: "the stream name of a command that prints one number (default 'value')",
  },
  'command-unit': { type: 'string', arg: 'UNIT', help: 'its unit (default none)' },
  format: { type: 'string', arg: 'FMT', help: 'push payload: json (application/json, default) or senml' },
  'base-name': { type: 'string', arg: 'BN', help: 'SenML base name (e.g. urn:dev:mac:0024befffe804ff1:)' },
  con: { type: 'boolean', help: 'Confirmable pushes (the default)' },
  non: { type: 'boolean', help: 'Non-confirmable pushes' },
  state: {
    type: 'string',
    arg: 'FILE',
    help: 'keep the resumable DTLS session and, on exit, the unsent samples here (mode 0600)',
  },
  queue: {
    type: 'string',
    arg: 'N',
    help: `samples kept while the cloud is unreachable (default ${DEFAULT_QUEUE_LIMIT})`,
  },
  'ack-timeout': { type: 'string', arg: 'SECONDS', help: 'CoAP ACK_TIMEOUT (default 2)' },
  'backoff-max': {
    type: 'string',
    arg: 'SECONDS',
    help: 'longest wait between attempts when the cloud is unreachable (default 300)',
  },
  duration: { type: 'string', arg: 'SECONDS', help: 'stop after this long (default: run until Ctrl-C)' },
  ...CREDENTIAL_OPTIONS,
} as const satisfies OptionTable;

function seconds(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} wants a number of seconds ≥ ${min}, got '${v}'`);
  return n;
}

function port(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UsageError(`--${name} wants a UDP port 0..65535, got '${v}'`);
  return n;
}

/** Builds the agent's options from the command line; throws UsageError for bad flags. */
export function agentOptions(values: Values<typeof OPTIONS>): { options: DeviceAgentOptions; durationMs?: number } {
  if (!values.push && values.serve === undefined && values['serve-dtls'] === undefined)
    throw new UsageError('give --push URI, --serve PORT or --serve-dtls PORT');
  if (values.con && values.non) throw new UsageError('--con and --non exclude each other');
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'senml') throw new UsageError(`--format is json or senml, got '${format}'`);
  if ((values['command-name'] || values['command-unit']) && !values.command)
    throw new UsageError('--command-name/--command-unit go with --command');

  const sensors: Array<(typeof SIMULATED_SENSOR_NAMES)[number] | Sensor> = [];
  if (values.sensors !== undefined) {
    for (const s of values.sensors.split(',').map((x) => x.trim())) {
      if (!(SIMULATED_SENSOR_NAMES as string[]).includes(s))
        throw new UsageError(`unknown sensor '${s}' (known: ${SIMULATED_SENSOR_NAMES.join(', ')})`);
      sensors.push(s as (typeof SIMULATED_SENSOR_NAMES)[number]);
    }
  } else if (!values.command) sensors.push(...SIMULATED_SENSOR_NAMES);
  if (values.command) sensors.push(new CommandSensor(values.command, values['command-name'], values['command-unit']));

  let sec: ReturnType<typeof parseSecurityFlags>;
  try {
    sec = parseSecurityFlags(values);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.push?.toLowerCase().startsWith('coaps:') && !sec.client)
    throw new UsageError('--push coaps://… needs --psk ID:HEX, or --ca / --trust-rpk to verify the server');
  if (values.state && !values.push) throw new UsageError('--state goes with --push');
  const servePort = port('serve', values.serve);
  const dtlsPort = port('serve-dtls', values['serve-dtls']);
  if (dtlsPort !== undefined && sec.psks.length === 0 && !sec.publicKey)
    throw new UsageError('--serve-dtls needs --psk ID:HEX (or public-key credentials)');
  const interval = seconds('interval', values.interval, 0.01) ?? 10;
  const queue = values.queue !== undefined ? Number(values.queue) : undefined;
  if (queue !== undefined && (!Number.isInteger(queue) || queue < 1))
    throw new UsageError(`--queue wants a positive integer, got '${values.queue}'`);
  const ackTimeout = seconds('ack-timeout', values['ack-timeout'], 0.01);
  const backoffMax = seconds('backoff-max', values['backoff-max'], 0.01);
  const duration = seconds('duration', values.duration, 0.01);

  const options: DeviceAgentOptions = {
    push: values.push,
    serve: servePort !== undefined ? { port: servePort, host: values.host } : undefined,
    serveDtls:
      dtlsPort !== undefined
        ? { port: dtlsPort, host: values.host, psk: sec.psks, publicKey: sec.publicKey }
        : undefined,
    sensors,
    intervalMs: Math.round(interval * 1000),
    format,
    baseName: values['base-name'],
    confirmable: !values.non,
    security: sec.client,
    stateFile: values.state,
    queueLimit: queue,
    coap: ackTimeout !== undefined ? { ackTimeout: Math.round(ackTimeout * 1000) } : undefined,
    backoff: backoffMax !== undefined ? { maxMs: Math.round(backoffMax * 1000) } : undefined,
  };
  return { options, durationMs: duration !== undefined ? Math.round(duration * 1000) : undefined };
}

export const run = command(
  {
    name: 'device run',
    usage: '--push coap[s]://HOST[:PORT]/PATH | --serve PORT | --serve-dtls PORT [options]',
    about:
      'The device agent: one JSON line per event on stdout. Ctrl-C or SIGTERM stops it (close_notify to the\n' +
      'cloud) and exits 0; exit 2 on bad usage, 1 when the agent cannot start.',
    options: OPTIONS,
  },
  async ({ values }) => {
    const parsed = agentOptions(values);
    let agent: DeviceAgent;
    try {
      agent = new DeviceAgent(parsed.options);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    return runAgent(agent, parsed.durationMs);
  },
);

async function runAgent(agent: DeviceAgent, durationMs: number | undefined): Promise<number> {
  agent.on('event', (e: AgentEvent) => {
    process.stdout.write(`${JSON.stringify(e)}\n`);
    if (e.event === 'error') process.stderr.write(`securesense device: ${e.where}: ${e.message}\n`);
  });
  try {
    await agent.start();
  } catch (err) {
    process.stderr.write(`securesense device run: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      if (timer) clearTimeout(timer);
      resolve();
    };
    const timer = durationMs !== undefined ? setTimeout(done, durationMs) : undefined;
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
  // close_notify to the cloud (RFC 5246 §7.2.1) before the process goes.
  await agent.stop();
  return 0;
}

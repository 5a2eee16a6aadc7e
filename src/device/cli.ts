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
import { parseArgs } from 'node:util';
import { type AgentEvent, DeviceAgent, type DeviceAgentOptions, SIMULATED_SENSOR_NAMES } from './agent.ts';
import { DEFAULT_QUEUE_LIMIT } from './queue.ts';
import { parseSecurityFlags, SECURITY_FLAGS } from './security.ts';
import { CommandSensor, type Sensor } from './sensors.ts';

const USAGE = `usage: securesense device run --push coap[s]://HOST[:PORT]/PATH | --serve PORT | --serve-dtls PORT [options]

  --push URI            POST every sample to URI (coap:// or coaps://)
  --serve PORT          serve /sensors, /sensors/NAME and /.well-known/core over CoAP (UDP)
  --serve-dtls PORT     the same over CoAP over DTLS (needs --psk)
  --host ADDR           bind address of the servers (default 0.0.0.0)
  --interval SECONDS    sampling interval (default 10; fractions allowed)
  --sensors LIST        simulated sensors, comma-separated: ${SIMULATED_SENSOR_NAMES.join(',')}
                        (default: all of them, or none when --command is given)
  --command 'CMD'       a sensor that runs CMD and reads a number or a JSON object of numbers
  --command-name NAME   the stream name of a command that prints one number (default 'value')
  --command-unit UNIT   its unit (default none)
  --format json|senml   push payload: application/json (default) or application/senml+json
  --base-name BN        SenML base name (e.g. urn:dev:mac:0024befffe804ff1:)
  --con | --non         Confirmable (default) or Non-confirmable pushes
  --state FILE          keep the resumable DTLS session and, on exit, the unsent samples here
                        (mode 0600): a restart resumes the session and sends them first
  --queue N             samples kept while the cloud is unreachable (default ${DEFAULT_QUEUE_LIMIT})
  --ack-timeout SECONDS CoAP ACK_TIMEOUT (default 2)
  --backoff-max SECONDS longest wait between attempts when the cloud is unreachable (default 300)
  --duration SECONDS    stop after this long (default: run until Ctrl-C)
security:
  --psk ID:HEX          PSK identity and key (hex); repeatable for --serve-dtls
  --cert F --key F      X.509 certificate (chain) and key;  --ca F  trust anchors (repeatable)
  --rpk-key F           raw public key (RFC 7250);  --trust-rpk F  pinned peer keys (repeatable)
  --no-verify-name      (push) accept a server certificate whatever names it carries
  --client-auth MODE    (--serve-dtls) none, want or need a client certificate / raw public key
`;

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

class UsageError extends Error {}

/** Builds the agent's options from the command line; throws UsageError for bad flags. */
export function agentOptions(args: string[]): { options: DeviceAgentOptions; durationMs?: number } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      push: { type: 'string' },
      serve: { type: 'string' },
      'serve-dtls': { type: 'string' },
      host: { type: 'string' },
      interval: { type: 'string' },
      sensors: { type: 'string' },
      command: { type: 'string' },
      'command-name': { type: 'string' },
      'command-unit': { type: 'string' },
      format: { type: 'string' },
      'base-name': { type: 'string' },
      con: { type: 'boolean' },
      non: { type: 'boolean' },
      state: { type: 'string' },
      queue: { type: 'string' },
      'ack-timeout': { type: 'string' },
      'backoff-max': { type: 'string' },
      duration: { type: 'string' },
      ...SECURITY_FLAGS,
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
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

  const sec = parseSecurityFlags(values);
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

export async function run(sub: string, args: string[]): Promise<number> {
  if (sub !== 'run' || args.includes('-h') || args.includes('--help')) {
    process.stderr.write(USAGE);
    return sub === 'run' ? 0 : 2;
  }
  let parsed: ReturnType<typeof agentOptions>;
  let agent: DeviceAgent;
  try {
    parsed = agentOptions(args);
    agent = new DeviceAgent(parsed.options);
  } catch (err) {
    process.stderr.write(`securesense device run: ${(err as Error).message}\n`);
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))
      process.stderr.write('(securesense device run --help for the options)\n');
    return 2;
  }
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
    const timer = parsed.durationMs !== undefined ? setTimeout(done, parsed.durationMs) : undefined;
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
  // close_notify to the cloud (RFC 5246 §7.2.1) before the process goes.
  await agent.stop();
  return 0;
}

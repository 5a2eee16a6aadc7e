/**
 * `securesense device run …`: the device agent at the command line (src/device/agent.ts).
 *
 *   securesense device run --push coap[s]://HOST[:PORT]/PATH | --serve PORT | --serve-dtls PORT
 *       [--interval SECONDS] [--sensors temperature,humidity,power] [--command 'CMD' [--command-name NAME]]
 *       [--format json|senml] [--con|--non] [--state FILE] [--queue N] [--duration SECONDS]
 *       [--psk ID:HEX …] [--cert F --key F] [--ca F …] [--rpk-key F] [--trust-rpk F …]
 *       [--oscore [--edhoc [--edhoc-combined] [--edhoc-x5t]] [--proxy coap://PROXY]]
 *       [--no-verify-name] [--client-auth none|want|need]
 *
 * One JSON line per event on stdout (DESIGN.md "Tools at the command line"), a human line on
 * stderr for each error. Ctrl-C (SIGINT) or SIGTERM stops the agent, which closes its DTLS session
 * with close_notify, and exits 0. Exit 2 on bad usage, 1 when the agent cannot start.
 */

import { type AgentEvent, DeviceAgent, type DeviceAgentOptions, SIMULATED_SENSOR_NAMES } from '../device/agent.ts';
import { DEFAULT_QUEUE_LIMIT } from '../device/queue.ts';
import { CommandSensor, type Sensor } from '../device/sensors.ts';
import { EdhocError, EdhocPeerError } from '../edhoc/errors.ts';
import { edhocClientContext } from '../edhoc/oscore-binding.ts';
import { OscoreContext } from '../oscore/context.ts';
import { pskOscoreParams } from '../oscore/psk-binding.ts';
import { FileSequenceStore } from '../oscore/sequence.ts';
import { command, type OptionTable, UsageError, type Values } from './args.ts';
import { parseSecurityFlags } from './device-security.ts';
import { edhocInitiatorFromFlags } from './edhoc-flags.ts';
import { CREDENTIAL_OPTIONS } from './security-flags.ts';

const OPTIONS = {
  push: { type: 'string', arg: 'URI', help: 'POST every sample to URI (coap:// or coaps://)' },
  oscore: {
    type: 'boolean',
    help: 'protect pushes with OSCORE (RFC 8613) keyed from --psk, as device add --oscore prints (needs --state)',
  },
  edhoc: {
    type: 'boolean',
    help: 'with --oscore: key OSCORE by EDHOC (RFC 9528) with --rpk-key or --cert/--key (as bound to the resource) and the platform key in --trust-rpk',
  },
  'edhoc-combined': {
    type: 'boolean',
    help: 'with --edhoc: send EDHOC message_3 in the first push (RFC 9668), one round trip less',
  },
  'edhoc-x5t': {
    type: 'boolean',
    help: 'with --edhoc --cert: refer to our (pinned) certificate by its hash instead of sending the chain',
  },
  proxy: { type: 'string', arg: 'URI', help: 'push through this coap:// forward proxy' },
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
    proxy: values.proxy,
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
    if (values.edhoc && !values.oscore) throw new UsageError('--edhoc goes with --oscore');
    if (values['edhoc-combined'] && !values.edhoc) throw new UsageError('--edhoc-combined goes with --oscore --edhoc');
    if (values.oscore && values.edhoc) {
      const ctx = await edhocOscoreContext(values);
      if (typeof ctx === 'number') return ctx;
      parsed.options.oscore = ctx;
    } else if (values.oscore) parsed.options.oscore = await deviceOscoreContext(values);
    let agent: DeviceAgent;
    try {
      agent = new DeviceAgent(parsed.options);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (values.oscore && values.edhoc) rekeyOn401(agent, parsed.options, values);
    return runAgent(agent, parsed.durationMs);
  },
);

/**
 * `--oscore`: the device side of the context `device add --oscore` provisions from the PSK. Its
 * sender sequence bound is kept beside the --state file, so a restart never reuses a nonce.
 */
async function deviceOscoreContext(values: Values<typeof OPTIONS>): Promise<OscoreContext> {
  if (!values.push) throw new UsageError('--oscore goes with --push');
  if (!values.state) throw new UsageError('--oscore needs --state FILE (the sender sequence is kept beside it)');
  const psk = values.psk?.[0];
  if (!psk) throw new UsageError('--oscore needs --psk ID:HEX (the OSCORE context is derived from it)');
  const i = psk.lastIndexOf(':');
  const key = psk.slice(i + 1);
  if (i < 1 || !/^([0-9a-fA-F]{2})+$/.test(key)) throw new UsageError('--psk wants ID:HEX');
  try {
    return await OscoreContext.create(pskOscoreParams(psk.slice(0, i), Buffer.from(key, 'hex'), 'device'), {
      sequenceStore: new FileSequenceStore(`${values.state}.oscore-seq`),
    });
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(`--oscore: ${err.message}`);
    throw err;
  }
}

/**
 * `--oscore --edhoc`: runs EDHOC with the platform (through --proxy too) and keys OSCORE with it.
 * Our credential is --rpk-key (sent by value) or --cert/--key (the chain by value, or its hash with
 * --edhoc-x5t for a pinned certificate); the platform's key is pinned with --trust-rpk. The context
 * lives as long as the process; a restarted device runs EDHOC again, so nothing is persisted. Exit
 * 1 when the exchange fails (the platform does not know the credential, or we do not trust it).
 */
async function edhocOscoreContext(values: Values<typeof OPTIONS>): Promise<OscoreContext | number> {
  const push = values.push;
  if (!push?.toLowerCase().startsWith('coap:')) throw new UsageError('--oscore --edhoc goes with --push coap://…');
  if ((values['trust-rpk'] ?? []).length === 0 && (values.ca ?? []).length === 0)
    throw new UsageError('--oscore --edhoc needs --trust-rpk FILE (the platform raw public key, PEM)');
  const edhoc = edhocInitiatorFromFlags({ ...values, psk: undefined });
  try {
    const ctx = await edhocClientContext({ uri: push, edhoc, proxy: values.proxy, combined: values['edhoc-combined'] });
    process.stdout.write(`${JSON.stringify({ event: 'edhoc', senderId: ctx.params.senderId.toString('hex') })}\n`);
    return ctx;
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(`--oscore --edhoc: ${err.message}`);
    const what = err instanceof EdhocError || err instanceof EdhocPeerError ? 'EDHOC refused' : 'EDHOC failed';
    process.stderr.write(`securesense device run: ${what}: ${(err as Error).message}\n`);
    return 1;
  }
}

/**
 * The platform keeps EDHOC-made contexts in memory: after its restart (or when this key ran EDHOC
 * again elsewhere) our pushes get 4.01 "Security context not found". Then EDHOC runs again, once
 * at a time, and later pushes use the new context (the agent reads `options.oscore` per push; the
 * sample that met the 4.01 is dropped, as the agent drops every 4.xx).
 */
function rekeyOn401(agent: DeviceAgent, options: DeviceAgentOptions, values: Values<typeof OPTIONS>): void {
  let running = false;
  agent.on('event', (e: AgentEvent) => {
    if (running || e.event !== 'error' || e.where !== 'push' || !e.message.includes(' 4.01')) return;
    running = true;
    edhocOscoreContext(values)
      .then((ctx) => {
        if (typeof ctx !== 'number') options.oscore = ctx;
      })
      .catch((err: unknown) =>
        process.stderr.write(`securesense device run: EDHOC failed: ${(err as Error).message}\n`),
      )
      .finally(() => {
        running = false;
      });
  });
}

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

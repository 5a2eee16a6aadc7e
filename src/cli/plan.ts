import type { SecurityMode } from '../dtls/credentials/identity.ts';
import { plan } from '../eval/plan.ts';
import { formatTable } from '../eval/table.ts';
import type { RdcName } from '../sim/mac.ts';
import { getProfile, PROFILES, type SleepMode } from '../sim/profiles/index.ts';
import { EngineUnavailableError, transcriptFor } from '../sim/transcript.ts';
import { command, type OptionTable, UsageError } from './args.ts';

/**
 * `securesense plan --mode psk|rpk|x509 --role client|server --hops N --payload B --interval S
 *  --rdc nullrdc|contikimac --profile cc2538-hw|cc2538-sw --battery-mah MAH [--rehandshake-hours H]
 *  [--loss P] [--phase-lock] [--sleep pm1|pm2|pm3] [--rehandshake full|resume] [--json]` — handshake time and energy, energy per report and battery life for one
 * device of a deployment, from a real transcript of our engine replayed on the device model.
 */
const OPTIONS = {
  mode: { type: 'string', arg: 'MODE', help: 'psk, rpk or x509 (default psk)' },
  role: { type: 'string', arg: 'ROLE', help: 'the device is the DTLS client or server (default client)' },
  hops: { type: 'string', arg: 'N', help: 'radio hops to the border router, 1..32 (default 1)' },
  payload: { type: 'string', arg: 'BYTES', help: 'bytes per report, 0..1024 (default 64)' },
  interval: { type: 'string', arg: 'SECONDS', help: 'seconds between reports (default 60)' },
  rdc: { type: 'string', arg: 'RDC', help: 'radio duty cycling: nullrdc or contikimac (default contikimac)' },
  profile: {
    type: 'string',
    arg: 'NAME',
    help: `device profile: ${Object.keys(PROFILES).join(', ')} (default cc2538-hw)`,
  },
  'battery-mah': { type: 'string', arg: 'MAH', help: 'battery capacity (default 2400)' },
  'rehandshake-hours': { type: 'string', arg: 'H', help: 'hours between full handshakes (default 24; 0 = never)' },
  loss: { type: 'string', arg: 'P', help: 'frame loss rate, 0 <= P < 1 (default 0)' },
  'phase-lock': { type: 'boolean', help: 'ContikiMAC phase lock (with --rdc contikimac)' },
  sleep: { type: 'string', arg: 'PM', help: 'low-power mode between reports: pm1, pm2 or pm3 (default pm1)' },
  rehandshake: { type: 'string', arg: 'KIND', help: 'what renews the session: full or resume (default full)' },
  json: { type: 'boolean', help: 'print the result as JSON' },
} as const satisfies OptionTable;

function num(name: string, v: string | undefined, dflt: number, check: (n: number) => boolean): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`bad value for ${name}: ${v}`);
  return n;
}

function oneOf<T extends string>(name: string, v: string | undefined, dflt: T, allowed: readonly T[]): T {
  if (v === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new UsageError(`bad value for ${name}: ${v} (one of ${allowed.join(', ')})`);
  }
  return v as T;
}

export const run = command(
  {
    name: 'plan',
    usage: '[options]',
    about:
      'Handshake time and energy, energy per report and battery life for one device of a deployment, from a\n' +
      'real transcript of our engine replayed on the device model.',
    options: OPTIONS,
  },
  async ({ values: v }) => {
    const mode: SecurityMode = oneOf('--mode', v.mode, 'psk', ['psk', 'rpk', 'x509'] as const);
    const role = oneOf('--role', v.role, 'client', ['client', 'server'] as const);
    const hops = num('--hops', v.hops, 1, (n) => Number.isInteger(n) && n >= 1 && n <= 32);
    const payloadBytes = num('--payload', v.payload, 64, (n) => Number.isInteger(n) && n >= 0 && n <= 1024);
    const intervalSeconds = num('--interval', v.interval, 60, (n) => n > 0);
    const rdc: RdcName = oneOf('--rdc', v.rdc, 'contikimac', ['nullrdc', 'contikimac'] as const);
    const profileName = oneOf('--profile', v.profile, 'cc2538-hw', Object.keys(PROFILES));
    const batteryMah = num('--battery-mah', v['battery-mah'], 2400, (n) => n > 0);
    const rehandshakeHours = num('--rehandshake-hours', v['rehandshake-hours'], 24, (n) => n >= 0);
    const lossRate = num('--loss', v.loss, 0, (n) => n >= 0 && n < 1);
    const sleepMode: SleepMode = oneOf('--sleep', v.sleep, 'pm1', ['pm1', 'pm2', 'pm3'] as const);
    const rehandshakeKind = oneOf('--rehandshake', v.rehandshake, 'full', ['full', 'resume'] as const);
    const json = v.json ?? false;
    const phaseLock = v['phase-lock'] ?? false;
    if (phaseLock && rdc !== 'contikimac') throw new UsageError('--phase-lock applies to --rdc contikimac only');
    const transcript = await transcriptFor(mode).catch((err: unknown) =>
      err instanceof EngineUnavailableError ? err : new EngineUnavailableError(mode, (err as Error).message),
    );
    const resumeTranscript =
      rehandshakeKind === 'resume'
        ? await transcriptFor(mode, { resume: true }).catch((err: unknown) =>
            err instanceof EngineUnavailableError ? err : new EngineUnavailableError(mode, (err as Error).message),
          )
        : undefined;
    const r = plan(
      {
        mode,
        role,
        hops,
        payloadBytes,
        intervalSeconds,
        rdc,
        phaseLock,
        profile: getProfile(profileName),
        batteryMah,
        rehandshakeHours,
        lossRate,
        sleepMode,
        rehandshakeKind,
      },
      transcript,
      resumeTranscript,
    );
    if (json) {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      return 0;
    }
    const hs = r.handshake;
    const rows: (string | number)[][] = [
      [
        'deployment',
        `${mode}, device as ${role}, ${hops} hop(s), ${rdc}${phaseLock ? ' (phase-lock)' : ''}, ${profileName}`,
      ],
      'notMeasured' in hs
        ? ['handshake', hs.notMeasured]
        : ['handshake time', `${(hs.seconds * 1000).toFixed(1)} ms (${hs.bytes} bytes of records)`],
      ...('notMeasured' in hs ? [] : [['handshake energy', `${hs.energyMj.toFixed(3)} mJ`]]),
      ['report', `${payloadBytes} B every ${intervalSeconds} s: ${r.report.framesUp} frame(s) per hop up`],
      ['energy per report', `${r.report.energyMj.toFixed(3)} mJ (${(r.report.seconds * 1000).toFixed(1)} ms)`],
      ...(r.resumption
        ? [
            'notMeasured' in r.resumption
              ? ['resumption', r.resumption.notMeasured]
              : [
                  'resumption',
                  `${(r.resumption.seconds * 1000).toFixed(1)} ms, ${r.resumption.energyMj.toFixed(3)} mJ (${r.resumption.bytes} bytes), every ${rehandshakeHours} h`,
                ],
          ]
        : []),
      ['idle power', `${r.idlePowerMw.toFixed(3)} mW (${sleepMode.toUpperCase()} + ${rdc} listening)`],
      ['average power', `${r.averagePowerMw.toFixed(3)} mW`],
      ['battery life', `${r.batteryDays.toFixed(1)} days on ${batteryMah} mAh`],
    ];
    process.stdout.write(`${formatTable({ columns: ['quantity', 'value'], rows })}\n`);
    for (const c of r.caveats) process.stdout.write(`  note: ${c}\n`);
    return 0;
  },
);

import type { SecurityMode } from '../dtls/credentials/identity.ts';
import { plan } from '../eval/plan.ts';
import { formatTable } from '../eval/table.ts';
import type { RdcName } from '../sim/mac.ts';
import { getProfile, PROFILES, type SleepMode } from '../sim/profiles/index.ts';
import { EngineUnavailableError, transcriptFor } from '../sim/transcript.ts';

/**
 * `securesense plan --mode psk|rpk|x509 --role client|server --hops N --payload B --interval S
 *  --rdc nullrdc|contikimac --profile cc2538-hw|cc2538-sw --battery-mah MAH [--rehandshake-hours H]
 *  [--loss P] [--phase-lock] [--sleep pm1|pm2|pm3] [--rehandshake full|resume] [--json]` — handshake time and energy, energy per report and battery life for one
 * device of a deployment, from a real transcript of our engine replayed on the device model.
 */
export const summary = 'handshake time, energy and battery life for a deployment';

const USAGE = `usage: securesense plan [--mode psk|rpk|x509] [--role client|server] [--hops N] [--payload BYTES]
                       [--interval SECONDS] [--rdc nullrdc|contikimac] [--profile ${Object.keys(PROFILES).join('|')}]
                       [--battery-mah MAH] [--rehandshake-hours H] [--rehandshake full|resume] [--loss P]
                       [--phase-lock] [--sleep pm1|pm2|pm3] [--json]
defaults: --mode psk --role client --hops 1 --payload 64 --interval 60 --rdc contikimac --profile cc2538-hw
          --battery-mah 2400 --rehandshake-hours 24 --rehandshake full --loss 0 --sleep pm1
`;

class UsageError extends Error {}

function num(name: string, v: string | undefined, check: (n: number) => boolean): number {
  const n = Number(v);
  if (v === undefined || v === '' || !Number.isFinite(n) || !check(n))
    throw new UsageError(`bad value for ${name}: ${v ?? '(missing)'}`);
  return n;
}

function oneOf<T extends string>(name: string, v: string | undefined, allowed: readonly T[]): T {
  if (!v || !(allowed as readonly string[]).includes(v)) {
    throw new UsageError(`bad value for ${name}: ${v ?? '(missing)'} (one of ${allowed.join(', ')})`);
  }
  return v as T;
}

export async function run(args: string[]): Promise<number> {
  let mode: SecurityMode = 'psk';
  let role: 'client' | 'server' = 'client';
  let hops = 1;
  let payloadBytes = 64;
  let intervalSeconds = 60;
  let rdc: RdcName = 'contikimac';
  let profileName = 'cc2538-hw';
  let batteryMah = 2400;
  let rehandshakeHours = 24;
  let sleepMode: SleepMode = 'pm1';
  let rehandshakeKind: 'full' | 'resume' = 'full';
  let lossRate = 0;
  let json = false;
  let phaseLock = false;
  try {
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      const v = args[i + 1];
      switch (a) {
        case '--mode':
          mode = oneOf(a, v, ['psk', 'rpk', 'x509'] as const);
          i++;
          break;
        case '--role':
          role = oneOf(a, v, ['client', 'server'] as const);
          i++;
          break;
        case '--hops':
          hops = num(a, v, (n) => Number.isInteger(n) && n >= 1 && n <= 32);
          i++;
          break;
        case '--payload':
          payloadBytes = num(a, v, (n) => Number.isInteger(n) && n >= 0 && n <= 1024);
          i++;
          break;
        case '--interval':
          intervalSeconds = num(a, v, (n) => n > 0);
          i++;
          break;
        case '--rdc':
          rdc = oneOf(a, v, ['nullrdc', 'contikimac'] as const);
          i++;
          break;
        case '--profile':
          profileName = oneOf(a, v, Object.keys(PROFILES));
          i++;
          break;
        case '--battery-mah':
          batteryMah = num(a, v, (n) => n > 0);
          i++;
          break;
        case '--rehandshake-hours':
          rehandshakeHours = num(a, v, (n) => n >= 0);
          i++;
          break;
        case '--sleep':
          sleepMode = oneOf(a, v, ['pm1', 'pm2', 'pm3'] as const);
          i++;
          break;
        case '--rehandshake':
          rehandshakeKind = oneOf(a, v, ['full', 'resume'] as const);
          i++;
          break;
        case '--loss':
          lossRate = num(a, v, (n) => n >= 0 && n < 1);
          i++;
          break;
        case '--json':
          json = true;
          break;
        case '--phase-lock':
          phaseLock = true;
          break;
        case '-h':
        case '--help':
          process.stdout.write(USAGE);
          return 0;
        default:
          throw new UsageError(`unknown option ${a}`);
      }
    }
    if (phaseLock && rdc !== 'contikimac') throw new UsageError('--phase-lock applies to --rdc contikimac only');
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`securesense plan: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }

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
    ['report', `${payloadBytes} B every ${intervalSeconds} s: ${r.report.framesUp} frame(s) per hop up`],
    ['energy per report', `${r.report.energyMj.toFixed(3)} mJ (${(r.report.seconds * 1000).toFixed(1)} ms)`],
    ['idle power', `${r.idlePowerMw.toFixed(3)} mW (${sleepMode.toUpperCase()} + ${rdc} listening)`],
    ['average power', `${r.averagePowerMw.toFixed(3)} mW`],
    ['battery life', `${r.batteryDays.toFixed(1)} days on ${batteryMah} mAh`],
  ];
  process.stdout.write(`${formatTable({ columns: ['quantity', 'value'], rows })}\n`);
  for (const c of r.caveats) process.stdout.write(`  note: ${c}\n`);
  return 0;
}

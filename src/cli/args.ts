/**
 * Command-line parsing shared by every `securesense` command: one option table per command gives
 * `node:util` parseArgs its options and the `--help` text its lines, so that help lists every
 * option the command takes and every command answers usage errors the same way (exit 2).
 *
 *   const OPTIONS = {
 *     port: { type: 'string', arg: 'N', help: 'UDP port (0 = any free port)' },
 *     ...SECURITY_OPTIONS,
 *   } as const satisfies OptionTable;
 *   export const run = command(
 *     { name: 'dtls server', usage: '--port N [options]', options: OPTIONS },
 *     async ({ values }) => { …; return 0; },
 *   );
 *
 * Exit codes: 0 done (and `--help`), 1 the work failed, 2 bad usage (`UsageError`).
 */
import { parseArgs } from 'node:util';

/** One option: its parseArgs spec plus what `--help` says of it. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** The value's placeholder in the help (FILE, N, ID:HEX); string options only. */
  arg?: string;
  help: string;
  /** The heading the option is listed under in the help (default: "options"). */
  group?: string;
}

export type OptionTable = Record<string, OptionSpec>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean'
  ? S extends { multiple: true }
    ? boolean[]
    : boolean
  : S extends { multiple: true }
    ? string[]
    : string;

/** What parseArgs gives for a table: each option's value, undefined when absent. */
export type Values<T extends OptionTable> = { [K in keyof T]?: ValueOf<T[K]> };

/** Bad usage: an unknown or repeated option, a missing argument, a value out of range. Exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Every command's `-h, --help`. */
export const HELP_OPTION = { help: { type: 'boolean', short: 'h', help: 'show this help' } } as const;

export interface CommandSpec<T extends OptionTable> {
  /** The words after `securesense`: 'dtls server'. */
  name: string;
  /** What follows the name on the usage line(s): '--port N [options]'. */
  usage: string | readonly string[];
  /** A paragraph after the usage lines. */
  about?: string;
  options: T;
  /** How many positional arguments the command takes (default none). */
  positionals?: { min: number; max: number };
  /** Text after the options (environment, examples). */
  notes?: string;
}

export interface Parsed<T extends OptionTable> {
  values: Values<T>;
  positionals: string[];
}

/** The `--help` text of a command: usage, about, then the options by group. */
export function helpText<T extends OptionTable>(spec: CommandSpec<T>): string {
  const usages = typeof spec.usage === 'string' ? [spec.usage] : spec.usage;
  const lead = 'usage: ';
  const out = usages.map((u, i) =>
    `${i === 0 ? lead : ' '.repeat(lead.length)}securesense ${spec.name} ${u}`.trimEnd(),
  );
  if (spec.about) out.push('', spec.about.trimEnd());
  const groups = new Map<string, string[]>();
  const all: Array<[string, OptionSpec]> = [...Object.entries(spec.options), ...Object.entries(HELP_OPTION)];
  for (const [name, o] of all) {
    const flag = `${o.short ? `-${o.short}, ` : ''}${name.length === 1 ? '-' : '--'}${name}${o.arg ? ` ${o.arg}` : ''}`;
    const help = o.multiple ? `${o.help} (repeatable)` : o.help;
    const line = flag.length < 24 ? `  ${flag.padEnd(24)}${help}` : `  ${flag}\n  ${' '.repeat(24)}${help}`;
    const group = o.group ?? 'options';
    groups.set(group, [...(groups.get(group) ?? []), line]);
  }
  for (const [group, lines] of groups) out.push('', `${group}:`, ...lines);
  if (spec.notes) out.push('', spec.notes.trimEnd());
  return `${out.join('\n')}\n`;
}

/**
 * Parses `args` against the table. Throws a UsageError for an unknown option, a missing value, a
 * single-valued option given twice (parseArgs would silently keep the last) or the wrong number of
 * positionals. Returns 'help' when `-h`/`--help` was given.
 */
export function parse<T extends OptionTable>(spec: CommandSpec<T>, args: string[]): Parsed<T> | 'help' {
  const options = { ...spec.options, ...HELP_OPTION };
  let r: ReturnType<typeof parseArgs>;
  try {
    r = parseArgs({ args, options, allowPositionals: true, strict: true, tokens: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (r.values.help) return 'help';
  const seen = new Set<string>();
  for (const tok of r.tokens ?? []) {
    if (tok.kind !== 'option' || options[tok.name]?.multiple) continue;
    if (seen.has(tok.name)) throw new UsageError(`${tok.rawName} given twice`);
    seen.add(tok.name);
  }
  const { min, max } = spec.positionals ?? { min: 0, max: 0 };
  const n = r.positionals.length;
  if (n > max) throw new UsageError(`unexpected argument '${r.positionals[max]}'`);
  if (n < min) throw new UsageError(`missing argument: ${spec.name} ${usageLine(spec)}`);
  return { values: r.values as Values<T>, positionals: r.positionals };
}

function usageLine<T extends OptionTable>(spec: CommandSpec<T>): string {
  return typeof spec.usage === 'string' ? spec.usage : spec.usage[0];
}

/** Writes a usage error the way every command does: the message, then where the help is. */
export function reportUsageError(name: string, err: UsageError): number {
  process.stderr.write(`securesense ${name}: ${err.message}\n(see 'securesense ${name} --help')\n`);
  return 2;
}

/**
 * A command's `run(args)`: parses the options (help → stdout, exit 0; usage error → stderr, exit 2),
 * then calls `body`, whose UsageErrors also exit 2 and whose other errors go up to the dispatcher.
 */
export function command<T extends OptionTable>(
  spec: CommandSpec<T>,
  body: (p: Parsed<T>) => Promise<number>,
): (args: string[]) => Promise<number> {
  return async (args) => {
    try {
      const p = parse(spec, args);
      if (p === 'help') {
        process.stdout.write(helpText(spec));
        return 0;
      }
      return await body(p);
    } catch (err) {
      if (err instanceof UsageError) return reportUsageError(spec.name, err);
      throw err;
    }
  };
}

/** A sub-command of a command with several (`dtls server|client`): its help line and its run. */
export interface SubCommand {
  summary: string;
  run(args: string[]): Promise<number>;
}

/** The help of a command made of sub-commands: one line each. */
export function subCommandsHelp(name: string, subs: Record<string, SubCommand>, about?: string): string {
  const width = Math.max(8, ...Object.keys(subs).map((s) => s.length + 2));
  const lines = Object.entries(subs).map(([s, c]) => `  ${s.padEnd(width)}${c.summary}`);
  return `usage: securesense ${name} <command> [options]\n${about ? `\n${about.trimEnd()}\n` : ''}\ncommands:\n${lines.join('\n')}\n\n'securesense ${name} <command> --help' lists the options of each.\n`;
}

/**
 * Runs the sub-command named by `args[0]`. No name: the list on stderr, exit 2; `help`, `-h`,
 * `--help`: the list on stdout, exit 0; an unknown name: exit 2.
 */
export async function dispatch(
  name: string,
  subs: Record<string, SubCommand>,
  args: string[],
  about?: string,
): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(subCommandsHelp(name, subs, about));
    return 0;
  }
  const cmd = sub !== undefined && Object.hasOwn(subs, sub) ? subs[sub] : undefined;
  if (!cmd) {
    const what = sub === undefined ? 'a command is required' : `unknown command '${sub}'`;
    process.stderr.write(`securesense ${name}: ${what}\n${subCommandsHelp(name, subs, about)}`);
    return 2;
  }
  return cmd.run(rest);
}

/** An integer option in min..max, or undefined when absent. */
export function intOption(v: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${flag} must be an integer in ${min}..${max}, got '${v}'`);
  return n;
}

/** A number option in min..max (seconds, rates), or undefined when absent. */
export function numberOption(v: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`${flag} must be a number in ${min}..${max}, got '${v}'`);
  return n;
}

/** The units a duration option takes, to milliseconds; a plain number is in seconds. */
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };

/**
 * A duration option (`--timeout`) in milliseconds, or undefined when absent: `30s`, `500ms`,
 * `2m`, or a plain number of seconds (`30`, `0.5`), between minMs and maxMs. Every client
 * command reads its `--timeout` with this, so all take the same unit.
 */
export function durationOption(v: string | undefined, flag: string, minMs: number, maxMs: number): number | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m)?\s*$/.exec(v);
  const ms = m ? Number(m[1]) * DURATION_UNITS[m[2] ?? 's'] : Number.NaN;
  if (!(ms >= minMs && ms <= maxMs))
    throw new UsageError(
      `${flag} must be a duration from ${minMs} ms to ${maxMs / 1000} s (\`30s\`, \`500ms\`, \`2m\`; a plain number is seconds), got '${v}'`,
    );
  return Math.round(ms);
}

/** A required option's value. */
export function required<V>(v: V | undefined, flag: string): V {
  if (v === undefined || v === '') throw new UsageError(`${flag} is required`);
  return v;
}

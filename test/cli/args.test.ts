/** The shared option tables of the command line: parsing, refusals, help text. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  durationOption,
  helpText,
  intOption,
  numberOption,
  type OptionTable,
  parse,
  required,
  UsageError,
} from '../../src/cli/args.ts';

const OPTIONS = {
  port: { type: 'string', arg: 'N', help: 'UDP port' },
  psk: { type: 'string', multiple: true, arg: 'ID:HEX', help: 'a key', group: 'security' },
  v: { type: 'boolean', help: 'verbose' },
  'a-very-long-option-name': { type: 'string', arg: 'VALUE', help: 'wraps to its own line' },
} as const satisfies OptionTable;
const SPEC = { name: 'demo run', usage: 'HOST [options]', options: OPTIONS, positionals: { min: 1, max: 1 } };

test('values and positionals come back typed; repeatable options collect', () => {
  const p = parse(SPEC, ['h1', '--port', '5684', '--psk', 'a:01', '--psk', 'b:02', '-v']);
  assert.notEqual(p, 'help');
  if (p === 'help') return;
  assert.deepEqual(p.positionals, ['h1']);
  assert.equal(p.values.port, '5684');
  assert.deepEqual(p.values.psk, ['a:01', 'b:02']);
  assert.equal(p.values.v, true);
});

test('-h and --help anywhere ask for the help, even beside a bad value', () => {
  assert.equal(parse(SPEC, ['--help']), 'help');
  assert.equal(parse(SPEC, ['h1', '--port', 'x', '-h']), 'help');
});

test('unknown, repeated single-valued, missing values and wrong positional counts are usage errors', () => {
  for (const [args, msg] of [
    [['h1', '--bogus'], /Unknown option '--bogus'/],
    [['h1', '--port', '1', '--port', '2'], /--port given twice/],
    [['h1', '--port'], /argument missing/],
    [[], /missing argument: demo run HOST \[options\]/],
    [['h1', 'h2'], /unexpected argument 'h2'/],
  ] as const) {
    assert.throws(
      () => parse(SPEC, [...args]),
      (err: unknown) => err instanceof UsageError && msg.test(err.message),
    );
  }
});

test('the help lists every option under its group, with placeholders and -h', () => {
  const h = helpText({ ...SPEC, about: 'Says hello.', notes: 'Environment: DEMO_X.' });
  assert.equal(
    h,
    [
      'usage: securesense demo run HOST [options]',
      '',
      'Says hello.',
      '',
      'options:',
      '  --port N                UDP port',
      '  -v                      verbose',
      '  --a-very-long-option-name VALUE',
      '                          wraps to its own line',
      '  -h, --help              show this help',
      '',
      'security:',
      '  --psk ID:HEX            a key (repeatable)',
      '',
      'Environment: DEMO_X.',
      '',
    ].join('\n'),
  );
});

test('number helpers name the flag and the range; required names the flag', () => {
  assert.equal(intOption(undefined, '--n', 1, 9), undefined);
  assert.equal(intOption('7', '--n', 1, 9), 7);
  assert.throws(() => intOption('1.5', '--n', 1, 9), /--n must be an integer in 1\.\.9, got '1\.5'/);
  assert.throws(() => intOption('', '--n', 0, 9), UsageError);
  assert.equal(numberOption('0.25', '--s', 0, 1), 0.25);
  assert.throws(() => numberOption('2', '--s', 0, 1), /--s must be a number in 0\.\.1/);
  assert.throws(() => required(undefined, '--out'), /--out is required/);
});

test('durations: 30s, 500ms, 2m and plain seconds are one unit; anything else is a usage error naming the flag', () => {
  assert.equal(durationOption(undefined, '--timeout', 1, 60_000), undefined);
  assert.equal(durationOption('30s', '--timeout', 1, 60_000), 30_000);
  assert.equal(durationOption('500ms', '--timeout', 1, 60_000), 500);
  assert.equal(durationOption('2m', '--timeout', 1, 300_000), 120_000);
  assert.equal(durationOption('30', '--timeout', 1, 60_000), 30_000);
  assert.equal(durationOption('0.5', '--timeout', 1, 60_000), 500);
  assert.equal(durationOption(' 1.5s ', '--timeout', 1, 60_000), 1500);
  for (const bad of ['', 'soon', '-1', '10h', '1e3', '0', '61s', '0.0001ms', '5 5']) {
    assert.throws(
      () => durationOption(bad, '--timeout', 1, 60_000),
      (e: unknown) =>
        e instanceof UsageError && /--timeout must be a duration .*plain number is seconds/.test(e.message),
      bad,
    );
  }
});

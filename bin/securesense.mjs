#!/usr/bin/env node
// The `securesense` command. TypeScript sources run directly through tsx (see DESIGN.md:
// "Run TypeScript directly with tsx"), so a checkout works after `npm install` with no build step.
import { register } from 'tsx/esm/api';

// A reader that goes away (`securesense … | head`) is a normal end, not a crash.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

register();
const { main } = await import('../src/cli/index.ts');
const code = await main(process.argv.slice(2));
if (typeof code === 'number') process.exitCode = code;

/**
 * The JavaScript paths behind the native modules: where they are not built (no C compiler, another
 * OS) the record layer uses node:crypto and its kept CCM contexts, ECDHE createECDH, and the servers
 * node:dgram. Those paths are tested here, in a child test run with all of them turned off.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

const ROOT = new URL('../../../', import.meta.url).pathname;

test('with SECURESENSE_CCM=js, SECURESENSE_PRF=js, SECURESENSE_P256=js and SECURESENSE_UDP=dgram the record layer, the PRF, ECDH and a DTLS server pass their tests', async () => {
  const files = [
    'test/dtls/crypto/ccm.test.ts',
    'test/dtls/crypto/ccm-context.test.ts',
    'test/dtls/crypto/ecc.test.ts',
    'test/dtls/limit-flags.test.ts',
  ];
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=dot', ...files], {
    cwd: ROOT,
    env: {
      ...process.env,
      SECURESENSE_CCM: 'js',
      SECURESENSE_PRF: 'js',
      SECURESENSE_P256: 'js',
      SECURESENSE_UDP: 'dgram',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 0, out);
});

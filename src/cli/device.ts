/**
 * `securesense device …`: `run` is the device agent (src/device/cli.ts); `add|list|remove` manage a
 * resource's device credentials on the platform (src/platform/devices-cli.ts).
 */
export const summary = 'the device agent and device credentials';

const SUB: Record<string, string> = {
  run: '../device/cli.ts',
  add: '../platform/devices-cli.ts',
  list: '../platform/devices-cli.ts',
  remove: '../platform/devices-cli.ts',
};

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const path = sub ? SUB[sub] : undefined;
  if (!sub || !path) {
    process.stderr.write(
      'usage: securesense device run --push coaps://HOST/PATH | --serve PORT [options]\n' +
        '       securesense device add|list|remove [options]   (device credentials of a resource)\n',
    );
    return 2;
  }
  const mod = (await import(path)) as { run(sub: string, args: string[]): Promise<number> };
  return mod.run(sub, rest);
}

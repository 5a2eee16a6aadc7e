/**
 * `securesense device …`: `run` is the device agent (src/cli/device-run.ts); `add|list|remove` manage a
 * resource's device credentials on the platform (src/cli/device-credentials.ts).
 */
import { dispatch, type SubCommand } from './args.ts';

const credentials = (sub: string) => async (args: string[]) => (await import('./device-credentials.ts')).run(sub, args);

const SUBS: Record<string, SubCommand> = {
  run: {
    summary: 'the device agent: push readings to the cloud, or serve them over CoAP/CoAPs',
    run: async (args) => (await import('./device-run.ts')).run(args),
  },
  add: { summary: 'add a device credential (PSK, raw public key, X.509) to a resource', run: credentials('add') },
  list: { summary: "list a resource's device credentials", run: credentials('list') },
  remove: { summary: 'remove a device credential', run: credentials('remove') },
};

export async function run(args: string[]): Promise<number> {
  return dispatch('device', SUBS, args);
}

/**
 * `npm start`: the main job on the embedded default. For now this is the platform's HTTP API on
 * SQLite under ./data (`securesense serve` with its defaults); the demo fleet of devices over
 * coaps:// joins it with issue 6.
 */
export const summary = 'the main job: the platform on the embedded database';

export async function run(args: string[]): Promise<number> {
  const serve = await import('./serve.ts');
  return serve.run(args);
}

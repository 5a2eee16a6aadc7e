/**
 * `--oscore FILE`: an OSCORE security context (RFC 8613) from a JSON file with hex fields
 * `masterSecret`, `senderId`, `recipientId` and optional `masterSalt`, `idContext` — what
 * `device add --oscore` prints. The sender sequence bound is persisted beside it in `FILE.seq`, so a
 * later run never reuses a nonce.
 */
import { readFileSync } from 'node:fs';
import { contextParamsFromJson, OscoreContext, type OscoreContextOptions } from '../oscore/context.ts';
import { FileSequenceStore } from '../oscore/sequence.ts';
import { UsageError } from './args.ts';

/** Reads and derives the context of `--oscore FILE`; a bad file is a usage error naming the field. */
export async function loadOscoreContext(path: string, opts: OscoreContextOptions = {}): Promise<OscoreContext> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new UsageError(`--oscore ${path}: ${(err as Error).message}`);
  }
  try {
    return await OscoreContext.create(contextParamsFromJson(json), {
      sequenceStore: new FileSequenceStore(`${path}.seq`),
      ...opts,
    });
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(`--oscore ${path}: ${err.message}`);
    throw err;
  }
}

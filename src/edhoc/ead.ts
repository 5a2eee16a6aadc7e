/**
 * External authorization data (RFC 9528 §3.8): EDHOC carries EAD items for the application and
 * interprets none of them. A negative label marks an item critical: a receiver that does not
 * handle that item must abort, so items whose label the application has not declared are refused.
 * Padding (label 0) is dropped.
 */
import { EdhocError } from './errors.ts';
import type { EadItem } from './messages.ts';

/** The received items the application is given; throws on a critical item it does not handle. */
export function acceptEad(items: readonly EadItem[], known: readonly number[] | undefined, what: string): EadItem[] {
  const out: EadItem[] = [];
  for (const it of items) {
    if (it.label === 0) continue;
    if (it.label < 0 && !(known ?? []).includes(-it.label)) {
      throw new EdhocError(`critical EAD item ${-it.label} in ${what} is not supported`);
    }
    out.push(it);
  }
  return out;
}

/** How a sample is rendered for a push and for `/sensors`: timed JSON or SenML (RFC 8428). */
import { ContentFormat } from '../coap/index.ts';
import type { Sample } from './queue.ts';
import { toSenml, toTimedJson } from './sensors.ts';

/** How readings are rendered for a push and for `/sensors`. */
export type PayloadFormat = 'json' | 'senml';

/** A sample as `application/senml+json` or `application/json`, with its Content-Format. */
export function renderSample(
  format: PayloadFormat,
  baseName: string | undefined,
  s: Sample,
): { body: Buffer; contentFormat: number } {
  if (format === 'senml') {
    const pack = toSenml(baseName ?? '', s.readings, s.time) as Array<Record<string, unknown>>;
    // RFC 8428 §4.5.1: no base name field when there is no base name.
    if (!baseName && pack[0]) delete pack[0].bn;
    return { body: Buffer.from(JSON.stringify(pack)), contentFormat: ContentFormat['application/senml+json'] };
  }
  return {
    body: Buffer.from(JSON.stringify(toTimedJson(s.readings, s.time))),
    contentFormat: ContentFormat['application/json'],
  };
}

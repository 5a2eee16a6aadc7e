/**
 * The wire views of the model, shared by the HTTP API and the CoAP API: SicsthSense's snake_case
 * field names, secrets never included except the one-time `key`/`token` fields. Each view's schema,
 * type and mapping live with its entity in `schema/`; this module gathers them.
 */
import type { DataPoint } from './model.ts';

export { type DeviceCredentialView, deviceCredentialView, type PollLogView, pollLogView } from './schema/devices.ts';
export type { PlatformInfo } from './schema/info.ts';
export { type ParserView, parserView } from './schema/parsers.ts';
export { type ResourceView, resourceView } from './schema/resources.ts';
export { type StreamView, streamView } from './schema/streams.ts';
export { type ApiTokenView, apiTokenView, type UserView, userView } from './schema/users.ts';

/** RFC 4180 CSV of points: a `time,value` header, CRLF line ends, text values quoted. */
export function pointsCsv(points: DataPoint[]): string {
  const lines = ['time,value'];
  for (const p of points) {
    const v = typeof p.value === 'number' ? String(p.value) : `"${p.value.replace(/"/g, '""')}"`;
    lines.push(`${p.time},${v}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}
